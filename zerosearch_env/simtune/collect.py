"""Collect real-search trajectories: an evaluation agent plays a real engine over a question set.

This is ``zerosearch eval`` (:func:`~zerosearch_env.evaluation.harness.run_eval`: the same
episode loop, resumable folder, trajectories with the documents of every search and
report), pointed at what simulation tuning needs:

- a **real** engine: ``bm25`` or ``retriever:<url>``, which read the query and nothing else.
  An engine that is told the answer (``corpus``, an LLM simulator) is not real search:
  a simulator tuned on its documents imitates that simulator. Collecting from one is
  allowed, with a warning (:func:`collect_warnings`);
- the **train** split of the synthetic world by default (an evaluation plays ``test``);
- **many worlds** with ``world_seeds``: each seed is a new synthetic world, new names
  and new facts, whose ``train`` questions are played against BM25 over that world's own
  corpus, into ``<out>/world-<seed>/``. A simulator tuned on one world can lower its
  loss by memorising that world's facts; over many worlds the only way is to copy the
  names and the answer from its prompt, which is what it must do at run time.

World seed 0 is the default world, the one ``zerosearch eval`` and ``zerosearch
fidelity`` score on: keep its ``test`` split held out (collecting it is warned about),
and leave seed 0 out of ``world_seeds`` altogether to evaluate the tuned simulator on a
world it has never seen.

Each folder also gets :data:`MANIFEST`: the engine it was collected against (and the
world seed), so that ``label --noisy-share`` can ask the same engine again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data import SYNTHETIC, is_synthetic, synthetic_world
from ..errors import ConfigError
from ..evaluation.config import EvalConfig, EvalResult, redacted, setting_label
from ..evaluation.store import read_settings, write_atomically
from ..simulators.registry import is_query_only

if TYPE_CHECKING:
    from ..evaluation.episodes import Agent
    from ..simulators.base import Simulator

logger = logging.getLogger(__name__)

MANIFEST = "collect.json"
"""Written into each collection folder: the engine and the world seed."""
EVAL_CONFIG = "eval_config.json"
"""What ``zerosearch eval --out`` writes into its folder (read for the engine of a plain evaluation folder)."""
HELD_OUT_WORLD = 0
"""The default synthetic world's seed: its ``test`` split is the evaluation set."""


@dataclass
class CollectResult:
    """The folders written, one evaluation result each, and the warnings."""

    folders: list[Path]
    results: list[EvalResult]
    warnings: list[str] = field(default_factory=list)

    @property
    def trajectories(self) -> list[Path]:
        return [folder / "trajectories.jsonl" for folder in self.folders]

    @property
    def episodes(self) -> int:
        return sum(len(result.records) for result in self.results)

    @property
    def searches(self) -> int:
        return sum(int(record.get("searches", 0)) for result in self.results for record in result.records)


def world_folder(out_dir: str | Path, seed: int) -> Path:
    """The sub-folder of world ``seed``'s trajectories."""
    return Path(out_dir) / f"world-{seed}"


def collect(
    agent: Agent,
    config: EvalConfig,
    out_dir: str | Path,
    *,
    world_seeds: Sequence[int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> CollectResult:
    """Play ``agent`` over ``config``'s questions and keep the trajectories in ``out_dir``
    (resumable, as ``zerosearch eval --out``); with ``world_seeds``, over the ``train``
    split of each synthetic world, one sub-folder per seed (:func:`world_folder`).

    ``config.env.split`` None means ``train`` of the synthetic world (every row of a file).
    """
    legs = collection_legs(config, out_dir, world_seeds)
    warnings = collect_warnings(config, world_seeds)
    for warning in warnings:
        logger.warning(warning)
    from ..evaluation.harness import run_eval

    results = []
    for folder, leg, seed in legs:
        _claim_manifest(folder, manifest(leg, seed), overwrite)
        results.append(run_eval(agent, leg, folder, overwrite=overwrite, progress=progress))
    return CollectResult([folder for folder, _, _ in legs], results, warnings)


def collection_legs(config: EvalConfig, out_dir: str | Path, world_seeds: Sequence[int] | None) -> list[tuple[Path, EvalConfig, int | None]]:
    """(folder, evaluation, world seed) of each run a collection makes."""
    env = config.env
    if world_seeds is None:
        if is_synthetic(env.dataset) and env.split is None:
            env = dataclasses.replace(env, split="train")
        return [(Path(out_dir), dataclasses.replace(config, env=env), _world_seed(env.dataset))]
    if not world_seeds:
        raise ConfigError("world_seeds expects at least one seed, or None for the configured dataset")
    if not (isinstance(env.dataset, str) and env.dataset == SYNTHETIC) or env.corpus is not None:
        raise ConfigError(
            f"world_seeds plays synthetic worlds against their own corpus; got dataset={setting_label(env.dataset)!r}, "
            f"corpus={env.corpus!r}: leave both at their defaults, or drop world_seeds"
        )
    if len(set(world_seeds)) != len(world_seeds) or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in world_seeds):
        raise ConfigError(f"world_seeds expects distinct ints >= 0, got {list(world_seeds)}")
    from ..worlds.synthetic import make_world

    legs: list[tuple[Path, EvalConfig, int | None]] = []
    for seed in world_seeds:
        world: Any = make_world(seed=seed)  # dataset takes a world object too; its annotation is the flag's type
        world_env = dataclasses.replace(env, dataset=world, split=env.split or "train")
        legs.append((world_folder(out_dir, seed), dataclasses.replace(config, env=world_env), seed))
    return legs


def collect_warnings(config: EvalConfig, world_seeds: Sequence[int] | None = None) -> list[str]:
    """What is wrong with collecting this way, in plain words (empty when nothing is)."""
    from ..worlds.synthetic import WorldConfig

    warnings = []
    sim = config.env.sim
    if not is_query_only(sim):
        warnings.append(
            f"sim={setting_label(sim)} is not a real search engine: it reads the golden answers (and hides them in noisy "
            "mode), so a simulator tuned on its documents learns to imitate it, not real search. "
            "Collect against bm25 or retriever:<url>."
        )
    if world_seeds is not None:
        evaluation_world = HELD_OUT_WORLD in world_seeds
    else:
        world = synthetic_world(config.env.dataset)
        evaluation_world = world is not None and world.config == WorldConfig(seed=HELD_OUT_WORLD)
    if evaluation_world and config.env.split == "test":
        warnings.append(
            f"this collects the test split of world seed {HELD_OUT_WORLD}, the held-out evaluation set of zerosearch eval "
            "and fidelity: a simulator tuned on it has seen the test answers. Collect the train split."
        )
    elif evaluation_world and world_seeds is not None:
        warnings.append(
            f"world seed {HELD_OUT_WORLD} is the evaluation world: a simulator tuned on its train split has seen its names "
            f"and documents, so a fidelity score on its test split is no longer on an unseen world. Use seeds >= 1."
        )
    return warnings


def manifest(config: EvalConfig, world_seed: int | None) -> dict[str, Any]:
    """What :data:`MANIFEST` holds: the engine (``sim``, ``sim_backend``, ``corpus``,
    ``sim_kwargs`` less secrets), whether it is query-only, the world (its seed and
    sizes), the split and ``topk``."""
    env = config.env
    world = synthetic_world(env.dataset)
    return {
        "sim": setting_label(env.sim),
        "query_only": is_query_only(env.sim),
        "sim_backend": env.sim_backend,
        "corpus": setting_label(env.corpus) if not isinstance(env.corpus, Path) else str(env.corpus),
        "sim_kwargs": redacted(dict(env.sim_kwargs)),
        "world_seed": world_seed,
        "world": None if world is None else dataclasses.asdict(world.config),
        "dataset": setting_label(env.dataset) if world is None else f"synthetic world {world.config.seed}",
        "split": config.split,
        "topk": env.topk,
    }


def _world_seed(dataset: Any) -> int | None:
    world = synthetic_world(dataset)
    return None if world is None else world.config.seed


def _claim_manifest(folder: Path, values: dict[str, Any], overwrite: bool) -> None:
    """Write :data:`MANIFEST`; refuse a folder collected from another world or engine
    unless ``overwrite`` (the evaluation's own check cannot tell two worlds apart)."""
    path = folder / MANIFEST
    if path.exists() and not overwrite and (folder / "trajectories.jsonl").exists():
        old = read_settings(path)
        changed = [k for k in ("sim", "corpus", "world_seed", "split") if old.get(k) != values.get(k)]
        if changed:
            details = ", ".join(f"{k}: {old.get(k)!r} -> {values.get(k)!r}" for k in changed)
            raise ConfigError(f"{folder} holds a collection with other settings ({details}); pass a new --out folder, or --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(json.loads(json.dumps(values, default=str)), indent=2) + "\n")


# ----------------------------------------------------------------------------- reading a folder back


def _folder_settings(folder: Path) -> dict[str, Any] | None:
    """The engine settings of a collection folder (:data:`MANIFEST`), or of an evaluation
    folder (:data:`EVAL_CONFIG`, whose ``synthetic`` dataset is world seed 0), or None."""
    if (folder / MANIFEST).is_file():
        return read_settings(folder / MANIFEST)
    if (folder / EVAL_CONFIG).is_file():
        settings = read_settings(folder / EVAL_CONFIG)
        settings["world_seed"] = HELD_OUT_WORLD if settings.get("dataset") == SYNTHETIC else None
        return settings
    return None


def collected_sim(folder: str | Path) -> str | None:
    """The ``sim`` a folder's trajectories were played against, when its files say."""
    settings = _folder_settings(Path(folder))
    return None if settings is None else settings.get("sim")


def collected_engine(folder: str | Path) -> Simulator:
    """The engine a folder's trajectories were played against, built again (for mixing:
    the same engine asked again). Needs :data:`MANIFEST` or :data:`EVAL_CONFIG`, a named
    ``sim``, and its documents: the world seed, or a ``corpus`` file."""
    from ..simulators.registry import make_simulator

    path = Path(folder)
    settings = _folder_settings(path)
    if settings is None:
        raise ConfigError(
            f"{path} has neither {MANIFEST} nor {EVAL_CONFIG}, so the engine its trajectories came from is unknown; "
            "collect with zerosearch simtune collect, or pass the engine to mix_noisy yourself"
        )
    sim, corpus, seed = settings.get("sim"), settings.get("corpus"), settings.get("world_seed")
    if not isinstance(sim, str) or sim.startswith("<") or (isinstance(corpus, str) and corpus.startswith("<")):
        raise ConfigError(f"{path}: the engine ({sim!r}, corpus {corpus!r}) was an object, not a name; pass it to mix_noisy yourself")
    world = None
    if corpus is None:
        if seed is None:
            raise ConfigError(f"{path}: neither a world seed nor a corpus file is recorded, so the engine's documents are unknown")
        from ..worlds.synthetic import make_world

        sizes = {k: v for k, v in (settings.get("world") or {}).items() if k != "seed"}
        world = make_world(seed=seed, **sizes)
    kwargs = dict(settings.get("sim_kwargs") or {})
    if sim == "bm25":
        kwargs.setdefault("show_progress", False)
    return make_simulator(sim, sim_backend=settings.get("sim_backend"), corpus=corpus, world=world, **kwargs)
