"""Copies of a simulator taken while it trains (``simtune train --snapshot-minutes``).

One fidelity score at the end of a run cannot say when a recipe started to work or
whether it was still improving; a few loadable copies along the way can
(:mod:`.curve` scores them). Each copy is an ordinary simulator folder under
``OUT/snapshots/NN-min-M/``, with ``snapshot.json`` saying at which minute and step it
was taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SNAPSHOTS = "snapshots"
SNAPSHOT_INFO = "snapshot.json"


def save_snapshot(model: Any, tokenizer: Any, folder: Path, info: dict[str, Any], *, save: Callable[[Any, Any, Path], None]) -> Path:
    """A loadable copy of the model in training (LoRA merged into a copy, the training
    model untouched) in ``folder``, written by ``save`` (the trainer's own saving), with
    ``snapshot.json`` saying when it was taken."""
    import copy

    use_cache = model.config.use_cache
    saved = copy.deepcopy(model).merge_and_unload() if hasattr(model, "merge_and_unload") else model
    generation_config = copy.deepcopy(saved.generation_config) if saved is model else None
    save(saved, tokenizer, folder)
    if saved is model:  # what saving set for generation is put back
        model.config.use_cache, model.generation_config = use_cache, generation_config
    (folder / SNAPSHOT_INFO).write_text(json.dumps(info) + "\n")
    return folder
