"""Rollouts on a vLLM engine in the training process: the learner's weights in, turns out.

The engine starts through :mod:`zerosearch_env.vllm_engine` (on this process's GPU under
``accelerate launch``, one seed per rank, context = the episode token limit). Three
things tie it to the learner:

- **Weights.** :meth:`VLLMGenerator.sync_weights` loads the policy's current weights under
  the base model's names. A LoRA policy is merged for the copy and unmerged after (vLLM's
  ``load_weights`` knows ``model.layers.0.mlp.up_proj.weight``, not peft's
  ``base_model.model.….base_layer.weight``); FSDP-sharded tensors are gathered one at a
  time. The training loop syncs before every rollout and every evaluation, and a version
  number skips a copy of weights the engine already has.
- **Memory.** With sleep mode the engine frees all its GPU memory during the update
  (``sleep(level=2)``: weights and KV cache); the next sync reloads every weight.
- **Log-probs.** The engine reports *processed* log-probs: after temperature, as the
  learner recomputes them. Under top-p < 1 they are also renormalised over the nucleus,
  so the ``logprob_mismatch`` metric then includes ``-log(nucleus mass)`` per token
  (at most ``-log(top_p)``, 0.05 for top-p 0.95); the loss never uses them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from zerosearch_env.protocol import STOP_TAGS
from zerosearch_env.vllm_engine import Placement, start_engine

from .generation import GeneratedTurn, Sampling, StopReason

_PEFT_PREFIX = "base_model.model."


def base_model_name(name: str) -> str | None:
    """The name a plain (un-wrapped) model gives a peft model's tensor; None for the
    adapter's own tensors, which a merged model does not have.

    >>> base_model_name("base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight")
    'model.layers.0.self_attn.q_proj.weight'
    >>> base_model_name("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight") is None
    True
    >>> base_model_name("model.norm.weight")
    'model.norm.weight'
    """
    if ".lora_" in name or ".original_module." in name:
        return None
    return name.removeprefix(_PEFT_PREFIX).replace(".base_layer.", ".").replace(".modules_to_save.default.", ".")


@contextmanager
def merged_weights(model: Any) -> Iterator[Iterator[tuple[str, torch.Tensor]]]:
    """The policy's weights as ``(name, tensor)`` under the base model's names, for an
    inference engine to load while the context is open.

    A peft model has its adapter merged into the base weights for the duration and
    unmerged after (fp32 weights: the round trip moves a base weight by at most an ulp).
    """
    is_peft = hasattr(model, "peft_config") and hasattr(model, "merge_adapter")
    if is_peft:
        model.merge_adapter()
    try:
        yield _renamed(model.state_dict())
    finally:
        if is_peft:
            model.unmerge_adapter()


def _renamed(state: dict[str, torch.Tensor]) -> Iterator[tuple[str, torch.Tensor]]:
    for name, tensor in state.items():
        base = base_model_name(name)
        if base is not None:
            full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor  # an FSDP shard, gathered
            yield base, full.detach()


class VLLMGenerator:
    """One turn per context on an in-process vLLM engine, for GPU rollouts.

    Args:
        model_path: the policy's folder or hub id (the engine's architecture and tokenizer).
        placement: this process among the training processes (``accelerate``'s ranks).
        max_model_len: the episode token limit (prompt, turns and observations).
        sleep_mode: free the engine's GPU memory during updates (:meth:`sleep`).
    """

    def __init__(
        self,
        model_path: str,
        tokenizer: Any,
        *,
        placement: Placement = Placement(),
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        sleep_mode: bool = False,
        dtype: str = "auto",
        seed: int = 0,
    ):
        self.tokenizer = tokenizer
        self.sleep_mode = sleep_mode
        self.engine = start_engine(
            model_path,
            role="vLLM rollouts (rollout_backend='vllm')",
            placement=placement,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            seed=seed,
            enable_prefix_caching=True,  # every turn extends the previous context
            enable_sleep_mode=sleep_mode,
            logprobs_mode="processed_logprobs",
        )
        self.loaded_version: int | None = None  # which weights the engine holds

    def sync_weights(self, model: Any, version: int | None = None) -> None:
        """Load ``model``'s weights into the engine, unless it holds ``version`` already."""
        if version is not None and version == self.loaded_version:
            return
        with merged_weights(model) as weights:
            self.engine.apply_model(lambda engine_model: engine_model.load_weights(weights))
        self.engine.reset_prefix_cache()  # cached prompts were computed with the old weights
        self.loaded_version = version

    def sleep(self) -> None:
        """Free every GPU byte of the engine until :meth:`wake_up` (its weights are
        dropped: the next :meth:`sync_weights` reloads them); a no-op without sleep mode."""
        if self.sleep_mode:
            self.engine.sleep(level=2)
            self.loaded_version = None

    def wake_up(self) -> None:
        if self.sleep_mode:
            self.engine.wake_up()

    def generate(
        self,
        contexts: Sequence[Sequence[int]],
        budgets: Sequence[int],
        sampling: Sampling = Sampling(),
        generator: torch.Generator | None = None,
    ) -> list[GeneratedTurn]:
        from vllm import SamplingParams

        seed = None if generator is None else int(torch.randint(2**31 - 1, (1,), generator=generator))
        params = [
            SamplingParams(
                max_tokens=max(1, budget),
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(STOP_TAGS),
                include_stop_str_in_output=True,
                logprobs=0,
                seed=None if seed is None else seed + i,
            )
            for i, budget in enumerate(budgets)
        ]
        prompts = [{"prompt_token_ids": list(c)} for c in contexts]
        outputs = self.engine.generate(prompts, params, use_tqdm=False)
        turns = []
        for output in outputs:
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            lps = [step[token].logprob for token, step in zip(ids, completion.logprobs)]  # the sampled token's, of each step
            stop: StopReason = "length" if completion.finish_reason == "length" else ("tag" if completion.stop_reason else "eos")
            turns.append(GeneratedTurn(ids, lps, stop, completion.text))
        return turns
