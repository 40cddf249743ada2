"""One learner update: score a rollout batch, compute advantages, take optimizer steps.

Kept apart from the training loop so that a user with their own loop (or a test with a
bandit) can call it on any batch of ``(input_ids, attention_mask, loss_mask,
token_rewards, rewards, group_ids)`` tensors.

- GRPO: group-normalised episode rewards on every policy token, clipped ratio, KL to
  the frozen reference as a loss term (low-variance estimator by default).
- PPO: per-token values from a value head or a separate critic, GAE over policy tokens
  (observation tokens are skipped, not discounted), whitened advantages, clipped value
  loss.
- REINFORCE: episode reward minus an optional baseline. With one epoch the behaviour
  and current policies coincide, the ratio is 1, and the clipped surrogate's gradient is
  exactly REINFORCE's ``-A * grad log p``.

The KL to the reference is a loss term by default; with ``kl_in_reward`` it is a
per-token penalty on the reward instead (the reference's PPO).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from .advantages import Baseline, gae, group_normalized_advantages, reinforce_advantages, tokens_from_sequence, whiten
from .config import TrainConfig
from .losses import aggregate, clipped_policy_loss, kl_penalty, masked_mean, value_loss
from .policy import forward_logprobs


@dataclass
class Learner:
    """The trainable parts and their optimizer. ``ref_model`` is None when kl_coef is 0;
    with LoRA the reference is the policy with its adapter disabled (``"adapter-off"``)."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    ref_model: nn.Module | str | None = None
    value_head: nn.Module | None = None  # PPO critic="head"
    critic: nn.Module | None = None  # PPO critic="model"
    accelerator: Any = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def policy_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def critic_parameters(self) -> list[nn.Parameter]:
        """The value head's or the critic model's parameters (empty without a critic)."""
        critic = self.value_head if self.value_head is not None else self.critic
        return [p for p in critic.parameters() if p.requires_grad] if critic is not None else []

    def clip_gradients(self) -> dict[str, float]:
        """Clip the policy's and the critic's gradients to ``max_grad_norm`` each, as the
        reference does (one joint norm would let a large value-loss gradient shrink the
        policy's); returns the norms before clipping."""
        max_norm = self.config.max_grad_norm
        clip = self.accelerator.clip_grad_norm_ if self.accelerator is not None else torch.nn.utils.clip_grad_norm_
        norms = {"grad_norm": float(clip(self.policy_parameters(), max_norm))}
        critic = self.critic_parameters()
        if critic:
            norms["critic_grad_norm"] = float(clip(critic, max_norm))
        return norms

    def state_values(self, hidden: torch.Tensor | None, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """V(s_t) at every position t (B, T): the critic's output one position earlier.

        Token t is chosen in the state of the tokens before it, and the critic's output
        *at* t has already seen token t (it estimates Q(s_t, a_t), not V(s_t): with
        lambda = 1 the advantage R - Q would vanish as the critic learns). So position t
        takes the output at t - 1, as verl's critic does; position 0 (never a policy
        token) gets 0."""
        if self.value_head is not None:
            raw = self.value_head(hidden)  # (B, T)
        elif self.critic is not None:
            raw = self.critic(input_ids, attention_mask)  # (B, T)
        else:
            raise ValueError("state_values needs a critic: a value head or a critic model")
        return torch.cat([raw.new_zeros(raw.shape[0], 1), raw[:, :-1]], dim=1)

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.accelerator.autocast() if self.accelerator is not None else contextlib.nullcontext()


def _micro_batches(size: int, micro: int) -> list[slice]:
    return [slice(start, min(start + micro, size)) for start in range(0, size, micro)]


@dataclass(frozen=True)
class _Part:
    """A micro-batch: some rows of the batch, cut to the columns that hold their tokens."""

    rows: torch.Tensor  # (b,) row indices
    width: int  # the longest row's length: the columns after it are padding in every row

    def of(self, tensor: torch.Tensor) -> torch.Tensor:
        """This micro-batch's share of a (B, T) or (B,) batch tensor."""
        return tensor[self.rows, : self.width] if tensor.dim() == 2 else tensor[self.rows]


def _parts(attention_mask: torch.Tensor, rows: torch.Tensor, micro: int) -> list[_Part]:
    """``rows`` in micro-batches of similar length, longest first, each cut to its own
    width: episodes differ a lot in length, and padding costs as much as tokens."""
    lengths = attention_mask[rows].sum(-1)  # (n,) right-padded: a row's tokens are its first columns
    lengths, order = torch.sort(lengths, descending=True, stable=True)
    return [_Part(rows[order[start : start + micro]], max(1, int(lengths[start]))) for start in range(0, len(rows), micro)]


@torch.no_grad()
def score_batch(learner: Learner, batch: dict[str, torch.Tensor]) -> None:
    """Fill ``old_logprobs`` (current policy, before the update), ``ref_logprobs`` and,
    for PPO, ``old_values``: teacher-forced, micro-batch by micro-batch."""
    cfg = learner.config
    attention_mask = batch["attention_mask"]
    old = torch.zeros(attention_mask.shape, dtype=torch.float32, device=attention_mask.device)  # (B, T)
    ref = old.clone() if learner.ref_model is not None else None
    values = old.clone() if learner.value_head is not None or learner.critic is not None else None
    rows = torch.arange(attention_mask.shape[0], device=attention_mask.device)
    for part in _parts(attention_mask, rows, cfg.micro_batch_size):
        ids, attention = part.of(batch["input_ids"]), part.of(attention_mask)
        columns = (part.rows[:, None], torch.arange(part.width, device=ids.device)[None, :])
        with learner.autocast():
            out = forward_logprobs(
                learner.model, ids, attention, temperature=cfg.temperature, with_hidden=learner.value_head is not None, whole_logits=not cfg.chunked_head
            )
            old[columns] = out["logprobs"].float()
            if values is not None:
                values[columns] = learner.state_values(out.get("hidden"), ids, attention).float()
            if ref is not None and learner.ref_model == "adapter-off":
                # the adapter is switched off on the model itself (a DDP wrapper has no
                # disable_adapter), and the forward still goes through the wrapper
                bare: Any = learner.accelerator.unwrap_model(learner.model) if learner.accelerator is not None else learner.model
                with bare.disable_adapter():
                    ref_out = forward_logprobs(learner.model, ids, attention, temperature=cfg.temperature, whole_logits=not cfg.chunked_head)
                ref[columns] = ref_out["logprobs"].float()
            elif ref is not None and isinstance(learner.ref_model, nn.Module):
                ref_device = next(learner.ref_model.parameters()).device
                ref_out = forward_logprobs(
                    learner.ref_model, ids.to(ref_device), attention.to(ref_device), temperature=cfg.temperature, whole_logits=not cfg.chunked_head
                )
                ref[columns] = ref_out["logprobs"].float().to(ids.device)
    batch["old_logprobs"] = old
    if ref is not None:
        batch["ref_logprobs"] = ref
    if values is not None:
        batch["old_values"] = values


def penalize_kl_in_reward(config: TrainConfig, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """With ``kl_in_reward``: subtract ``kl_coef`` x the per-token KL to the reference from
    the token rewards (and its sum from each episode's reward), as the reference's PPO does
    (verl's ``apply_kl_penalty``); the loss then has no KL term. Returns each episode's
    penalty (B,)."""
    mask = batch["loss_mask"]
    penalty = config.kl_coef * kl_penalty(batch["old_logprobs"], batch["ref_logprobs"], config.kl_estimator, mask=mask)  # (B, T)
    batch["token_rewards"] = batch["token_rewards"] - penalty
    batch["rewards"] = batch["rewards"] - penalty.sum(-1)
    return penalty.sum(-1)


def compute_advantages(config: TrainConfig, batch: dict[str, torch.Tensor]) -> None:
    """Fill ``advantages`` (B, T) on policy tokens (and ``returns`` for PPO)."""
    mask = batch["loss_mask"]
    if config.algo == "grpo":
        per_episode = group_normalized_advantages(batch["rewards"], batch["group_ids"])
        batch["advantages"] = tokens_from_sequence(per_episode, mask)
    elif config.algo == "reinforce":
        groups = batch["group_ids"] if config.reinforce_baseline == "group_mean" else None
        per_episode = reinforce_advantages(batch["rewards"], baseline=cast(Baseline, config.reinforce_baseline), group_ids=groups)
        batch["advantages"] = tokens_from_sequence(per_episode, mask)
    else:
        advantages, returns = gae(batch["token_rewards"], batch["old_values"], mask, gamma=config.gamma, lam=config.lam)
        batch["advantages"] = whiten(advantages, mask)
        batch["returns"] = returns


def _weight(mask: torch.Tensor, whole: torch.Tensor, agg: str) -> float:
    """This micro-batch's share of its mini-batch, so accumulated gradients equal the
    mini-batch's own aggregate (tokens for token-mean, episodes otherwise)."""
    if agg == "token-mean":
        return float(mask.sum() / whole.sum().clamp(min=1))
    return float((mask.sum(-1) > 0).sum() / (whole.sum(-1) > 0).sum().clamp(min=1))


def optimize(learner: Learner, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """``ppo_epochs`` passes of mini-batch optimizer steps over a scored batch with advantages."""
    cfg, acc = learner.config, learner.accelerator
    n = batch["input_ids"].shape[0]
    processes = acc.num_processes if acc is not None else 1
    mini = cfg.mini_batch_size // processes if cfg.mini_batch_size else n  # this process's share of each optimizer step
    sums: dict[str, float] = {}
    counts = 0
    tokens = 0
    started = time.perf_counter()
    learner.model.train()
    for _ in range(cfg.ppo_epochs):
        for mini_part in _micro_batches(n, mini):
            whole_mask = batch["loss_mask"][mini_part]
            rows = torch.arange(mini_part.start, mini_part.stop, device=whole_mask.device)
            parts = _parts(batch["attention_mask"], rows, cfg.micro_batch_size)
            for k, part in enumerate(parts):
                sync = acc.no_sync(learner.model) if acc is not None and k < len(parts) - 1 else contextlib.nullcontext()
                with sync:
                    loss, stats = _micro_loss(learner, batch, part)
                    weight = _weight(part.of(batch["loss_mask"]), whole_mask, cfg.loss_agg)
                    if acc is not None:
                        acc.backward(loss * weight)
                    else:
                        (loss * weight).backward()
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                counts += 1
                tokens += int(part.of(batch["attention_mask"]).sum())
            if cfg.max_grad_norm > 0:
                for key, norm in learner.clip_gradients().items():
                    sums[key] = sums.get(key, 0.0) + norm * len(parts)
            learner.optimizer.step()
            if learner.scheduler is not None:
                learner.scheduler.step()
            learner.optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - started
    metrics = {key: value / counts for key, value in sums.items()}
    metrics["update_s"] = elapsed
    metrics["update_tokens_per_s"] = tokens / elapsed if elapsed > 0 else 0.0
    metrics["lr"] = learner.optimizer.param_groups[0]["lr"]
    if len(learner.optimizer.param_groups) > 1:
        metrics["critic_lr"] = learner.optimizer.param_groups[1]["lr"]
    return metrics


def _micro_loss(learner: Learner, batch: dict[str, torch.Tensor], part: _Part) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    cfg = learner.config
    ids, attention, mask = part.of(batch["input_ids"]), part.of(batch["attention_mask"]), part.of(batch["loss_mask"])
    with learner.autocast():
        out = forward_logprobs(
            learner.model, ids, attention, temperature=cfg.temperature, with_entropy=True, with_hidden=learner.value_head is not None,
            whole_logits=not cfg.chunked_head,
        )  # fmt: skip
    logprobs = out["logprobs"].float()
    loss, stats = clipped_policy_loss(
        logprobs, part.of(batch["old_logprobs"]), part.of(batch["advantages"]), mask, clip_eps=cfg.clip_eps, clip_eps_high=cfg.clip_eps_high, agg=cfg.loss_agg
    )
    stats = {"pg_loss": loss.detach(), **stats}
    entropy = aggregate(out["entropy"].float(), mask, cfg.loss_agg)
    stats["entropy"] = entropy.detach()
    if cfg.entropy_coef:
        loss = loss - cfg.entropy_coef * entropy
    if "ref_logprobs" in batch:
        kl = aggregate(kl_penalty(logprobs, part.of(batch["ref_logprobs"]), cfg.kl_estimator, mask=mask), mask, cfg.loss_agg)
        stats["kl"] = kl.detach()
        if not cfg.kl_in_reward:  # else the KL is already in the reward
            loss = loss + cfg.kl_coef * kl
    if cfg.algo == "ppo":
        with learner.autocast():
            values = learner.state_values(out.get("hidden"), ids, attention)
        v_loss, v_stats = value_loss(
            values.float(), part.of(batch["old_values"]), part.of(batch["returns"]), mask, clip_eps=cfg.value_clip_eps, agg=cfg.loss_agg
        )
        stats.update(value_loss=v_loss.detach(), value_mean=masked_mean(values.detach().float(), mask), **v_stats)
        loss = loss + cfg.vf_coef * v_loss
    stats["loss"] = loss.detach()
    return loss, stats


def update(learner: Learner, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Score, advantages, optimize: everything one step of training does after rollouts."""
    batch = {k: v.to(learner.device) for k, v in batch.items()}
    score_batch(learner, batch)
    penalty = None
    if learner.config.kl_in_reward and "ref_logprobs" in batch:
        penalty = penalize_kl_in_reward(learner.config, batch)
    compute_advantages(learner.config, batch)
    metrics = optimize(learner, batch)
    if penalty is not None:
        metrics["kl_reward_penalty"] = float(penalty.mean())
    mismatch = masked_mean((batch["old_logprobs"] - batch["sampling_logprobs"]).abs(), batch["loss_mask"]) if "sampling_logprobs" in batch else None
    if mismatch is not None:
        metrics["logprob_mismatch"] = float(mismatch)  # sampler vs learner numerics
    return metrics
