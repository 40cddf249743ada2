"""A stand-in for the ``vllm`` package, which cannot run on a CPU machine.

It records what the project asks of vLLM (the ``LLM`` constructor's arguments and the
process environment at that moment, every prompt and ``SamplingParams``, the weights
loaded, sleep and wake-up calls) and generates on a transformers copy of the model, so
the CPU tests run the project's real vLLM code paths: the simulator backend, the rollout
engine, its weight sync and the training loop around it. Only what the project calls
exists here; anything else fails loudly.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types
from dataclasses import dataclass
from typing import Any, ClassVar

ENVIRON_KEYS = ("VLLM_ENABLE_V1_MULTIPROCESSING", "RANK", "LOCAL_RANK", "WORLD_SIZE")
SIMULATOR_REPLY = "Doc 1: Fake document one.\n\nDoc 2: Fake document two."


@dataclass
class Logprob:
    logprob: float
    rank: int = 1  # the sampled token's rank among the returned ones (TRL sorts by it)


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str
    stop_reason: str | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[Completion]


class SamplingParams:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self.__dict__.update(kwargs)


class EngineModel:
    """The model inside the engine, as ``LLM.apply_model`` hands it over."""

    def __init__(self, model: Any):
        self.model = model
        self.loaded: list[str] = []

    def load_weights(self, weights: Any) -> None:
        state = self.model.state_dict()
        for name, tensor in weights:
            if name not in state:  # vLLM rejects names its model does not have
                raise KeyError(f"fake vLLM: no parameter named {name!r}")
            state[name].copy_(tensor)
            self.loaded.append(name)


class LLM:
    """Records its arguments; generates with transformers on its own copy of the weights."""

    created: ClassVar[list[LLM]] = []  # every engine started in the test (install() gives each test its own list)

    def __init__(self, **kwargs: Any):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.kwargs = kwargs
        self.environ = {key: os.environ.get(key) for key in ENVIRON_KEYS}
        self.calls: list[tuple[Any, ...]] = []
        self.requests: list[tuple[dict[str, Any], SamplingParams]] = []
        self.tokenizer = AutoTokenizer.from_pretrained(kwargs["model"])
        self.model = AutoModelForCausalLM.from_pretrained(kwargs["model"], dtype=torch.float32).eval()
        self.engine_model = EngineModel(self.model)
        LLM.created.append(self)

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def apply_model(self, func: Any) -> list[Any]:
        return [func(self.engine_model)]

    def reset_prefix_cache(self) -> bool:
        self.calls.append(("reset_prefix_cache",))
        return True

    def sleep(self, level: int = 1) -> None:
        import torch

        self.calls.append(("sleep", level))
        if level == 2:  # the weights are discarded: whatever is generated next without a reload is garbage
            with torch.no_grad():
                for parameter in self.model.parameters():
                    parameter.fill_(float("nan"))

    def wake_up(self, tags: list[str] | None = None) -> bool:
        self.calls.append(("wake_up", tags))
        return True

    def generate(self, prompts: list[dict[str, Any]], sampling_params: list[SamplingParams], *, use_tqdm: bool = True) -> list[RequestOutput]:
        for prompt in prompts:
            if set(prompt) != {"prompt_token_ids"}:
                raise TypeError(f"fake vLLM: the project sends token ids, got {sorted(prompt)}")
        self.requests += list(zip(prompts, sampling_params))
        if sampling_params[0].kwargs.get("stop"):  # policy turns
            return self._turns(prompts, sampling_params)
        ids = self.tokenizer(SIMULATOR_REPLY, add_special_tokens=False)["input_ids"]
        return [RequestOutput(p["prompt_token_ids"], [Completion(SIMULATOR_REPLY, ids, None, "stop", None)]) for p in prompts]

    def _turns(self, prompts: list[dict[str, Any]], params: list[SamplingParams]) -> list[RequestOutput]:
        import torch

        from zerosearch_agents.generation import HFGenerator, Sampling

        first = params[0]
        seed = getattr(first, "seed", None)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        turns = HFGenerator(self.model, self.tokenizer, first.stop).generate(
            [p["prompt_token_ids"] for p in prompts], [p.max_tokens for p in params], Sampling(first.temperature, first.top_p), generator
        )
        outputs = []
        for prompt, turn in zip(prompts, turns):
            logprobs = [{token: Logprob(lp)} for token, lp in zip(turn.token_ids, turn.logprobs)]
            stop_reason = next((tag for tag in first.stop if turn.text.endswith(tag)), None) if turn.stop == "tag" else None
            finish = "length" if turn.stop == "length" else "stop"
            outputs.append(RequestOutput(prompt["prompt_token_ids"], [Completion(turn.text, turn.token_ids, logprobs, finish, stop_reason)]))
        return outputs


def install(monkeypatch: Any) -> types.ModuleType:
    """Put the fake ``vllm`` in ``sys.modules`` for one test (and restore the environment
    variables the engine code sets)."""
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    module.LLM = LLM
    module.SamplingParams = SamplingParams
    module.engines = LLM.created = []
    monkeypatch.setitem(sys.modules, "vllm", module)
    for key in ENVIRON_KEYS:  # set, then deleted: monkeypatch now restores each (or removes it) after the test
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    return module
