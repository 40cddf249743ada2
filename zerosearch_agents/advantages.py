"""Advantage estimators: GRPO group normalisation, REINFORCE baselines, GAE, whitening.

Per-sequence estimators (GRPO, REINFORCE) take one scalar reward per episode, ``(B,)``,
and :func:`tokens_from_sequence` spreads the result over the episode's policy tokens.
GAE works on ``(B, T)`` token-level rewards and values over the full token sequence
(prompt, policy turns, observation tokens); ``mask`` is the loss mask, 1 for tokens the
policy sampled. The environment, not the policy, produced the observation tokens, so
GAE treats them as part of the transition: the state after a policy token is the next
policy token, wherever it is in the row.

Advantages are targets, not functions of the parameters: every function here returns
detached tensors.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from zerosearch_env.errors import ConfigError

from .losses import _bool_mask, _check_shapes, masked_mean, masked_sum

#: The baselines of :func:`reinforce_advantages`.
REINFORCE_BASELINES = ("none", "batch_mean", "group_mean")
Baseline = Literal["none", "batch_mean", "group_mean"]


def _float_rewards(rewards: Tensor) -> Tensor:
    if rewards.dim() != 1:
        raise ConfigError(f"rewards expects a (B,) tensor with one reward per episode, got shape {tuple(rewards.shape)}")
    rewards = rewards.detach()
    return rewards if rewards.is_floating_point() else rewards.to(torch.get_default_dtype())


def _group_index(group_ids: Tensor | None, batch_size: int) -> tuple[Tensor, Tensor]:
    """Map arbitrary group ids to ``0..G-1``: ``(index (B,), counts (G,))``."""
    if group_ids is None or group_ids.shape != (batch_size,):
        shape = None if group_ids is None else tuple(group_ids.shape)
        raise ConfigError(f"group_ids expects a ({batch_size},) tensor, one id per reward, got {shape}")
    _, index, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    return index, counts


def group_normalized_advantages(rewards: Tensor, group_ids: Tensor, *, eps: float = 1e-6, scale: bool = True) -> Tensor:
    """GRPO's advantage: each reward minus its group's mean, over the group's std.

    A group is the set of episodes sampled for the same prompt; ``group_ids`` (B,) holds
    any ids, in any order. The std is the unbiased one (``torch.std``'s default).
    ``scale=False`` skips the division (Dr. GRPO): dividing by a small std gives easy or
    hopeless prompts, where almost every answer scores the same, the largest advantages.
    A group whose rewards are all equal, a group of one included, carries no signal
    about which answer is better and gets exactly 0.

    >>> rewards, groups = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5]), torch.tensor([7, 7, 3, 3, 9])
    >>> group_normalized_advantages(rewards, groups, scale=False)
    tensor([ 0.5000, -0.5000,  0.0000,  0.0000,  0.0000])
    >>> group_normalized_advantages(rewards, groups)  # 0.5 / std([1, 0])
    tensor([ 0.7071, -0.7071,  0.0000,  0.0000,  0.0000])
    """
    rewards = _float_rewards(rewards)  # (B,)
    index, counts = _group_index(group_ids, rewards.shape[0])  # (B,), (G,)
    n = counts.to(rewards.dtype)  # (G,)
    sums = torch.zeros_like(n).index_add_(0, index, rewards)  # (G,)
    centered = rewards - (sums / n)[index]  # (B,)
    # Equal rewards can leave a rounding residue in `centered`; zero such groups exactly.
    highest = torch.zeros_like(n).scatter_reduce_(0, index, rewards, reduce="amax", include_self=False)
    lowest = torch.zeros_like(n).scatter_reduce_(0, index, rewards, reduce="amin", include_self=False)
    constant = (highest == lowest)[index]  # (B,)
    centered = torch.where(constant, torch.zeros_like(centered), centered)
    if not scale:
        return centered
    squares = torch.zeros_like(n).index_add_(0, index, centered.square())  # (G,)
    std = (squares / (n - 1).clamp_min(1)).sqrt()  # (G,)
    return centered / (std[index] + eps)  # (B,)


def reinforce_advantages(
    rewards: Tensor,
    *,
    baseline: Baseline = "none",
    group_ids: Tensor | None = None,
) -> Tensor:
    """REINFORCE advantage: the episode reward minus a baseline that does not depend on it.

    * ``"none"``: the raw reward (unbiased, highest variance).
    * ``"batch_mean"``: minus the mean reward of the batch.
    * ``"group_mean"``: minus the mean of the *other* episodes of the same group (RLOO,
      leave-one-out). Leaving the episode out keeps the gradient unbiased; it needs
      ``group_ids`` and at least two episodes per group. ``group_ids`` is ignored by the
      other baselines.

    >>> rewards, groups = torch.tensor([1.0, 0.0, 0.0, 4.0, 2.0]), torch.tensor([0, 0, 0, 1, 1])
    >>> reinforce_advantages(rewards, baseline="group_mean", group_ids=groups)
    tensor([ 1.0000, -0.5000, -0.5000,  2.0000, -2.0000])
    """
    rewards = _float_rewards(rewards)  # (B,)
    if baseline == "none":
        return rewards
    if baseline == "batch_mean":
        return rewards - rewards.mean()
    if baseline != "group_mean":
        raise ConfigError(f"baseline expects one of {REINFORCE_BASELINES}, got {baseline!r}")
    if group_ids is None:
        raise ConfigError("baseline='group_mean' (RLOO) needs group_ids: pass the prompt index of each episode")
    index, counts = _group_index(group_ids, rewards.shape[0])  # (B,), (G,)
    if bool((counts < 2).any()):
        lonely = torch.unique(group_ids)[counts < 2].tolist()
        raise ConfigError(
            f"baseline='group_mean' (RLOO) expects at least 2 episodes per group, got groups {lonely} with 1; "
            "sample more episodes per prompt or use baseline='batch_mean'"
        )
    n = counts.to(rewards.dtype)  # (G,)
    sums = torch.zeros_like(n).index_add_(0, index, rewards)  # (G,)
    leave_one_out = (sums[index] - rewards) / (n[index] - 1)  # (B,)
    return rewards - leave_one_out


def gae(rewards: Tensor, values: Tensor, mask: Tensor, *, gamma: float = 1.0, lam: float = 1.0) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation over the policy tokens of multi-turn episodes.

    Each policy token is one step. Its next state is the next policy token of the same
    row, jumping over observation tokens (the environment's part of the transition);
    after the last policy token the episode ends, with value 0. For policy tokens
    ``t < t'`` adjacent in that sense::

        delta_t = r_t + gamma * V_t' - V_t
        A_t     = delta_t + gamma * lam * A_t'
        R_t     = A_t + V_t

    ``rewards`` (B, T) is token-level, usually the episode reward on the last policy
    token, optionally minus a per-token KL penalty. Rewards and values at masked
    positions are ignored, and ``advantages`` and ``returns`` are 0 there.

    The prompt, two policy tokens, an observation token, a last policy token:

    >>> mask = torch.tensor([[0, 1, 1, 0, 1]])
    >>> rewards = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]])
    >>> values = torch.tensor([[9.0, 0.5, 0.5, 9.0, 0.5]])
    >>> gae(rewards, values, mask)
    (tensor([[0.0000, 0.5000, 0.5000, 0.0000, 0.5000]]), tensor([[0., 1., 1., 0., 1.]]))
    """
    _check_shapes(rewards=rewards, values=values, mask=mask)
    bool_mask = _bool_mask(mask)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    rewards = torch.where(bool_mask, rewards.detach(), zero)  # (B, T)
    values = torch.where(bool_mask, values.detach(), zero)  # (B, T)

    advantages = torch.zeros_like(values)  # (B, T)
    next_value = torch.zeros_like(values[:, 0])  # (B,) value of the next policy token, 0 at the end
    next_advantage = torch.zeros_like(values[:, 0])  # (B,) its advantage
    for t in reversed(range(values.shape[1])):
        is_policy = bool_mask[:, t]  # (B,)
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # (B,)
        advantage = delta + gamma * lam * next_advantage  # (B,)
        # A masked position leaves the carried state untouched: the next policy token's.
        advantages[:, t] = torch.where(is_policy, advantage, zero)
        next_advantage = torch.where(is_policy, advantage, next_advantage)
        next_value = torch.where(is_policy, values[:, t], next_value)
    returns = torch.where(bool_mask, advantages + values, zero)  # (B, T)
    return advantages, returns


def whiten(x: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """Normalise ``x`` to unit variance (and zero mean) over the policy tokens of the batch.

    PPO whitens token advantages so that the step size does not depend on the reward
    scale. The variance is the unbiased one over the masked positions. With
    ``shift_mean=False`` the mean is kept and only the spread is scaled, so the sign of
    a batch-wide advantage survives. Masked positions are 0 in the output.

    >>> whiten(torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1, 1, 0]]))
    tensor([[-0.7071,  0.7071,  0.0000]])
    """
    _check_shapes(x=x, mask=mask)
    bool_mask = _bool_mask(mask)
    x = x.detach()
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    mean = masked_mean(x, bool_mask)
    count = bool_mask.sum().to(x.dtype)
    variance = masked_sum((x - mean).square(), bool_mask) / (count - 1).clamp_min(1)
    whitened = (x - mean) * torch.rsqrt(variance + eps)  # (B, T)
    if not shift_mean:
        whitened = whitened + mean
    return torch.where(bool_mask, whitened, zero)


def tokens_from_sequence(values: Tensor, mask: Tensor) -> Tensor:
    """Give each policy token its episode's scalar: ``(B,), (B, T) -> (B, T)``, 0 elsewhere.

    GRPO and REINFORCE credit every token the policy sampled with the episode's advantage.

    >>> tokens_from_sequence(torch.tensor([2.0, -1.0]), torch.tensor([[0, 1, 1], [1, 0, 1]]))
    tensor([[ 0.,  2.,  2.],
            [-1.,  0., -1.]])
    """
    if values.dim() != 1 or mask.dim() != 2 or mask.shape[0] != values.shape[0]:
        raise ConfigError(f"tokens_from_sequence expects values (B,) and mask (B, T), got {tuple(values.shape)} and {tuple(mask.shape)}")
    values = values.detach()
    expanded = values[:, None].expand(mask.shape)  # (B, T)
    return torch.where(_bool_mask(mask), expanded, torch.zeros((), dtype=values.dtype, device=values.device))
