"""Does a configuration fit its launch? The processes, FSDP and GPU memory are checked
before any model loads, and ``zerosearch train --plan`` prints the memory plan."""

from __future__ import annotations

import sys
from typing import Any

from .config import PRESETS_DIR, TrainConfig


def check_launch(cfg: TrainConfig, accelerator: Any) -> None:
    """The config and the launch agree: the step's questions divide over the processes, and
    ``sharding: fsdp`` goes with an FSDP launch (the memory plan assumes what the config says)."""
    from accelerate.utils import DistributedType

    from zerosearch_env.errors import ConfigError

    try:
        cfg.process_questions(accelerator.num_processes)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    fsdp = accelerator.distributed_type == DistributedType.FSDP
    if cfg.sharding == "fsdp" and not fsdp:
        raise ConfigError(
            "sharding: fsdp needs an FSDP launch: accelerate launch --config_file "
            f"{PRESETS_DIR / 'accelerate' / 'fsdp.yaml'} -m zerosearch_agents.train ... (see docs/training.md, 'GPU memory and layouts')"
        )
    if fsdp and cfg.sharding != "fsdp":
        raise ConfigError("launched with FSDP: set sharding: fsdp (--sharding fsdp), so the memory plan and the rollouts know")


def refuse_unfit_plan(cfg: TrainConfig, gpus: int, gpu_memory_gib: float) -> None:
    """Stop before any model is loaded when the memory plan does not fit these GPUs
    (a model the planner cannot size is let through, with a note)."""
    from zerosearch_env.errors import ConfigError

    from .memory_plan import plan_memory

    try:
        plan = plan_memory(cfg, gpus=gpus, gpu_memory_gib=gpu_memory_gib)
    except ConfigError as error:
        print(f"no memory plan: {error}", file=sys.stderr)
        return
    if not plan.fits:
        raise ConfigError(f"this configuration does not fit {gpus} x {gpu_memory_gib:.0f} GiB (memory_check: false runs it anyway)\n\n{plan.format()}")


def gpu_memory_gib(device: Any = 0) -> float:
    """The total memory of a CUDA device, in GiB (what ``gpu_memory_utilization`` is a share of)."""
    import torch

    return torch.cuda.get_device_properties(device).total_memory / 2**30


def print_plan(cfg: TrainConfig, gpus: int | None, gpu_memory: float | None) -> int:
    """``zerosearch train --plan``: the plan on the given (or visible) GPUs; exit 1 when it does not fit."""
    from zerosearch_env.import_utils import cuda_device_count

    from .memory_plan import plan_memory

    visible = cuda_device_count()
    if gpu_memory is None and visible:
        gpu_memory = gpu_memory_gib()
    plan = plan_memory(cfg, gpus=gpus or visible or 1, gpu_memory_gib=gpu_memory or 80.0)
    print(plan.format())
    return 0 if plan.fits else 1
