"""Token-level losses for PPO, GRPO and REINFORCE on multi-turn LLM episodes.

Every tensor is ``(B, T)`` over the *full* token sequence of an episode: prompt, the
policy's turns and the observation (``<information>``) tokens the environment inserted.
``mask`` is the one loss mask: 1 (or ``True``) for tokens the policy sampled, 0 for
prompt, observation and padding tokens. Log-probs at position ``t`` are the log-prob of
token ``t`` (the caller has already shifted the logits).

Masked positions never reach the loss: each function selects with ``torch.where``
*before* any ``exp`` or product, so a masked token gets exactly zero gradient even when
its inputs are huge, ``inf`` or ``nan`` (``0 * inf`` would be ``nan``), and a row or a
batch without policy tokens gives a loss of 0, not ``nan``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zerosearch_env.errors import ConfigError

#: The ways :func:`aggregate` reduces a ``(B, T)`` per-token loss to a scalar.
LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")

#: The per-token KL estimators of :func:`kl_penalty` (``mse`` = ``k2``, ``low_var_kl`` = ``k3``).
KL_ESTIMATORS = ("k1", "abs", "mse", "k2", "low_var_kl", "k3")


def _check_shapes(**tensors: Tensor) -> None:
    """Fail fast on shape mismatches that broadcasting would otherwise hide."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name}={shape}" for name, shape in shapes.items())
        raise ConfigError(f"expects tensors of one shape, got {listed}")


def _bool_mask(mask: Tensor) -> Tensor:
    """A float 0/1 mask or a bool mask, as bool: nonzero = a policy token."""
    return mask if mask.dtype == torch.bool else mask != 0


def masked_sum(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Sum of ``x`` over the positions where ``mask`` is set (all of them when ``dim`` is None).

    >>> masked_sum(torch.tensor([[1.0, 2.0, 4.0]]), torch.tensor([[1, 0, 1]]))
    tensor(5.)
    """
    _check_shapes(x=x, mask=mask)
    picked = torch.where(_bool_mask(mask), x, torch.zeros((), dtype=x.dtype, device=x.device))
    return picked.sum() if dim is None else picked.sum(dim)


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of ``x`` over the masked positions; 0 (not ``nan``) where nothing is masked in.

    >>> x = torch.tensor([[1.0, 2.0, 4.0], [8.0, 8.0, 8.0]])
    >>> m = torch.tensor([[1, 0, 1], [0, 0, 0]])
    >>> masked_mean(x, m), masked_mean(x, m, dim=-1)
    (tensor(2.5000), tensor([2.5000, 0.0000]))
    """
    bool_mask = _bool_mask(mask)
    count = bool_mask.sum() if dim is None else bool_mask.sum(dim)
    return masked_sum(x, bool_mask, dim) / count.clamp_min(1).to(x.dtype)


def aggregate(loss_per_token: Tensor, mask: Tensor, mode: str = "token-mean") -> Tensor:
    """Reduce a ``(B, T)`` per-token loss to the scalar that is back-propagated.

    The choice decides how much each token and each episode weighs:

    * ``"token-mean"``: mean over every policy token of the batch. Each token weighs the
      same, so long episodes (many turns, long answers) dominate the gradient; there is
      no per-sequence length bias (DAPO, Dr. GRPO argue for it).
    * ``"seq-mean-token-mean"``: mean over the tokens of each sequence, then mean over
      sequences. Each episode weighs the same (original GRPO), so a token of a short
      answer weighs more than a token of a long one; with a negative advantage this
      pushes towards longer wrong answers.
    * ``"seq-mean-token-sum"``: sum over the tokens of each sequence, mean over
      sequences. No length normalisation at all: the loss scale grows with episode
      length, so it needs a smaller learning rate, but every token of every episode gets
      the same weight regardless of its neighbours.

    Sequences without any policy token (a failed rollout, padding rows) are left out of
    the mean over sequences instead of counting as zero.

    >>> loss = torch.tensor([[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0]])
    >>> mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])
    >>> [round(aggregate(loss, mask, mode).item(), 2) for mode in LOSS_AGGREGATIONS]
    [1.6, 2.5, 4.0]
    """
    _check_shapes(loss_per_token=loss_per_token, mask=mask)
    if mode == "token-mean":
        return masked_mean(loss_per_token, mask)
    if mode in ("seq-mean-token-mean", "seq-mean-token-sum"):
        bool_mask = _bool_mask(mask)
        if mode == "seq-mean-token-mean":
            per_seq = masked_mean(loss_per_token, bool_mask, dim=-1)  # (B,)
        else:
            per_seq = masked_sum(loss_per_token, bool_mask, dim=-1)  # (B,)
        has_tokens = bool_mask.any(dim=-1)  # (B,)
        return masked_mean(per_seq, has_tokens)
    raise ConfigError(f"aggregate mode expects one of {LOSS_AGGREGATIONS}, got {mode!r}")


def clipped_policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    agg: str = "token-mean",
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO's clipped surrogate, ``-min(r A, clip(r, 1 - eps, 1 + eps_high) A)`` per token.

    ``r = exp(logprobs - old_logprobs)`` is the probability ratio of the sampled token
    under the current and the behaviour policy; clipping removes the incentive to move
    ``r`` outside the trust region within one batch. ``clip_eps_high`` (DAPO's
    "clip-higher") widens the upper bound alone so that unlikely tokens with a positive
    advantage can still gain probability; ``None`` uses ``clip_eps`` on both sides.

    Returns the loss (aggregated with :func:`aggregate`) and detached statistics:
    ``clip_frac`` (share of policy tokens whose clipped branch was active, so that they
    get no gradient), ``approx_kl`` (mean of ``old - new`` log-probs, the k1 estimate of
    KL(old || new)) and ``ratio_mean``.

    >>> lp = torch.zeros(1, 3, requires_grad=True)
    >>> loss, stats = clipped_policy_loss(lp, torch.zeros(1, 3), torch.tensor([[0.0, 2.0, 4.0]]),
    ...                                   torch.tensor([[0, 1, 1]]))
    >>> loss.item(), stats["clip_frac"].item()
    (-3.0, 0.0)
    """
    _check_shapes(logprobs=logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
    if clip_eps < 0 or (clip_eps_high is not None and clip_eps_high < 0):
        raise ConfigError(f"clip_eps and clip_eps_high expect values >= 0, got {clip_eps!r}, {clip_eps_high!r}")
    bool_mask = _bool_mask(mask)
    high = clip_eps if clip_eps_high is None else clip_eps_high
    zero = torch.zeros((), dtype=logprobs.dtype, device=logprobs.device)

    log_ratio = torch.where(bool_mask, logprobs - old_logprobs, zero)  # (B, T), 0 off-policy-tokens
    ratio = torch.exp(log_ratio)  # (B, T)
    adv = torch.where(bool_mask, advantages, zero)  # (B, T)
    unclipped = -adv * ratio  # (B, T)
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high)  # (B, T)
    loss_per_token = torch.maximum(unclipped, clipped)  # (B, T)
    loss = aggregate(loss_per_token, bool_mask, agg)

    with torch.no_grad():
        stats = {
            "clip_frac": masked_mean((clipped > unclipped).to(logprobs.dtype), bool_mask),
            "approx_kl": masked_mean(-log_ratio, bool_mask),
            "ratio_mean": masked_mean(ratio, bool_mask),
        }
    return loss, stats


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, kind: str, *, mask: Tensor | None = None) -> Tensor:
    """Per-token estimate of KL(policy || reference) from tokens sampled by the policy.

    With ``d = logprobs - ref_logprobs`` (Schulman, "Approximating KL divergence"):

    * ``"k1"``: ``d``. Unbiased, high variance, can be negative; the usual PPO reward penalty.
    * ``"abs"``: ``|d|``.
    * ``"mse"`` / ``"k2"``: ``d**2 / 2``. Biased, low variance, its gradient is that of KL.
    * ``"low_var_kl"`` / ``"k3"``: ``exp(-d) + d - 1``. Unbiased, non-negative, low
      variance; GRPO's loss term. ``d`` is clamped to ``[-20, 20]`` before the ``exp``
      and the result to ``[-10, 10]``, so one token the reference finds impossible cannot
      blow up the batch.

    With ``mask`` the estimate is exactly 0 (and has zero gradient) at masked positions.

    >>> kl_penalty(torch.tensor([[-1.0, -2.0]]), torch.tensor([[-2.0, -2.0]]), "k1")
    tensor([[1., 0.]])
    """
    _check_shapes(logprobs=logprobs, ref_logprobs=ref_logprobs)
    if kind not in KL_ESTIMATORS:
        raise ConfigError(f"kl_penalty kind expects one of {KL_ESTIMATORS}, got {kind!r}")
    diff = logprobs - ref_logprobs  # (B, T)
    if mask is not None:
        _check_shapes(logprobs=logprobs, mask=mask)
        diff = torch.where(_bool_mask(mask), diff, torch.zeros((), dtype=diff.dtype, device=diff.device))
    if kind == "k1":
        return diff
    if kind == "abs":
        return diff.abs()
    if kind in ("mse", "k2"):
        return 0.5 * diff.square()
    log_ratio = torch.clamp(-diff, -20.0, 20.0)  # log(ref / policy), (B, T)
    return torch.clamp(torch.exp(log_ratio) - log_ratio - 1.0, -10.0, 10.0)


def value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    *,
    clip_eps: float | None = 0.2,
    agg: str = "token-mean",
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO's clipped value loss, ``0.5 * max((v - R)**2, (v_clipped - R)**2)`` per token.

    ``v_clipped = old_v + clamp(v - old_v, -clip_eps, clip_eps)`` keeps the value head
    close to the values the advantages were computed with; ``clip_eps=None`` gives the
    plain ``0.5 * (v - R)**2``. The stat ``vf_clip_frac`` is the share of policy tokens
    where the clipped term was the larger one (and so got no gradient).

    >>> v = torch.tensor([[0.0, 1.0]], requires_grad=True)
    >>> old_v, returns = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    >>> loss, stats = value_loss(v, old_v, returns, torch.ones(1, 2))  # 2nd token: v_clipped = 0.2
    >>> round(loss.item(), 2), stats["vf_clip_frac"].item()
    (0.41, 0.5)
    """
    _check_shapes(values=values, old_values=old_values, returns=returns, mask=mask)
    if clip_eps is not None and clip_eps < 0:
        raise ConfigError(f"clip_eps expects a value >= 0 or None, got {clip_eps!r}")
    bool_mask = _bool_mask(mask)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    v = torch.where(bool_mask, values, zero)  # (B, T)
    old_v = torch.where(bool_mask, old_values, zero)  # (B, T)
    ret = torch.where(bool_mask, returns, zero)  # (B, T)

    unclipped = (v - ret).square()  # (B, T)
    if clip_eps is None:
        loss_per_token = 0.5 * unclipped
        clip_frac = torch.zeros((), dtype=values.dtype, device=values.device)
    else:
        v_clipped = old_v + torch.clamp(v - old_v, -clip_eps, clip_eps)  # (B, T)
        clipped = (v_clipped - ret).square()  # (B, T)
        loss_per_token = 0.5 * torch.maximum(unclipped, clipped)
        with torch.no_grad():
            clip_frac = masked_mean((clipped > unclipped).to(values.dtype), bool_mask)
    return aggregate(loss_per_token, bool_mask, agg), {"vf_clip_frac": clip_frac.detach()}


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the next-token distribution at each position: ``(B, T, V) -> (B, T)``.

    Computed from ``log_softmax`` (a logsumexp), never from ``log(softmax)``, so large
    logits do not overflow; logits of ``-inf`` (banned tokens) contribute 0 instead of
    ``0 * -inf = nan``.

    >>> entropy_from_logits(torch.zeros(1, 1, 4))  # uniform over 4 tokens: log 4
    tensor([[1.3863]])
    """
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    finite_logp = torch.where(torch.isneginf(logp), torch.zeros((), dtype=logp.dtype, device=logp.device), logp)
    return -(logp.exp() * finite_logp).sum(dim=-1)  # (B, T)


def token_logprobs(logits: Tensor, tokens: Tensor, chunk_size: int | None = None) -> Tensor:
    """Log-probability of each token under ``logits``: ``(B, T, V), (B, T) -> (B, T)``.

    ``log_softmax(logits)[b, t, tokens[b, t]]``, computed as ``logit - logsumexp`` so the
    full ``(B, T, V)`` log-softmax is never materialised; ``chunk_size`` processes that
    many positions of ``T`` at a time to bound the temporary memory for large
    vocabularies. Half-precision logits are upcast to float32 (one chunk at a time): a
    bf16 log-prob is too coarse for a PPO ratio. ``tokens`` must be valid ids
    everywhere, padding included; the loss mask removes them afterwards.

    >>> logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]]))
    >>> token_logprobs(logits, torch.tensor([[0, 2]])).exp()
    tensor([[0.5000, 0.8000]])
    """
    if logits.dim() != 3 or tokens.shape != logits.shape[:2]:
        raise ConfigError(f"token_logprobs expects logits (B, T, V) and tokens (B, T), got {tuple(logits.shape)} and {tuple(tokens.shape)}")
    if chunk_size is not None and chunk_size <= 0:
        raise ConfigError(f"chunk_size expects a positive int or None, got {chunk_size!r}")
    dtype = torch.promote_types(logits.dtype, torch.float32)
    step = logits.shape[1] if chunk_size is None else chunk_size
    chunks = []
    for start in range(0, logits.shape[1], step):
        chunk = logits[:, start : start + step].to(dtype)  # (B, C, V)
        ids = tokens[:, start : start + step].unsqueeze(-1)  # (B, C, 1)
        picked = chunk.gather(-1, ids).squeeze(-1)  # (B, C)
        chunks.append(picked - torch.logsumexp(chunk, dim=-1))  # (B, C)
    if not chunks:
        return logits.new_zeros(tokens.shape, dtype=dtype)
    return torch.cat(chunks, dim=1)  # (B, T)
