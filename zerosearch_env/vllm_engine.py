"""Starting an in-process vLLM engine on this process's GPU, the one way the project does it.

Two engines can live inside a training process: the simulator (``simulators/vllm.py``)
and the learner's rollout engine. Both start here, so they agree on what vLLM leaves to
its caller:

- **Placement.** Under a multi-process launcher (``accelerate launch``, ``torchrun``)
  vLLM's default single-process executor puts every process's engine on ``cuda:0``. The
  ``external_launcher`` executor places it by this process's ``RANK``/``LOCAL_RANK``
  instead (the pattern of TRL's colocated generation). Each process then runs its own
  engine of tensor-parallel size 1; a larger simulator belongs on a server (``sim="openai"``).
- **Seeds.** One engine seed per rank, so ranks do not draw the same samples.
- **Sampling.** ``generation_config="vllm"``: an engine samples with exactly the
  ``SamplingParams`` it is given, not with the defaults of the model's
  ``generation_config.json`` (top-k, repetition penalty). The transformers backend
  neutralises the same defaults, so the two backends sample the same distribution.
- **Reproducibility.** ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` keeps the engine in this
  process: its scheduling is deterministic (and the rollout engine's weights load without
  inter-process copies). A seeded request then repeats its sample when it is sent again
  in the same batch; a prefix-cache hit computes the prompt in other kernels, so engines
  that promise reproducibility turn the prefix cache off. Across *different* batches a
  request repeats only with batch-invariant kernels (``VLLM_BATCH_INVARIANT=1``, slower).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .import_utils import require

#: The context length an engine is given when its caller does not say (longer than any
#: simulator prompt plus its 600 new tokens; capped by the model's own positions).
DEFAULT_MAX_MODEL_LEN = 4096


@dataclass(frozen=True)
class Placement:
    """Where this process sits among the training processes (one GPU each)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Placement:
        """From the variables ``torchrun`` and ``accelerate launch`` set (a lone process: rank 0 of 1).

        >>> Placement.from_environ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
        Placement(rank=3, local_rank=1, world_size=4)
        """
        return cls(int(environ.get("RANK", 0)), int(environ.get("LOCAL_RANK", 0)), int(environ.get("WORLD_SIZE", 1)))


def model_max_positions(model: str | Path) -> int | None:
    """``max_position_embeddings`` from a model folder's config.json (None when unknown)."""
    config = Path(str(model)) / "config.json"
    try:
        return int(json.loads(config.read_text())["max_position_embeddings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def engine_arguments(
    model: str | Path,
    *,
    role: str,
    placement: Placement = Placement(),
    tensor_parallel_size: int = 1,
    seed: int = 0,
    max_model_len: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The keyword arguments of ``vllm.LLM`` for an engine of this process.

    ``role`` names the engine in errors ("the simulator", "rollouts"); ``options`` pass
    through (``gpu_memory_utilization``, ``dtype``, ``enable_sleep_mode``, ...).

    >>> engine_arguments("m", role="rollouts", placement=Placement(2, 2, 4), seed=10)["distributed_executor_backend"]
    'external_launcher'
    >>> engine_arguments("m", role="rollouts", placement=Placement(2, 2, 4), seed=10)["seed"]
    12
    """
    if placement.world_size > 1 and tensor_parallel_size > 1:
        raise ConfigError(
            f"{role}: a vLLM engine with tensor_parallel_size={tensor_parallel_size} cannot run inside each of "
            f"{placement.world_size} training processes (each process has one GPU). Serve the model once instead, "
            f"e.g. `vllm serve {Path(str(model)).name} --tensor-parallel-size {tensor_parallel_size} --port 6001`, "
            "and use sim='openai' with sim_kwargs={'base_urls': ['http://HOST:6001/v1']}"
        )
    positions = model_max_positions(model)
    if max_model_len is None:
        max_model_len = min(DEFAULT_MAX_MODEL_LEN, positions or DEFAULT_MAX_MODEL_LEN)
    elif positions is not None and max_model_len > positions:
        raise ConfigError(f"{role}: max_model_len={max_model_len} exceeds the {positions} positions of {model}")
    arguments = dict(
        model=str(model),
        tensor_parallel_size=tensor_parallel_size,
        seed=seed + placement.rank,
        max_model_len=max_model_len,
        generation_config="vllm",
        **options,
    )
    if placement.world_size > 1:
        arguments["distributed_executor_backend"] = "external_launcher"
    return arguments


def start_engine(model: str | Path, *, role: str, placement: Placement | None = None, **options: Any) -> Any:
    """A ``vllm.LLM`` in this process, placed on this process's GPU (see :func:`engine_arguments`)."""
    require("vllm", role)
    placement = placement or Placement.from_environ()
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    if placement.world_size > 1:  # what the external launcher reads
        os.environ.update(RANK=str(placement.rank), LOCAL_RANK=str(placement.local_rank), WORLD_SIZE=str(placement.world_size))
    arguments = engine_arguments(model, role=role, placement=placement, **options)
    from vllm import LLM

    return LLM(**arguments)
