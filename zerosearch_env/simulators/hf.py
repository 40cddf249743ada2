"""The transformers backend: batched, left-padded ``generate`` on CPU or GPU."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SimulatorError
from ..import_utils import require
from ..protocol import parse_reply_documents
from .base import SamplingConfig, SearchRequest, SearchResult, SimulatorFault
from .prompts import PROMPT_MODES, render_chat


def kv_cache_keyword(model: Any) -> str:
    """The name under which this transformers version's ``forward`` takes and returns the
    KV cache: ``cache`` from transformers 5.25 on (``past_key_values`` still works there,
    with a deprecation warning at every call), ``past_key_values`` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model forwards **kwargs
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def batch_seed(batch: Sequence[SearchRequest]) -> int:
    """One stable seed from the batch's request seeds (None counts as 0).

    >>> batch_seed([SearchRequest("q", "Q?", ("a",), seed=1)]) == batch_seed([SearchRequest("x", "Y?", ("b",), seed=1)])
    True
    """
    import numpy as np

    return int(np.random.SeedSequence([r.seed or 0 for r in batch]).generate_state(1)[0] & 0x7FFFFFFF)


def sampling_kwargs(sampling: SamplingConfig) -> dict[str, object]:
    """``generate`` arguments that sample exactly ``sampling``: temperature and top-p, and
    none of the defaults a model's ``generation_config.json`` would add (top-k, repetition
    penalty, min-p), as the vLLM backend does (see :mod:`zerosearch_env.vllm_engine`).

    >>> sampling_kwargs(SamplingConfig(0.8, 1.0, 600))["top_k"]
    0
    """
    neutral = dict(min_p=None, typical_p=1.0, repetition_penalty=1.0, no_repeat_ngram_size=0)
    if sampling.temperature <= 0:
        return dict(do_sample=False, temperature=None, top_p=None, top_k=None, **neutral)
    return dict(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0, **neutral)


def _checked_options(mode: str, temperature: float, top_p: float, max_new_tokens: int, batch_size: int) -> SamplingConfig:
    """The constructors' checks (the packages, the mode, the batch size, the sampling), run
    before any model is loaded."""
    require("torch", "the transformers simulator backend")
    require("transformers", "the transformers simulator backend")
    if mode not in PROMPT_MODES:
        raise ConfigError(f"mode expects one of {list(PROMPT_MODES)}, got {mode!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size expects a positive int, got {batch_size!r}")
    return SamplingConfig(temperature, top_p, max_new_tokens)


class HFSimulator:
    """A simulation LLM run with transformers.

    Requests are grouped into batches of ``batch_size`` and each batch is one left-padded
    ``generate`` call. Sampling is made reproducible by seeding a forked torch RNG with
    the batch's request seeds, so the same batch gives the same documents and the global
    RNG is left as it was.

    Args:
        model: a local folder saved with ``save_pretrained`` (or a hub id already in the
            local cache). :meth:`from_model` wraps a model already in memory instead.
        mode: ``"sft"`` for the released simulators, ``"prompt"`` for a plain instruct model.
        batch_size: requests per ``generate`` call.
        device: ``"cpu"``, ``"cuda"``, ... (default: cuda if visible, else cpu).
        dtype: torch dtype name (``"bfloat16"``, ``"float32"``; default: bf16 on GPU, fp32 on CPU).
    """

    def __init__(
        self,
        model: str | Path,
        *,
        mode: str = "sft",
        temperature: float = 0.8,
        top_p: float = 1.0,
        max_new_tokens: int = 600,
        batch_size: int = 16,
        device: str | None = None,
        dtype: str | None = None,
        name: str | None = None,
    ):
        sampling = _checked_options(mode, temperature, top_p, max_new_tokens, batch_size)  # before a long load
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(model))
        pretrained: Any = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype)
        loaded = pretrained.to(device)
        self._attach(loaded, tokenizer, sampling, mode=mode, batch_size=batch_size, name=name or f"hf:{Path(str(model)).name}")

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        mode: str = "sft",
        temperature: float = 0.8,
        top_p: float = 1.0,
        max_new_tokens: int = 600,
        batch_size: int = 16,
        name: str | None = None,
    ) -> HFSimulator:
        """A simulator around a causal LM already in memory, on its own device and dtype
        (a model built from a config, or shared with other code), with nothing written to
        disk. ``tokenizer`` is switched to left padding, which batched generation needs."""
        sampling = _checked_options(mode, temperature, top_p, max_new_tokens, batch_size)
        simulator = cls.__new__(cls)
        label = getattr(model.config, "_name_or_path", "") or type(model).__name__
        simulator._attach(model, tokenizer, sampling, mode=mode, batch_size=batch_size, name=name or f"hf:{Path(label).name}")
        return simulator

    def _attach(self, model: Any, tokenizer: Any, sampling: SamplingConfig, *, mode: str, batch_size: int, name: str) -> None:
        """The setup both constructors share: left padding, a pad token, eval mode."""
        self.sampling = sampling
        self.mode = mode
        self.batch_size = batch_size
        self.name = name
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = model.eval()
        self.device = str(next(model.parameters()).device)

    def render(self, request: SearchRequest) -> str:
        """The exact text fed to the model: the prompt inside the model's chat template."""
        return render_chat(self.tokenizer, request, self.mode)

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        results: list[SearchResult] = []
        for start in range(0, len(requests), self.batch_size):
            results.extend(self._generate(requests[start : start + self.batch_size]))
        return results

    def _generate(self, batch: Sequence[SearchRequest]) -> list[SearchResult]:
        import torch

        started = time.perf_counter()
        texts = [self.render(r) for r in batch]
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs = dict(max_new_tokens=self.sampling.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **sampling_kwargs(self.sampling))
        seed = batch_seed(batch)
        try:
            with torch.random.fork_rng(devices=[] if self.device == "cpu" else None), torch.inference_mode():
                torch.manual_seed(seed)
                output = self.model.generate(**encoded, **kwargs)  # (B, prompt + new)
        except (RuntimeError, ValueError) as error:
            raise SimulatorError(f"{self.name}: generate failed: {error}") from error
        new_tokens = output[:, encoded["input_ids"].shape[1] :]  # (B, new)
        latency = (time.perf_counter() - started) / len(batch)
        results = []
        for request, prompt_mask, completion in zip(batch, encoded["attention_mask"], new_tokens):
            completion_tokens = int((completion != self.tokenizer.pad_token_id).sum())
            reply = self.tokenizer.decode(completion, skip_special_tokens=True)
            documents = parse_reply_documents(reply, request.topk)
            fault = None if documents else SimulatorFault(kind="empty", message=f"{self.name} wrote no documents")
            results.append(
                SearchResult(
                    documents=documents,
                    prompt_tokens=int(prompt_mask.sum()),
                    completion_tokens=completion_tokens,
                    latency_s=latency,
                    error=fault,
                    extra={"reply": reply},
                )
            )
        return results
