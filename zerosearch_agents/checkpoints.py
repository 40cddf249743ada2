"""Checkpoints in the run folder: saving one, finding the latest, loading it to resume.

A checkpoint ``<out_dir>/checkpoints/step_<step>`` is accelerate's state (model,
optimizer, scheduler, RNG states and the reference model registered for checkpointing)
plus ``trainer_state.json``: the step reached, the held-out scores so far and the warm
start's final loss. Everything else a step needs is drawn from ``(seed, step)``, so this
is enough to continue exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"


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


def save_checkpoint(accelerator: Any, out_dir: Path, step: int, state: dict[str, Any]) -> Path:
    """Accelerate's state and the trainer state ``state`` as the checkpoint of ``step``."""
    path = out_dir / CHECKPOINTS / f"step_{step:06d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps(state, indent=2))
    return path


def load_checkpoint(accelerator: Any, path: Path) -> dict[str, Any]:
    """Restore accelerate's state from ``path``; returns its trainer state (``step``, ``eval_before``, ...)."""
    accelerator.load_state(str(path))
    state = json.loads((path / "trainer_state.json").read_text())
    if accelerator.is_main_process:
        print(f"resumed from {path} at step {state['step']}")
    return state
