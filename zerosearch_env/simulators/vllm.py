"""The vLLM offline backend: one ``LLM.generate`` call per batch of requests.

An offline engine is fastest when it sees every query of an RL step at once, so this
backend never splits a batch: continuous batching inside vLLM does the rest. Prompts are
rendered with the model's chat template exactly as the transformers backend renders them
(``prompts.render_chat``), and each request gets its own sampling seed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, SimulatorError
from ..import_utils import require
from ..protocol import parse_reply_documents
from .base import SamplingConfig, SearchRequest, SearchResult, SimulatorFault
from .prompts import render_chat


class VLLMSimulator:
    """A simulation LLM on a local vLLM engine.

    Args:
        model: a local folder or a hub id in the local cache.
        mode: ``"sft"`` (released simulators) or ``"prompt"`` (few-shot, plain instruct model).
        tensor_parallel_size, gpu_memory_utilization, dtype, max_model_len, seed: passed to
            ``vllm.LLM``. Keep ``gpu_memory_utilization`` low enough to leave room for the
            policy when both share a GPU.
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
        max_model_len: int | None = 4096,
        seed: int = 0,
        name: str | None = None,
    ):
        require("vllm", "the vLLM simulator backend")
        from vllm import LLM

        if mode not in ("sft", "prompt"):
            raise ConfigError(f"mode expects 'sft' or 'prompt', got {mode!r}")
        self.mode = mode
        self.sampling = SamplingConfig(temperature, top_p, max_new_tokens)
        self.name = name or f"vllm:{Path(str(model)).name}"
        self.engine = LLM(
            model=str(model),
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            max_model_len=max_model_len,
            seed=seed,
        )
        self.tokenizer = self.engine.get_tokenizer()

    def render(self, request: SearchRequest) -> str:
        return render_chat(self.tokenizer, request, self.mode)

    def sampling_params(self, request: SearchRequest):
        from vllm import SamplingParams

        s = self.sampling
        return SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_new_tokens, seed=request.seed)

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if not requests:
            return []
        started = time.perf_counter()
        prompts = [self.render(r) for r in requests]
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
            error = None if documents else SimulatorFault(kind="empty", message=f"{self.name} wrote no documents")
            results.append(
                SearchResult(
                    documents=documents,
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids),
                    latency_s=latency,
                    error=error,
                )
            )
        return results
