"""The vLLM offline backend: one ``LLM.generate`` call per batch of requests.

An offline engine is fastest when it sees every query of an RL step at once, so this
backend never splits a batch: continuous batching inside vLLM does the rest. Prompts are
rendered with the model's chat template exactly as the transformers backend renders them
(``prompts.render_chat``) and sent as token ids, so vLLM adds no special tokens of its
own (a second BOS for Llama-style templates). Each request gets its own sampling seed;
the engine starts through :mod:`zerosearch_env.vllm_engine` (placement per training
process, neutral sampling defaults, the conditions of reproducibility).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SimulatorError
from ..protocol import parse_reply_documents
from ..vllm_engine import start_engine
from .base import SamplingConfig, SearchRequest, SearchResult, SimulatorFault
from .prompts import PROMPT_MODES, chat_token_ids


class VLLMSimulator:
    """A simulation LLM on a local vLLM engine.

    Args:
        model: a local folder or a hub id in the local cache.
        mode: ``"sft"`` (released simulators) or ``"prompt"`` (few-shot, plain instruct model).
        tensor_parallel_size: passed to ``vllm.LLM``.
        gpu_memory_utilization: passed to ``vllm.LLM``: a share of the GPU's *total*
            memory, which must be free when the engine starts; leave room for the policy
            when both share a GPU.
        dtype: passed to ``vllm.LLM``.
        seed: passed to ``vllm.LLM``.
        max_model_len: the engine's context (default: 4096, or the model's positions if fewer).
        enable_sleep_mode: let a training loop put the engine to sleep during each update
            (:meth:`sleep`: its weights move to CPU memory and its KV cache is freed).
        reproducible: the same batch of seeded requests gives the same documents (the
            prefix cache is off; see :mod:`zerosearch_env.vllm_engine`). False turns the
            prefix cache on: faster, since every prompt shares the template's long prefix.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        mode: str = "sft",
        temperature: float = 0.8,
        top_p: float = 1.0,
        max_new_tokens: int = 600,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.5,
        dtype: str = "auto",
        max_model_len: int | None = None,
        enable_sleep_mode: bool = False,
        reproducible: bool = True,
        seed: int = 0,
        name: str | None = None,
    ):
        if mode not in PROMPT_MODES:
            raise ConfigError(f"mode expects one of {list(PROMPT_MODES)}, got {mode!r}")
        self.mode = mode
        self.sampling = SamplingConfig(temperature, top_p, max_new_tokens)
        self.name = name or f"vllm:{Path(str(model)).name}"
        self.sleep_mode = enable_sleep_mode
        self.engine = start_engine(
            model,
            role="the vLLM simulator backend",
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            max_model_len=max_model_len,
            seed=seed,
            enable_sleep_mode=enable_sleep_mode,
            enable_prefix_caching=not reproducible,
        )
        self.tokenizer = self.engine.get_tokenizer()

    def prompt(self, request: SearchRequest) -> dict[str, Any]:
        """The engine's input for ``request``: the chat-rendered prompt as token ids."""
        return {"prompt_token_ids": chat_token_ids(self.tokenizer, request, self.mode)}

    def sampling_params(self, request: SearchRequest) -> Any:
        from vllm import SamplingParams

        s = self.sampling
        return SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_new_tokens, seed=request.seed)

    def sleep(self) -> None:
        """Free the engine's GPU memory until :meth:`wake_up` (weights to CPU); a no-op
        unless started with ``enable_sleep_mode``."""
        if self.sleep_mode:
            self.engine.sleep(level=1)

    def wake_up(self) -> None:
        if self.sleep_mode:
            self.engine.wake_up()

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if not requests:
            return []
        started = time.perf_counter()
        prompts = [self.prompt(r) for r in requests]
        params = [self.sampling_params(r) for r in requests]
        try:
            outputs = self.engine.generate(prompts, params, use_tqdm=False)
        except (RuntimeError, ValueError) as error:
            raise SimulatorError(f"{self.name}: generate failed: {error}") from error
        latency = (time.perf_counter() - started) / len(requests)
        results = []
        for request, output in zip(requests, outputs):
            completion = output.outputs[0]
            documents = parse_reply_documents(completion.text, request.topk)
            fault = None if documents else SimulatorFault(kind="empty", message=f"{self.name} wrote no documents")
            results.append(
                SearchResult(
                    documents=documents,
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids),
                    latency_s=latency,
                    error=fault,
                    extra={"reply": completion.text},
                )
            )
        return results
