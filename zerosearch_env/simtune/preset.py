"""``zerosearch simtune run --preset cpu-demo``: the whole loop on a laptop CPU, then its scores.

collect -> label -> train -> measure, each step the command a user would run:

1. **collect**: the scripted agent against ``bm25`` on the train questions of several
   synthetic worlds (new seeds: new names), one document per search, as the CPU-demo
   policy searches;
2. **label**: ``presence`` labels (useful sets hold a golden answer), and a noisy twin
   for every useful set (the same query asked of the same engine again, answer-bearing
   documents removed): pairs that differ only where the answer was;
3. **train**: a small Llama from scratch (0.8M parameters), with a byte-level tokenizer
   learned from the examples (one token per digit), on the documents only, for at most
   15 minutes on one CPU thread. It is sampled at temperature 0.3: a model this small
   copies a name or a year from its prompt more faithfully when it samples less;
4. **measure**: ``zerosearch fidelity`` against ``bm25`` on the held-out world (seed 0,
   test split: a world the simulator never saw), and the scripted agent's F1 with the
   tuned simulator at difficulty 0 and 1. The figures go into the model card.

Every step writes a folder under ``out_dir``, and rerunning resumes it (collect and
fidelity resume their searches; a finished label or train step is kept unless
``overwrite``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .train import SimTuneConfig


@dataclass(frozen=True)
class SimTunePreset:
    """The settings of every step of one preset."""

    world_seeds: tuple[int, ...]
    topk: int
    labeller: str
    noisy_share: float | None
    twin_every_useful: bool
    train: SimTuneConfig
    sim_kwargs: dict[str, Any] = field(default_factory=dict)  # the tuned simulator's, when measured
    eval_questions: int | None = None  # held-out questions measured (None: all)


PRESETS: dict[str, SimTunePreset] = {
    "cpu-demo": SimTunePreset(
        world_seeds=(1, 2, 3, 4, 5, 6, 7, 8),
        topk=1,
        labeller="presence",
        noisy_share=None,
        twin_every_useful=True,
        train=SimTuneConfig(
            model="tiny",
            tiny_hidden_size=128,
            tiny_layers=4,
            tiny_heads=4,
            tiny_mlp_ratio=2,
            tiny_vocab_size=1024,
            tiny_split_digits=True,
            learning_rate=3e-3,
            batch_size=16,
            max_steps=3000,
            max_minutes=15.0,
            max_length=512,
            eval_share=0.02,
            warmup_share=0.03,
            torch_threads=1,
        ),
        sim_kwargs={"max_new_tokens": 128, "batch_size": 64, "temperature": 0.3},
        eval_questions=None,
    ),
    "cpu-smol": SimTunePreset(
        world_seeds=(1, 2, 3),
        topk=1,
        labeller="presence",
        noisy_share=None,
        twin_every_useful=True,
        # Every layer trained (attempt 5 in docs/simulation-tuning.md): its modes separated between steps 99 and 221.
        # About 7 steps a minute alone on 2 cores: a 220-step schedule ends its decay within the 30 minutes.
        train=SimTuneConfig(
            model="smollm2-135m",
            pair_twins=True,
            answer_first=True,
            learning_rate=2e-4,
            batch_size=8,
            max_steps=220,
            max_minutes=30.0,
            max_length=256,
            eval_share=0.01,
            warmup_share=0.05,
            torch_threads=2,
        ),
        sim_kwargs={"max_new_tokens": 96, "batch_size": 32, "temperature": 0.3},
        eval_questions=200,
    ),
}


@dataclass
class PresetResult:
    """Where each step wrote, and what the tuned simulator scored."""

    out_dir: Path
    model_dir: Path
    figures: dict[str, Any]
    wall_s: float


def preset(name: str) -> SimTunePreset:
    if name not in PRESETS:
        raise ConfigError(f"unknown simtune preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


def run_preset(
    name: str,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    world_seeds: tuple[int, ...] | None = None,
    eval_questions: int | None = None,
    **train_overrides: Any,
) -> PresetResult:
    """Run every step of preset ``name`` into ``out_dir`` (``collect/``, ``labels/``,
    ``model/``, then the measurements) and write ``figures.json`` there. ``world_seeds``,
    ``eval_questions`` and ``train_overrides`` (``SimTuneConfig`` fields) replace the
    preset's for a shorter run. The folder is held for the whole run (one writer at a time)."""
    from ..env_config import EnvConfig
    from ..evaluation import EvalConfig, ScriptedBatchAgent
    from ..evaluation.store import folder_lock
    from .card import add_fidelity
    from .collect import collect
    from .labels import LabelConfig, label_files
    from .train import train_simulator

    with folder_lock(Path(out_dir), f"simtune run --preset {name}"):
        started = time.perf_counter()
        settings = preset(name)
        if world_seeds is not None:
            settings = replace(settings, world_seeds=tuple(world_seeds))
        if eval_questions is not None:
            settings = replace(settings, eval_questions=eval_questions)
        out = Path(out_dir)
        collected = collect(
            ScriptedBatchAgent(), EvalConfig(EnvConfig(sim="bm25", topk=settings.topk)), out / "collect",
            world_seeds=list(settings.world_seeds), overwrite=overwrite, progress=progress,
        )  # fmt: skip
        examples = out / "labels" / "examples.jsonl"
        if overwrite or not examples.exists():
            labels = LabelConfig(labeller=settings.labeller, noisy_share=settings.noisy_share, twin_every_useful=settings.twin_every_useful)
            label_files(collected.folders, examples, labels, overwrite=True)
        model = out / "model"
        if overwrite or not (model / "config.json").exists():
            # no finished model here (or --overwrite): what an interrupted run left is replaced
            train_simulator(replace(settings.train, examples=str(examples), out_dir=str(model), overwrite=True, **train_overrides), progress=progress)
        figures = measure(model, settings, out, overwrite=overwrite, progress=progress)
        add_fidelity(model, figures)
        result = PresetResult(out, model, figures, time.perf_counter() - started)
        (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
        return result


def measure(model: Path, settings: SimTunePreset, out: Path, *, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """The tuned simulator's fidelity against bm25 on the held-out world, and the scripted
    agent's F1 with it as the environment's engine at difficulty 0 and 1."""
    from ..env_config import EnvConfig
    from ..evaluation import EvalConfig, ScriptedBatchAgent, run_eval
    from ..evaluation.fidelity import FidelityConfig, run_fidelity

    engine_options: dict[str, Any] = {"sim_backend": "hf", "sim_kwargs": dict(settings.sim_kwargs)}
    baseline = run_eval(
        ScriptedBatchAgent(), EvalConfig(EnvConfig(sim="bm25", topk=settings.topk), limit=settings.eval_questions), out / "heldout-bm25",
        overwrite=overwrite, progress=progress,
    )  # fmt: skip
    assert baseline.out_dir is not None  # run_eval was given its folder
    fidelity = run_fidelity(
        [str(model)],
        FidelityConfig(topk=settings.topk, limit=settings.eval_questions, queries=[str(baseline.out_dir / "trajectories.jsonl")], **engine_options),
        out / "fidelity", overwrite=overwrite, progress=progress,
    )  # fmt: skip
    tuned = fidelity.engines[0]
    useful, noisy = tuned.mode("useful"), tuned.mode("noisy")
    scripted = {}
    for difficulty in (0.0, 1.0):
        env = EnvConfig(sim=str(model), topk=settings.topk, **engine_options)
        result = run_eval(
            ScriptedBatchAgent(), EvalConfig(env, difficulty=difficulty, limit=settings.eval_questions), out / f"scripted-difficulty-{difficulty:g}",
            overwrite=overwrite, progress=progress,
        )  # fmt: skip
        scripted[difficulty] = result.summaries[-1].f1.mean
    return {
        "measured": "against bm25 on the held-out world (seed 0, test split), top-1, questions and the scripted agent's bm25 searches",
        "format valid (useful / noisy)": f"{useful.format_valid.mean:.3f} / {noisy.format_valid.mean:.3f}",
        "answer presence, useful": str(useful.answer_presence),
        "answer presence, useful, single-hop": f"{useful.presence_by_source.get('synthetic-single', float('nan')):.3f}",
        "leak, noisy": str(noisy.answer_presence),
        "separation (useful - noisy)": str(tuned.separation),
        "bm25's own answer presence": str(fidelity.reference.modes[0].answer_presence),
        "overlap with bm25 (useful)": str(useful.overlap),
        "words per document (useful)": f"{useful.words_per_document.mean:.1f}",
        "reader F1, useful / noisy / on bm25": f"{useful.reader_f1.mean:.3f} / {noisy.reader_f1.mean:.3f} / {useful.reference_reader_f1.mean:.3f}",
        "scripted agent F1 with it, difficulty 0 / 1": f"{scripted[0.0]:.3f} / {scripted[1.0]:.3f}",
    }
