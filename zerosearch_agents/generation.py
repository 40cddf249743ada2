"""Generating one policy turn for a batch of contexts, stopping at the protocol's tags.

Two engines with one interface, ``generate(contexts, budgets, sampling) -> [GeneratedTurn]``:

- :class:`HFGenerator`: a KV-cached sampling loop over any transformers causal LM. It is
  written out rather than delegated to ``model.generate`` because RL needs three things
  at once: the exact log-prob of every sampled token under the sampling distribution,
  a stop at ``</search>``/``</answer>`` on token boundaries (a tag may end inside a
  token), and a per-row token budget.
- :class:`~zerosearch_agents.vllm_generation.VLLMGenerator`: the same on a vLLM engine
  (GPU), with the learner's weights loaded into the engine before it generates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from zerosearch_env.protocol import STOP_TAGS
from zerosearch_env.simulators.hf import kv_cache_keyword

from .policy import position_ids_for

StopReason = Literal["tag", "eos", "length"]


@dataclass(frozen=True)
class Sampling:
    """How turns are sampled; ``temperature=0`` is greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0


@dataclass
class GeneratedTurn:
    """The tokens of one policy turn (the stop tag or EOS included) and their log-probs."""

    token_ids: list[int]
    logprobs: list[float]
    stop: StopReason
    text: str  # decoded without special tokens: the action sent to the environment


def sample_next(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per row; return (tokens (B,), log-probs (B,)).

    The log-prob is taken under ``softmax(logits / temperature)``, the distribution the
    learner recomputes; top-p only narrows where the draw may land.
    """
    logits = logits.float()  # (B, V)
    if sampling.temperature <= 0:
        tokens = logits.argmax(-1)
        return tokens, torch.log_softmax(logits, -1).gather(-1, tokens[:, None]).squeeze(-1)
    logprobs = torch.log_softmax(logits / sampling.temperature, -1)  # (B, V)
    probs = logprobs.exp()
    if sampling.top_p < 1.0:
        sorted_probs, order = probs.sort(-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > sampling.top_p  # keep the smallest head reaching top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)
    return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)


def end_token_ids(tokenizer: Any, model: Any = None) -> set[int]:
    """Every id that ends a turn: the tokenizer's EOS and the model's
    ``generation_config.eos_token_id`` (an int or a list: instruct models such as
    SmolLM2 and Qwen2.5-Instruct end a reply with a token that is not the tokenizer's
    EOS). vLLM stops on the same set."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None)
    if isinstance(extra, int):
        ids.add(extra)
    elif extra is not None:
        ids.update(int(i) for i in extra)
    return ids


class StopDetector:
    """Finds the end of a turn: EOS, or a stop tag completed by the latest token.

    Tags that are single tokens (as in the tiny policy's tokenizer) are checked by id;
    otherwise the last few tokens are decoded and searched, which catches a tag split
    across tokens or ending inside one.
    """

    def __init__(self, tokenizer: Any, stop_strings: Sequence[str] = STOP_TAGS, eos_ids: Iterable[int] | None = None):
        self.tokenizer = tokenizer
        self.stop_strings = tuple(stop_strings)
        self.eos_ids = set(eos_ids) if eos_ids is not None else end_token_ids(tokenizer)
        self.tag_ids: set[int] = set()
        self.multi_token = False
        for tag in self.stop_strings:
            ids = tokenizer(tag, add_special_tokens=False)["input_ids"]
            if len(ids) == 1 and tokenizer.decode(ids) == tag:
                self.tag_ids.add(ids[0])
            else:
                self.multi_token = True
        self.window = max(len(s) for s in self.stop_strings) + 1  # tokens: at least one character each

    def check(self, turn_ids: list[int]) -> StopReason | None:
        last = turn_ids[-1]
        if last in self.eos_ids:
            return "eos"
        if last in self.tag_ids:
            return "tag"
        if self.multi_token:
            tail = self.tokenizer.decode(turn_ids[-self.window :])
            if any(tag in tail for tag in self.stop_strings):
                return "tag"
        return None


class HFGenerator:
    """Batched, KV-cached sampling of one turn per context with a transformers model."""

    def __init__(self, model: Any, tokenizer: Any, stop_strings: Sequence[str] = STOP_TAGS):
        self.model = model
        self.tokenizer = tokenizer
        self.stops = StopDetector(tokenizer, stop_strings, end_token_ids(tokenizer, model))
        self.cache_keyword = kv_cache_keyword(model)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @property
    def device(self) -> torch.device:
        """Where tokens are drawn: a sampling ``torch.Generator`` must live here (PyTorch
        refuses a CPU generator for a CUDA tensor)."""
        return next(self.model.parameters()).device

    @torch.no_grad()
    def generate(
        self,
        contexts: Sequence[Sequence[int]],
        budgets: Sequence[int],
        sampling: Sampling = Sampling(),
        generator: torch.Generator | None = None,
    ) -> list[GeneratedTurn]:
        """One turn per context, each at most ``budgets[i]`` new tokens."""
        device = self.device
        n = len(contexts)
        width = max(len(c) for c in contexts)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, context in enumerate(contexts):  # left padding: every row ends at the same column
            input_ids[i, width - len(context) :] = torch.tensor(context)
            attention[i, width - len(context) :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = position_ids_for(attention)

        was_training = self.model.training
        self.model.eval()
        turns: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        stops: list[StopReason | None] = [None if budgets[i] > 0 else "length" for i in range(n)]
        cache = None
        step_ids, step_positions = input_ids, positions
        for _ in range(max(budgets, default=0)):
            live = [i for i in range(n) if stops[i] is None]
            if not live:
                break
            out = self.model(
                input_ids=step_ids,
                attention_mask=attention,
                position_ids=step_positions,
                use_cache=True,
                **{self.cache_keyword: cache},
                logits_to_keep=1,  # the prefill needs the last position's logits, not the whole prompt's
            )
            cache = getattr(out, self.cache_keyword)
            tokens, token_logprobs = sample_next(out.logits[:, -1], sampling, generator)
            tokens_list, logprob_list = tokens.tolist(), token_logprobs.tolist()
            for i in live:
                turns[i].append(tokens_list[i])
                logprobs[i].append(logprob_list[i])
                stops[i] = self.stops.check(turns[i]) or ("length" if len(turns[i]) >= budgets[i] else None)
            finished = torch.tensor([stops[i] is not None for i in range(n)], device=device)
            step_ids = torch.where(finished, torch.full_like(tokens, self.pad_id), tokens)[:, None]  # (B, 1)
            step_positions = step_positions[:, -1:] + 1
            attention = torch.cat([attention, (~finished).long()[:, None]], dim=1)
        self.model.train(was_training)
        return [GeneratedTurn(turns[i], logprobs[i], stops[i] or "length", self.tokenizer.decode(turns[i], skip_special_tokens=True)) for i in range(n)]
