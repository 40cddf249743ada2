"""Checkpoints in the run folder: saving one, finding the latest, loading it to resume.

A checkpoint ``<out_dir>/checkpoints/step_<step>`` holds no pickle. Accelerate's
``save_state`` pickles the optimizer, the scheduler, the RNG states and every object
registered for checkpointing, and ``load_state`` unpickles the registered ones with
``torch.load(weights_only=False)``: resuming from a folder someone else wrote could run
their code. Here tensors go to safetensors and everything else to JSON, and loading reads
nothing else (other files in the folder are never opened):

- ``checkpoint.json``: the format, the step, the number of processes and the learner's
  parts; a folder without it (an older, pickled checkpoint) is refused.
- ``trainer_state.json``: the step reached, the held-out scores so far and the warm
  start's final loss.
- ``policy.safetensors``; ``value_head.safetensors`` or ``critic.safetensors`` (PPO);
  ``reference.safetensors`` (the frozen KL reference, which after a warm start is not
  the initial model). Every tensor of the module's state dict (with LoRA: the base and
  the adapter); a tied tensor is stored once and its other names listed in the file's
  metadata.
- ``optimizer.safetensors`` (AdamW's moments and step counts, ``<param index>.<name>``)
  and ``optimizer.json`` (its parameter groups: learning rates, betas, weight decay, ...).
- ``scheduler.json``: the learning-rate schedule's counters (its lambdas are code,
  rebuilt from the config).
- ``grad_scaler.json``: the fp16 loss scale (``mixed_precision: fp16`` only).
- ``rng.rank<r>.json``: process ``r``'s Python, NumPy and torch (CPU and CUDA) RNG
  states, for whatever draws from them (dropout, a custom sampler).

With FSDP, the sharded parts (policy, critic, optimizer) are written by every process,
each its own shard (``policy.rank<r>.safetensors``, ...), and resume needs the same
number of processes; without FSDP the main process writes them. A checkpoint is written
to a hidden ``.partial-step_<step>`` folder and renamed when complete, so a run killed
while saving leaves the previous checkpoint as the latest.

Everything else a step needs is drawn from ``(seed, step)``, so this is enough to
continue exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np

from zerosearch_env.errors import CheckpointError

CHECKPOINTS = "checkpoints"
MANIFEST = "checkpoint.json"
TRAINER_STATE = "trainer_state.json"
FORMAT = "zerosearch-checkpoint/1"  # safetensors and JSON only


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The checkpoint of the highest step in ``out_dir``, or None if there is none."""
    found = sorted((out_dir / CHECKPOINTS).glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return found[-1] if found else None


def checkpoint_to_resume(out_dir: Path, resume: bool) -> Path | None:
    """The checkpoint a run resumes from: the latest one if ``resume``, else None (a fresh run)."""
    resume_from = latest_checkpoint(out_dir) if resume else None
    if resume and resume_from is None:
        print(f"resume: no checkpoint in {out_dir / CHECKPOINTS}; starting from scratch")
    return resume_from


# ----------------------------------------------------------------------------- saving


def save_checkpoint(learner: Any, out_dir: Path, step: int, state: dict[str, Any]) -> Path:
    """The learner (modules, optimizer, schedule), the RNG states and the trainer state
    ``state`` as the checkpoint of ``step``. Every process calls it."""
    acc = learner.accelerator
    main, rank = acc.is_main_process, acc.process_index
    folder = out_dir / CHECKPOINTS / f"step_{step:06d}"
    partial = folder.with_name(f".partial-{folder.name}")
    if main:
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
        partial.mkdir(parents=True)
    acc.wait_for_everyone()

    sharded = []
    for name, module in learner_modules(learner).items():
        tensors, aliases, is_shard = module_tensors(module)
        if is_shard:
            sharded.append(name)
        if is_shard or main:
            _write_tensors(partial / _file(name, rank if is_shard else None), tensors, {"aliases": json.dumps(aliases)})
    tensors, optimizer = optimizer_files(learner.optimizer)
    if optimizer["shards"]:
        sharded.append("optimizer")
    if optimizer["shards"] or main:
        _write_tensors(partial / _file("optimizer", rank if optimizer["shards"] else None), tensors)
    _write_json(partial / f"rng.rank{rank}.json", rng_state(), indent=None)
    if main:
        _write_json(partial / "optimizer.json", optimizer)
        if learner.scheduler is not None:
            _write_json(partial / "scheduler.json", learner.scheduler.state_dict())
        if getattr(acc, "scaler", None) is not None:
            _write_json(partial / "grad_scaler.json", acc.scaler.state_dict())
        _write_json(partial / TRAINER_STATE, state)
        parts = sorted(learner_modules(learner))
        _write_json(partial / MANIFEST, {"format": FORMAT, "step": step, "processes": acc.num_processes, "parts": parts, "sharded": sharded})
    acc.wait_for_everyone()
    if main:
        if folder.exists():  # the same step saved again (a resumed run that had nothing left to do)
            shutil.rmtree(folder)
        partial.rename(folder)
    acc.wait_for_everyone()
    return folder


def learner_modules(learner: Any) -> dict[str, Any]:
    """The modules a checkpoint holds, by file name: the policy, PPO's value head or critic
    model, and the frozen reference when it is a model of its own (not LoRA's adapter-off
    base). Unwrapped, so a data-parallel run's names do not depend on the launch."""
    import torch

    acc = learner.accelerator
    modules = {"policy": acc.unwrap_model(learner.model)}
    if learner.value_head is not None:
        modules["value_head"] = acc.unwrap_model(learner.value_head)
    if learner.critic is not None:
        modules["critic"] = acc.unwrap_model(learner.critic)
    if isinstance(learner.ref_model, torch.nn.Module):
        modules["reference"] = learner.ref_model
    return modules


def module_tensors(module: Any) -> tuple[dict[str, Any], dict[str, str], bool]:
    """The module's state dict as ``(tensors, aliases, sharded)``: this process's data of
    each tensor (its shard under FSDP), a tensor tied to an earlier one (tied embeddings)
    only as ``aliases[name] = earlier name`` (safetensors refuses shared memory), and
    whether any tensor is an FSDP shard."""
    tensors: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    sharded = False
    for name, value in module.state_dict().items():
        sharded = sharded or _is_shard(value)
        local = _local(value)
        memory = (local.data_ptr(), local.dtype, tuple(local.shape), local.stride())
        if local.numel() and memory in seen:
            aliases[name] = seen[memory]
            continue
        seen[memory] = name
        tensors[name] = local.detach().cpu().contiguous()
    return tensors, aliases, sharded


def optimizer_files(optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The optimizer's state dict split into ``(tensors, rest)``: its per-parameter tensors
    as ``"<param index>.<name>"`` (this process's shard of a sharded one), and its
    parameter groups, non-tensor values and the names of the shards, for JSON."""
    import torch

    saved = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    shards: list[str] = []
    for index, entry in saved["state"].items():
        for key, value in entry.items():
            name = f"{index}.{key}"
            if not isinstance(value, torch.Tensor):
                values[name] = value
                continue
            if _is_shard(value):
                shards.append(name)
            tensors[name] = _local(value).detach().cpu().contiguous()
    return tensors, {"param_groups": saved["param_groups"], "values": values, "shards": shards}


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy and torch RNG states, as JSON values."""
    import torch

    version, internal, gauss_next = random.getstate()
    kind, keys, position, has_gauss, cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())  # the legacy tuple
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(position), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


# ----------------------------------------------------------------------------- loading


def load_checkpoint(learner: Any, path: Path) -> dict[str, Any]:
    """Restore the learner, the RNG states and the trainer state from ``path``; returns the
    trainer state (``step``, ``eval_before``, ...). Reads only safetensors and JSON."""
    acc = learner.accelerator
    rank = acc.process_index
    manifest = read_manifest(path)
    modules = learner_modules(learner)
    if sorted(modules) != sorted(manifest["parts"]):
        raise CheckpointError(
            f"{path} holds the parts {sorted(manifest['parts'])}, this run has {sorted(modules)}; "
            "resume with the settings the run was started with (algo, critic, kl_coef, lora_r, bc_steps)"
        )
    sharded = set(manifest["sharded"])
    if sharded and manifest["processes"] != acc.num_processes:
        raise CheckpointError(
            f"{path} holds FSDP shards of {manifest['processes']} processes; resume with {manifest['processes']} processes, not {acc.num_processes}"
        )
    for name, module in modules.items():
        load_module(module, path / _file(name, rank if name in sharded else None))
    load_optimizer(learner.optimizer, path / _file("optimizer", rank if "optimizer" in sharded else None), _read_json(path / "optimizer.json"))
    if learner.scheduler is not None:
        learner.scheduler.load_state_dict(_read_json(path / "scheduler.json"))
    if getattr(acc, "scaler", None) is not None and (path / "grad_scaler.json").exists():
        acc.scaler.load_state_dict(_read_json(path / "grad_scaler.json"))
    rng = path / f"rng.rank{rank}.json"
    if rng.exists():
        set_rng_state(_read_json(rng))
    else:
        print(f"resume: {path} has no RNG state of process {rank} (written by {manifest['processes']} processes); it keeps its seeded one")
    state = _read_json(path / TRAINER_STATE)
    if acc.is_main_process:
        print(f"resumed from {path} at step {state['step']}")
    return state


def read_manifest(path: Path) -> dict[str, Any]:
    """The checkpoint's ``checkpoint.json``; a folder without one is refused, unread."""
    manifest = path / MANIFEST
    if not manifest.exists():
        raise CheckpointError(
            f"{path} has no {MANIFEST}: it was written by an older zerosearch-env with accelerate's save_state, whose "
            "optimizer, scheduler, RNG and reference files are pickles that can run code when loaded, so it is not "
            "loaded; start the run again in a new --out-dir (or delete the checkpoints folder)"
        )
    values = _read_json(manifest)
    if values.get("format") != FORMAT:
        raise CheckpointError(f"{manifest}: format {values.get('format')!r} is not {FORMAT!r}; it was written by another version")
    return values


def load_module(module: Any, path: Path) -> None:
    """Copy the tensors of ``path`` into ``module``'s own (its shards under FSDP), in place."""
    import torch
    from safetensors import safe_open

    targets = module.state_dict()
    with safe_open(str(path), framework="pt", device="cpu") as saved:
        names = set(saved.keys())
        aliases = json.loads((saved.metadata() or {}).get("aliases", "{}"))
        missing, unexpected = sorted(set(targets) - names - set(aliases)), sorted(names - set(targets))
        if missing or unexpected:
            raise CheckpointError(
                f"{path} does not fit this run's model (missing {missing[:3]}, unexpected {unexpected[:3]}); "
                "resume with the policy and settings the run was started with"
            )
        with torch.no_grad():
            for name in names:
                target, tensor = _local(targets[name]), saved.get_tensor(name)
                if target.shape != tensor.shape:
                    raise CheckpointError(f"{path}: {name} has shape {tuple(tensor.shape)}, this run's model {tuple(target.shape)}")
                target.copy_(tensor)
    for name, source in aliases.items():
        if _local(targets[name]).data_ptr() != _local(targets[source]).data_ptr():
            raise CheckpointError(f"{path}: {name} was saved tied to {source}, and this run's model does not tie them")


def load_optimizer(optimizer: Any, path: Path, rest: dict[str, Any]) -> None:
    """The optimizer's state from its tensors (``path``) and ``rest`` (optimizer.json).

    JSON has no tuples: a group value that is a tuple in the live optimizer (betas) is
    made one again, so the restored groups equal the saved ones."""
    from safetensors import safe_open

    live = optimizer.state_dict()["param_groups"]
    groups = rest["param_groups"]
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in live]:
        raise CheckpointError(f"{path}: the optimizer's parameter groups do not fit this run's; resume with the settings the run was started with")
    groups = [{k: tuple(v) if isinstance(now.get(k), tuple) else v for k, v in group.items()} for group, now in zip(groups, live)]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    with safe_open(str(path), framework="pt", device="cpu") as saved:
        for name in saved.keys():  # noqa: SIM118 - safetensors' safe_open has keys() but is not iterable
            index, key = name.split(".", 1)
            tensor = saved.get_tensor(name)
            state.setdefault(int(index), {})[key] = _as_shard(tensor, params[int(index)]) if name in rest["shards"] else tensor
    for name, value in rest["values"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states of :func:`rng_state` (CUDA's on the devices this machine has)."""
    import torch

    python, numpy = state["python"], state["numpy"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    np.random.set_state((numpy["kind"], np.asarray(numpy["keys"], dtype=np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        for device, values in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(torch.tensor(values, dtype=torch.uint8), device)


# ----------------------------------------------------------------------------- files


def _file(name: str, rank: int | None) -> str:
    """A part's tensor file: shared, or one per process for FSDP shards."""
    return f"{name}.safetensors" if rank is None else f"{name}.rank{rank}.safetensors"


def _is_shard(tensor: Any) -> bool:
    return hasattr(tensor, "full_tensor")  # an FSDP2 DTensor


def _local(tensor: Any) -> Any:
    """This process's data of ``tensor``: an FSDP shard's own piece (sharing its memory), else the tensor."""
    return tensor.to_local() if _is_shard(tensor) else tensor


def _as_shard(local: Any, param: Any) -> Any:
    """``local`` as this process's shard of a tensor laid out like ``param`` (a DTensor)."""
    from torch.distributed.tensor import DTensor

    device = _local(param).device
    return DTensor.from_local(local.to(device), param.device_mesh, param.placements, run_check=False, shape=param.shape, stride=param.stride())


def _write_tensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)


def _write_json(path: Path, values: Any, indent: int | None = 1) -> None:
    try:
        text = json.dumps(values, indent=indent)
    except TypeError as error:  # a value JSON cannot hold would need a pickle: refuse it here, not at resume
        raise CheckpointError(f"cannot write {path.name} as JSON ({error})") from error
    path.write_text(text + "\n")


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete")
    return json.loads(path.read_text())
