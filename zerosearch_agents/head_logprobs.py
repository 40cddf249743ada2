"""Token log-probs and entropy straight from the last hidden states, a chunk of tokens at a time.

The update needs two numbers per token: the log-prob of the token that was played and
the entropy of the distribution it was drawn from. The plain way gets them from the
logits, a ``[batch, tokens, vocabulary]`` tensor: 4 x 4096 x 151,936 floats is 9.3 GiB
in fp32 for a Qwen micro-batch, and autograd keeps it (and a gradient of the same size)
until the backward pass. :class:`HeadLogprobs` applies the LM head to a chunk of tokens,
keeps the two numbers and drops the chunk; the backward pass recomputes each chunk's
logits from the saved hidden states and head weight (when a single chunk holds every
token, its logits are within the chunk budget and are kept instead of recomputed). No whole-batch logits tensor
exists, forward or backward; the largest temporaries are a chunk's, ``chunk x vocabulary``
(:func:`chunk_tokens`: about 1 GiB in all).

:func:`logprob_head` swaps the model's LM head for this computation for one forward
call, so the model is still called through whatever wraps it (DDP, FSDP, PEFT): the
call returns a ``[batch, tokens, 2]`` tensor (log-prob, entropy) where it would return
logits. Models whose head is not a plain linear layer, or that transform the logits
after it (Gemma's soft-capping), keep the plain path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from .head_chunks import chunk_tokens


def compute_dtype(hidden: Tensor, weight: Tensor) -> torch.dtype:
    """The dtype the LM head's matmul runs in: autocast's when it is on (bf16 on a GPU), else the inputs' own."""
    device = hidden.device.type
    try:
        if torch.is_autocast_enabled(device):
            return torch.get_autocast_dtype(device)
    except TypeError:  # torch < 2.4: the CUDA-only spelling
        if device == "cuda" and torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
    return torch.promote_types(hidden.dtype, weight.dtype)


def _scaled_logits(hidden: Tensor, weight: Tensor, bias: Tensor | None, scale: float) -> Tensor:
    """The chunk's logits in the compute dtype (``weight`` already cast to it, as the LM
    head computes them), then in fp32 (or wider) and scaled."""
    logits = nn.functional.linear(hidden.to(weight.dtype), weight, None if bias is None else bias.to(weight.dtype))
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))  # a fresh tensor either way: scaled in place
    return wide if scale == 1.0 else wide.mul_(scale)


class HeadLogprobs(torch.autograd.Function):
    """``(hidden (B, T, H), weight (V, H), bias, targets (B, T))`` -> ``(logprobs, entropy)``, each (B, T).

    The head's matmul runs in the dtype autocast would give it (:func:`compute_dtype`),
    forward and in the recomputation alike, and everything after it in fp32.

    Position ``t`` holds ``log softmax(scale * head(hidden_t))[targets_t]`` and the
    entropy of that distribution (zeros, without a gradient, when ``with_entropy`` is
    False). The backward pass recomputes every chunk: for ``z = scale * logits`` and
    ``p = softmax(z)``, ``d logp / dz = onehot(target) - p`` and ``d entropy / dz = -p (z - E_p[z])``.
    An output the loss does not use (the entropy when it is only logged) costs nothing
    in the backward pass. Each chunk's ``(C, V)`` work is done in place on one or two
    buffers: on a small model the head is most of the update's time.
    """

    @staticmethod
    def forward(
        ctx: Any, hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, scale: float, chunk_size: int | None, with_entropy: bool
    ) -> tuple[Tensor, Tensor]:
        flat, ids = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
        ctx.compute_dtype = compute_dtype(hidden, weight)
        chunk_size = chunk_size or chunk_tokens(weight.shape[0], torch.finfo(ctx.compute_dtype).bits // 8)
        cast = weight.to(ctx.compute_dtype)  # once per call (autocast would cast it once too)
        wide = torch.promote_types(ctx.compute_dtype, torch.float32)
        logprobs = flat.new_empty(flat.shape[0], dtype=wide)
        entropy = flat.new_zeros(flat.shape[0], dtype=wide)
        lse = flat.new_empty(flat.shape[0], dtype=wide)  # kept for the backward pass: one number a token
        for start in range(0, flat.shape[0], chunk_size):
            rows = slice(start, start + chunk_size)
            with torch.autocast(hidden.device.type, enabled=False):
                z = _scaled_logits(flat[rows], cast, bias, scale)  # (C, V)
            top = z.amax(-1, keepdim=True)
            e = (z - top).exp_()  # the one (C, V) temporary: exp(z - max), then p * z in place
            total = e.sum(-1)
            lse[rows] = top.squeeze(-1) + total.log()
            logprobs[rows] = z.gather(-1, ids[rows, None]).squeeze(-1) - lse[rows]
            if with_entropy:  # H = lse - E_p[z]
                entropy[rows] = lse[rows] - e.mul_(z).sum(-1) / total
            del e
        expected = lse - entropy  # E_p[z] per token, for the entropy's gradient
        # One chunk holds every token (a small vocabulary): its logits are within the chunk
        # budget, so the backward pass keeps them rather than recomputing the matmul.
        ctx.kept = z if flat.shape[0] <= chunk_size else None
        ctx.save_for_backward(hidden, weight, bias, targets, lse, expected)
        ctx.scale, ctx.chunk_size, ctx.with_entropy = scale, chunk_size, with_entropy
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None, not as zeros
        if not with_entropy:
            ctx.mark_non_differentiable(entropy)
        return logprobs.view(targets.shape), entropy.view(targets.shape)

    @staticmethod
    def backward(ctx: Any, grad_logprobs: Tensor | None, grad_entropy: Tensor | None) -> tuple[Tensor | None, ...]:
        hidden, weight, bias, targets, lse, expected = ctx.saved_tensors
        want_hidden, want_weight, want_bias = ctx.needs_input_grad[:3]
        if not ctx.with_entropy:
            grad_entropy = None
        if grad_logprobs is None and grad_entropy is None:
            return None, None, None, None, None, None, None
        flat, ids = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
        cast = weight.to(ctx.compute_dtype)  # the forward's matmul, recomputed in its dtype
        wide = lse.dtype
        # d/d(head logits) = scale * d/dz: the scale goes on the incoming gradients once
        g_lp = None if grad_logprobs is None else grad_logprobs.reshape(-1).to(wide) * ctx.scale
        g_ent = None if grad_entropy is None else grad_entropy.reshape(-1).to(wide) * ctx.scale
        grad_hidden = torch.empty_like(flat) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.promote_types(wide, weight.dtype), device=weight.device) if want_weight else None
        grad_bias = torch.zeros(bias.shape, dtype=torch.promote_types(wide, bias.dtype), device=bias.device) if want_bias and bias is not None else None
        kept, ctx.kept = ctx.kept, None  # used once: a second backward (retain_graph) recomputes
        for start in range(0, flat.shape[0], ctx.chunk_size):
            rows = slice(start, start + ctx.chunk_size)
            if kept is None:
                with torch.autocast(hidden.device.type, enabled=False):
                    z = _scaled_logits(flat[rows], cast, bias, ctx.scale)
            else:
                z = kept
            fresh = kept is None  # a recomputed chunk is ours to overwrite; the kept one is read only
            if g_ent is None:  # dz = g_lp (onehot - p), built in z's own buffer when it is fresh
                assert g_lp is not None  # both gradients None returned above
                dz = (z.sub_(lse[rows, None]) if fresh else z - lse[rows, None]).exp_().mul_(-g_lp[rows, None])
            else:  # dz = g_lp onehot - p (g_lp + g_ent (z - E_p[z]))
                p = (z - lse[rows, None]).exp_()
                weights = (z.sub_(expected[rows, None]) if fresh else z - expected[rows, None]).mul_(g_ent[rows, None])
                if g_lp is not None:
                    weights.add_(g_lp[rows, None])
                dz = weights.mul_(p).neg_()
                del p
            if g_lp is not None:
                dz.scatter_add_(-1, ids[rows, None], g_lp[rows, None])
            low = dz.to(cast.dtype)
            if grad_hidden is not None:
                grad_hidden[rows] = (low @ cast).to(grad_hidden.dtype)
            if grad_weight is not None:
                if grad_weight.dtype == low.dtype:
                    grad_weight.addmm_(low.T, flat[rows].to(cast.dtype))
                else:  # accumulated in fp32 (or wider) over the chunks
                    grad_weight += (low.T @ flat[rows].to(cast.dtype)).to(grad_weight.dtype)
            if grad_bias is not None:
                grad_bias += dz.sum(0)
            del z, dz, low
        del kept
        return (
            None if grad_hidden is None else grad_hidden.view_as(hidden),
            None if grad_weight is None else grad_weight.to(weight.dtype),
            None if grad_bias is None else grad_bias.to(bias.dtype),
            None, None, None, None,
        )  # fmt: skip


def causal_lm(model: nn.Module) -> nn.Module:
    """The Hugging Face causal LM inside whatever wraps it (DDP or FSDP's ``module``, a PEFT model)."""
    lm: Any = model  # a wrapper or a transformers/PEFT model: read by duck typing
    while hasattr(lm, "module") and isinstance(lm.module, nn.Module):
        lm = lm.module
    if hasattr(lm, "get_base_model"):
        lm = lm.get_base_model()
    return lm


def head_of(model: nn.Module) -> nn.Linear | None:
    """The LM head when the chunked path can replace it: a plain linear layer whose logits
    the model returns as they are (no soft-capping); None otherwise."""
    lm: Any = causal_lm(model)
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    config = getattr(lm, "config", None)
    if type(head) is not nn.Linear or getattr(config, "final_logit_softcapping", None):
        return None
    return head


@contextmanager
def logprob_head(model: nn.Module, input_ids: Tensor, *, temperature: float, chunk_size: int | None, with_entropy: bool) -> Iterator[bool]:
    """For one forward call of ``model`` on ``input_ids``, its LM head returns
    ``[B, T, 2]``: at position t the log-prob of token t+1 (any id at the last position)
    and the entropy, at ``temperature``, ``chunk_size`` tokens at a time (None: :func:`chunk_tokens`). Yields False, changing nothing, when the model's
    head cannot be replaced (:func:`head_of`)."""
    head = head_of(model)
    if head is None:
        yield False
        return
    targets = torch.cat([input_ids[:, 1:], input_ids[:, :1]], dim=1)  # the last position's target is dropped by the caller
    scale = 1.0 / max(temperature, 1e-6)

    def forward(hidden: Tensor) -> Tensor:
        if hidden.shape[:2] != targets.shape:
            raise RuntimeError(f"the LM head saw hidden states {tuple(hidden.shape)} for input ids {tuple(targets.shape)}")
        return torch.stack(HeadLogprobs.apply(hidden, head.weight, head.bias, targets, scale, chunk_size, with_entropy), dim=-1)

    head.forward = forward  # type: ignore[method-assign,assignment]  # an instance attribute: nn.Module.__call__ finds it before the class's forward
    try:
        yield True
    finally:
        del head.forward
