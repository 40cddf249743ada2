"""The policy's turns inside TRL's GRPOTrainer, from one of three engines.

A rollout round asks an engine for one turn per live episode, ``engine(contexts,
budgets) -> [Turn]``: the token ids sampled after each context (at most its budget,
ending at a protocol stop tag, which is kept, or at an end id) with their log-probs.

- ``vllm_server``: every training process posts its contexts, as token ids, to the
  ``/v1/completions`` endpoint of the vLLM server TRL keeps in sync with the policy
  (``GRPOConfig(use_vllm=True, vllm_mode="server")``).
- ``vllm_colocate``: the trainer's own vLLM engine (``vllm_mode="colocate"``); with
  tensor parallelism, the ranks of a group generate their contexts together.
- ``transformers``: the trainer's model itself, unwrapped, sampled token by token by the
  learner's KV-cached generator (CPU, or a GPU without vLLM).

Sampling follows the trainer's settings (``temperature``, ``top_p``, ``top_k``,
``min_p``, ``repetition_penalty``, ``generation_kwargs``). Nothing here imports TRL or
vLLM at module level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConfigError, ZeroSearchError
from ..http_client import RequestFault, RetryPolicy, json_client, post_json
from ..import_utils import load_entry_point
from ..protocol import STOP_TAGS

MODES = ("auto", "vllm_server", "vllm_colocate", "transformers")
HF_GENERATOR = "zerosearch_agents.generation:HFGenerator"
HF_SAMPLING = "zerosearch_agents.generation:Sampling"


@dataclass(frozen=True)
class Turn:
    """One policy turn: the sampled ids and the log-prob of each under the sampling distribution."""

    token_ids: list[int]
    logprobs: list[float]


class TurnEngine(Protocol):
    """What a rollout needs from a generation engine."""

    def __call__(self, contexts: Sequence[Sequence[int]], budgets: Sequence[int]) -> list[Turn]: ...

    def keep_going(self, has_live: bool) -> bool:
        """Whether another round runs: ``has_live`` on this process, or, when processes
        generate together, on any of them."""
        ...

    def session(self) -> contextlib.AbstractContextManager[None]:
        """Held around one rollout (a colocated engine wakes up and sleeps again)."""
        ...


class ServerGenerationError(ZeroSearchError, RuntimeError):
    """The policy's vLLM server failed to answer a generation request."""


def engine_for(trainer: Any, mode: str | Callable[[Any], TurnEngine]) -> TurnEngine:
    """The engine ``mode`` names for ``trainer`` (``auto``: the trainer's own vLLM mode,
    else transformers); a callable is called with the trainer and returns an engine."""
    if callable(mode):
        return mode(trainer)
    if mode not in MODES:
        raise ConfigError(f"generate expects one of {list(MODES)} or a callable(trainer) -> engine, got {mode!r}")
    use_vllm = bool(getattr(trainer, "use_vllm", False))
    vllm_mode = getattr(trainer, "vllm_mode", None)
    if mode == "auto":
        mode = f"vllm_{vllm_mode}" if use_vllm else "transformers"
    if mode.startswith("vllm_") and (not use_vllm or vllm_mode != mode.removeprefix("vllm_")):
        raise ConfigError(
            f"generate={mode!r} needs GRPOConfig(use_vllm=True, vllm_mode={mode.removeprefix('vllm_')!r}), so that the "
            f"trainer keeps the engine's weights in step with the policy; this trainer has use_vllm={use_vllm}, "
            f"vllm_mode={vllm_mode!r}"
        )
    if mode == "vllm_server":
        return ServerEngine.from_trainer(trainer)
    if mode == "vllm_colocate":
        return ColocateEngine(trainer)
    return TransformersEngine(trainer)


def trainer_sampling(trainer: Any) -> dict[str, Any]:
    """The trainer's sampling settings, as vLLM names them."""
    return {
        "temperature": trainer.temperature,
        "top_p": trainer.top_p,
        "top_k": trainer.top_k,
        "min_p": 0.0 if trainer.min_p is None else trainer.min_p,
        "repetition_penalty": trainer.repetition_penalty,
        **(getattr(trainer.args, "generation_kwargs", None) or {}),
    }


class IndependentEngine:
    """The base of an engine whose processes generate on their own (a custom engine for
    ``generate=`` subclasses it and writes ``__call__``): a round runs while this process
    has live episodes, and a rollout needs no set-up."""

    def keep_going(self, has_live: bool) -> bool:
        return has_live

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        yield


class ServerEngine(IndependentEngine):
    """``POST /v1/completions`` with token-id prompts and the stop tags kept.

    One request per round holds every context. The server takes one ``max_tokens`` per
    request, so it gets the largest budget and each turn is cut to its own: the first
    ``k`` tokens of a longer sample are a sample of ``k`` tokens.
    """

    def __init__(self, base_url: str, sampling: dict[str, Any], *, timeout_s: float = 600.0, retry: RetryPolicy = RetryPolicy()):
        self.base_url = base_url.rstrip("/")
        self.sampling = dict(sampling)
        self.retry = retry
        self.client = json_client(timeout_s, concurrency=4)
        self._model: str | None = None

    @classmethod
    def from_trainer(cls, trainer: Any) -> ServerEngine:
        args = trainer.args
        url = args.vllm_server_base_url or f"http://{args.vllm_server_host}:{args.vllm_server_port}"
        return cls(url, trainer_sampling(trainer))

    def __call__(self, contexts: Sequence[Sequence[int]], budgets: Sequence[int]) -> list[Turn]:
        if not contexts:
            return []
        body = {
            "model": self.model(),
            "prompt": [list(context) for context in contexts],
            **self.sampling,
            "n": 1,
            "max_tokens": max(1, max(budgets)),
            "logprobs": 0,
            "stop": list(STOP_TAGS),
            "include_stop_str_in_output": True,
            "return_token_ids": True,
            "return_tokens_as_token_ids": True,
        }
        url = f"{self.base_url}/v1/completions"

        def read(reply: Any) -> list[Turn]:
            choices = sorted(reply["choices"], key=lambda choice: choice["index"])
            if len(choices) != len(contexts):
                raise ValueError(f"{len(choices)} choices for {len(contexts)} prompts")
            turns = []
            for choice, budget in zip(choices, budgets):
                ids = [int(i) for i in choice["token_ids"]][:budget]
                sampled = choice["logprobs"]["token_logprobs"][: len(ids)]
                if len(sampled) != len(ids):
                    raise ValueError(f"{len(sampled)} log-probs for {len(ids)} tokens")
                turns.append(Turn(ids, [float("nan") if lp is None else float(lp) for lp in sampled]))
            return turns

        try:
            return self.retry.run(lambda _: post_json(self.client, url, body, read, expected="a completion with token ids and log-probs"))
        except RequestFault as fault:
            raise ServerGenerationError(
                f"the policy's vLLM server did not generate ({fault.message}, {fault.attempts} attempts); "
                f"is `trl vllm-serve --model ...` (or `vllm serve` with TRL's weight-transfer flags) running at {self.base_url}, "
                "with a vLLM that trl[vllm] supports (token ids in replies)?"
            ) from fault

    def model(self) -> str:
        """The served model's name (``GET /v1/models``), asked once."""
        if self._model is None:
            import httpx

            url = f"{self.base_url}/v1/models"
            try:
                response = self.client.get(url)
                response.raise_for_status()
                self._model = str(response.json()["data"][0]["id"])
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as error:
                raise ServerGenerationError(
                    f"the policy's vLLM server at {self.base_url} did not list its model ({type(error).__name__}: {error}); "
                    "start it before the trainer, and set GRPOConfig.vllm_server_base_url (or host and port) to it"
                ) from error
        return self._model


class ColocateEngine:
    """The trainer's colocated vLLM engine (``trainer.vllm_generation.llm``)."""

    def __init__(self, trainer: Any):
        self.generation = trainer.vllm_generation
        self.sampling = trainer_sampling(trainer)
        self.tp_size = int(getattr(self.generation, "tensor_parallel_size", 1))

    def _gather(self, value: Any) -> list[Any]:
        """``value`` from every rank of this rank's tensor-parallel group, in rank order."""
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.tp_size
        dist.all_gather_object(gathered, value, group=self.generation.tp_group)
        return gathered

    def keep_going(self, has_live: bool) -> bool:
        return any(self._gather(has_live)) if self.tp_size > 1 else has_live

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        generation = self.generation
        if not getattr(generation, "enable_sleep_mode", False):
            yield
            return
        if getattr(generation, "_llm_weights_sleeping", False):  # level-2 sleep dropped the weights
            generation.sync_weights()
        generation.llm.wake_up(tags=["kv_cache"])
        try:
            yield
        finally:
            generation.llm.sleep(level=2)
            generation._llm_weights_sleeping = True

    def __call__(self, contexts: Sequence[Sequence[int]], budgets: Sequence[int]) -> list[Turn]:
        from vllm import SamplingParams

        work = [(list(contexts), list(budgets))]
        if self.tp_size > 1:
            work = self._gather(work[0])
        every_context = [c for part, _ in work for c in part]
        every_budget = [b for _, part in work for b in part]
        if not every_context:
            return []
        params = [
            SamplingParams(**self.sampling, n=1, max_tokens=max(1, budget), logprobs=0, stop=list(STOP_TAGS), include_stop_str_in_output=True)
            for budget in every_budget
        ]
        outputs = self.generation.llm.generate([{"prompt_token_ids": c} for c in every_context], sampling_params=params, use_tqdm=False)
        turns = []
        for output, budget in zip(outputs, every_budget):
            completion = output.outputs[0]
            ids = list(completion.token_ids)[:budget]
            # per position, {token id: Logprob}: the sampled token's entry is always there
            sampled = [float(completion.logprobs[i][token].logprob) for i, token in enumerate(ids)]
            turns.append(Turn(ids, sampled))
        if self.tp_size > 1:  # this rank's share of the group's turns
            import torch.distributed as dist

            rank = dist.get_rank(group=self.generation.tp_group)
            start = sum(len(part) for part, _ in work[:rank])
            turns = turns[start : start + len(contexts)]
        return turns


class TransformersEngine(IndependentEngine):
    """The trainer's model, sampled with the learner's KV-cached generator.

    It samples with ``temperature`` and ``top_p``; a ``top_k``, ``min_p`` or
    ``repetition_penalty`` it cannot apply is refused rather than ignored.
    """

    def __init__(self, trainer: Any):
        unsupported = {
            name: value
            for name, value, neutral in (
                ("top_k", trainer.top_k, (0, None, -1)),
                ("min_p", trainer.min_p, (0, 0.0, None)),
                ("repetition_penalty", trainer.repetition_penalty, (1, 1.0)),
            )
            if value not in neutral
        }
        if unsupported or getattr(trainer.args, "generation_kwargs", None):
            raise ConfigError(
                f"the transformers generation mode samples with temperature and top_p only; got {unsupported or ''}"
                f"{' generation_kwargs' if getattr(trainer.args, 'generation_kwargs', None) else ''}: unset them, "
                "or generate with vLLM (use_vllm=True)"
            )
        self.trainer = trainer
        self.generator_class = load_entry_point(HF_GENERATOR)
        self.sampling = load_entry_point(HF_SAMPLING)(temperature=float(trainer.temperature), top_p=float(trainer.top_p))

    def __call__(self, contexts: Sequence[Sequence[int]], budgets: Sequence[int]) -> list[Turn]:
        if not contexts:
            return []
        from trl.models import unwrap_model_for_generation

        trainer = self.trainer
        gather = getattr(trainer.args, "ds3_gather_for_generation", True)
        with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=gather) as model:
            turns = self.generator_class(model, trainer.processing_class).generate(contexts, budgets, self.sampling)
        return [Turn(turn.token_ids, turn.logprobs) for turn in turns]
