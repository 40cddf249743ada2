"""Run an agent over a question set and keep every trajectory.

Episodes are played in waves of ``batch_size`` in the native vector env, so every search
of a turn reaches the simulator (or retriever) in one call. Episode ``i`` plays dataset
row ``i`` with its own seed (derived from the run's seed and ``i``), so an episode does
not depend on which wave it ran in: a resumed run gives the same trajectories as an
uninterrupted one. Each finished episode is appended to ``trajectories.jsonl`` at once;
an interrupted run continues from the episodes already written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .agents import Agent, EpisodeView
from .metrics import SourceSummary, summarize

TRAJECTORIES = "trajectories.jsonl"
RUN_CONFIG = "eval_config.json"

#: Settings that must match for a run folder to be resumed. ``limit`` and ``sample`` are
#: not among them: an episode depends only on its row and these, so a larger ``--limit``
#: reuses the episodes already played.
_IDENTITY = ("agent", "dataset", "split", "sim", "corpus", "difficulty", "max_turns", "topk", "seed", "prompt_template")


@dataclass
class EvalConfig:
    """One evaluation: which questions, which search engine, which budget.

    ``sim`` is any ``sim=`` of the environment: ``"bm25"`` or ``"retriever:<url>"`` (real
    retrievers that never see the answer), ``"corpus"`` or an LLM simulator (which are
    told the golden answer: a training device, so their scores are an upper bound).
    ``limit`` keeps the first N selected rows; ``sample`` draws N rows at random with
    ``seed`` first. ``split`` defaults to ``"test"`` for the synthetic world and to every
    row of a file.
    """

    dataset: Any = "synthetic"
    split: str | None = None
    sim: Any = "corpus"
    corpus: Any = None
    difficulty: float = 0.0
    max_turns: int = 5
    topk: int = 5
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    batch_size: int = 64
    sim_backend: str | None = None
    sim_kwargs: dict[str, Any] = field(default_factory=dict)
    prompt_template: str | None = None
    bootstrap_resamples: int = 1000

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size expects a positive int, got {self.batch_size!r}")
        for name in ("limit", "sample"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} expects a positive int or None, got {value!r}")
        if not 0.0 <= self.difficulty <= 1.0:
            raise ConfigError(f"difficulty expects a noise probability in [0, 1], got {self.difficulty!r}")

    @property
    def resolved_split(self) -> str | None:
        return self.split if self.split is not None or self.dataset != "synthetic" else "test"

    def env_kwargs(self) -> dict[str, Any]:
        return dict(
            sim=self.sim,
            dataset=self.dataset,
            split=self.resolved_split,
            corpus=self.corpus,
            difficulty=self.difficulty,
            max_turns=self.max_turns,
            topk=self.topk,
            sim_backend=self.sim_backend,
            sim_kwargs=self.sim_kwargs or None,
            prompt_template=self.prompt_template,
        )


@dataclass
class EvalResult:
    """What :func:`run_eval` returns: summaries, the trajectories, where they are."""

    summaries: list[SourceSummary]
    records: list[dict[str, Any]]
    out_dir: Path | None
    resumed_episodes: int = 0
    wall_s: float = 0.0


def select_rows(count: int, limit: int | None, sample: int | None, seed: int) -> list[int]:
    """Row indices to evaluate: all, or ``sample`` at random (sorted), then the first ``limit``.

    >>> select_rows(10, 3, None, 0)
    [0, 1, 2]
    >>> select_rows(10, None, 4, 0) == select_rows(10, None, 4, 0)
    True
    """
    indices = list(range(count))
    if sample is not None and sample < count:
        indices = sorted(np.random.default_rng(seed).choice(count, size=sample, replace=False).tolist())
    return indices[:limit] if limit is not None else indices


def episode_seed(run_seed: int, index: int) -> int:
    """The environment seed of the episode on row ``index``: independent of batching."""
    return run_seed * 2**32 + index


def run_eval(
    agent: Agent,
    config: EvalConfig,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> EvalResult:
    """Play ``agent`` on the selected rows; write trajectories and return the scores.

    With ``out_dir``, finished episodes are appended to ``trajectories.jsonl`` one by
    one, and a second call with the same settings skips them (resume). A folder written
    with other settings is refused unless ``overwrite``.
    """
    from tqdm.auto import tqdm

    from ..vector import ZeroSearchVectorEnv

    started = time.perf_counter()
    agent_name = getattr(agent, "name", type(agent).__name__)
    store = _TrajectoryStore(Path(out_dir), _identity(config, agent_name), overwrite) if out_dir is not None else None
    done = store.load() if store is not None else {}
    resumed = len(done)

    # One vector env for the whole run: the simulator (an LLM engine, an index) loads once.
    # Sub-envs are cheap siblings; in the last, partial wave the extra ones sit idle.
    envs = ZeroSearchVectorEnv(num_envs=config.batch_size, **config.env_kwargs())
    rows = envs.envs[0].rows
    selected = select_rows(len(rows), config.limit, config.sample, config.seed)
    todo = [i for i in selected if i not in done]

    bar = tqdm(total=len(selected), initial=len(selected) - len(todo), desc=f"eval {agent_name}", unit="ep", disable=not progress)
    try:
        for start in range(0, len(todo), config.batch_size):
            wave = todo[start : start + config.batch_size]
            for record in _play_wave(envs, agent, rows, wave, config.seed):
                done[record["index"]] = record
                if store is not None:
                    store.append(record)
                bar.update(1)
    finally:
        bar.close()
        envs.close()

    records = [done[i] for i in selected if i in done]
    summaries = summarize(records, seed=config.seed, resamples=config.bootstrap_resamples)
    result = EvalResult(summaries, records, store.out_dir if store else None, resumed, time.perf_counter() - started)
    if store is not None:
        from .report import write_report

        write_report(result, config, agent_name)
    return result


def _play_wave(envs: Any, agent: Agent, rows: Sequence[Any], wave: list[int], run_seed: int) -> list[dict[str, Any]]:
    """Play one episode per index of ``wave`` (sub-envs past the wave sit idle)."""
    n = envs.num_envs
    padded = wave + [wave[0]] * (n - len(wave))
    observations, infos = envs.reset(seed=[episode_seed(run_seed, i) for i in padded], options={"index": padded})
    live = list(range(len(wave)))
    views = {slot: EpisodeView(wave[slot], observations[slot]) for slot in live}
    turns: dict[int, list[dict[str, Any]]] = {slot: [] for slot in live}
    finished: list[dict[str, Any]] = []
    while live:
        batch = [views[slot] for slot in live]
        actions = agent.act(batch)
        if not isinstance(actions, (list, tuple)) or len(actions) != len(batch) or not all(isinstance(a, str) for a in actions):
            raise ConfigError(
                f"agent {getattr(agent, 'name', agent)!r} must return one str per episode: got "
                f"{type(actions).__name__} of {len(actions) if hasattr(actions, '__len__') else '?'} for {len(batch)} episodes"
            )
        step_actions: list[str | None] = [None] * n
        for slot, action in zip(live, actions):
            step_actions[slot] = action
        observations, rewards, terminated, truncated, infos = envs.step(step_actions)
        still_live = []
        for slot, action in zip(live, actions):
            turns[slot].append(_turn_record(action, observations[slot], infos, slot))
            if terminated[slot] or truncated[slot]:
                finished.append(_episode_record(rows, wave[slot], run_seed, turns[slot], infos, slot, bool(truncated[slot])))
                forget = getattr(agent, "forget", None)
                if callable(forget):
                    forget(wave[slot])
            else:
                view = views[slot]
                kept = action[: len(action) - len(infos["ignored_text"][slot] or "")]
                views[slot] = EpisodeView(view.episode_id, view.prompt, view.turns + (kept,), view.observations + (observations[slot],))
                still_live.append(slot)
        live = still_live
    return finished


def _turn_record(action: str, observation: str, infos: dict[str, Any], slot: int) -> dict[str, Any]:
    record: dict[str, Any] = {"action": action, "kind": infos["action"][slot]}
    if infos["query"][slot] is not None:
        record["query"] = infos["query"][slot]
    if infos["documents"][slot] is not None:
        record["documents"] = list(infos["documents"][slot])
        record["doc_quality"] = infos["doc_quality"][slot]
    if infos["sim_error"][slot] is not None:
        fault = infos["sim_error"][slot]
        record["sim_error"] = f"{fault.kind}: {fault.message}"
    if infos["answer"][slot] is not None:
        record["answer"] = infos["answer"][slot]
    if observation:
        record["observation"] = observation
    return record


def _episode_record(
    rows: Sequence[Any], index: int, run_seed: int, turns: list[dict[str, Any]], infos: dict[str, Any], slot: int, truncated: bool
) -> dict[str, Any]:
    row = rows[index]
    return {
        "index": index,
        "id": row.id,
        "data_source": row.data_source,
        "question": row.question,
        "golden_answers": list(row.golden_answers),
        "seed": episode_seed(run_seed, index),
        "answer": infos["answer"][slot],
        "em": float(infos["em"][slot] or 0.0),
        "cover_em": float(infos["cover_em"][slot] or 0.0),
        "f1": float(infos["f1"][slot] or 0.0),
        "truncated": truncated,
        "searches": int(infos["searches"][slot]),
        "noisy_searches": int(infos["noisy_searches"][slot]),
        "invalid_turns": sum(turn["kind"] == "invalid" for turn in turns),
        "sim_prompt_tokens": int(infos["episode_sim_prompt_tokens"][slot]),
        "sim_completion_tokens": int(infos["episode_sim_completion_tokens"][slot]),
        "turns": turns,
    }


def _identity(config: EvalConfig, agent_name: str) -> dict[str, Any]:
    settings = {**asdict(config), "agent": agent_name, "split": config.resolved_split}
    return {key: setting_label(settings[key]) for key in _IDENTITY}


def setting_label(value: Any) -> Any:
    """A setting as run folders and reports record it: objects (a simulator object,
    in-memory rows) by name, everything else as it is."""
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return getattr(value, "name", None) or f"<{type(value).__name__}>"


class _TrajectoryStore:
    """``trajectories.jsonl`` plus the settings it was written with, for resuming."""

    def __init__(self, out_dir: Path, identity: dict[str, Any], overwrite: bool):
        self.out_dir = out_dir
        self.path = out_dir / TRAJECTORIES
        self.identity = identity
        out_dir.mkdir(parents=True, exist_ok=True)
        config_path = out_dir / RUN_CONFIG
        if overwrite:
            self.path.unlink(missing_ok=True)
        elif config_path.exists() and self.path.exists():
            saved = json.loads(config_path.read_text())
            changed = {k: (saved.get(k), v) for k, v in identity.items() if saved.get(k) != v}
            if changed:
                details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
                raise ConfigError(
                    f"{out_dir} holds an evaluation with other settings ({details}); "
                    "pass a new --out folder, or --overwrite to start this one again"
                )
        config_path.write_text(json.dumps(identity, indent=2) + "\n")

    def load(self) -> dict[int, dict[str, Any]]:
        """Episodes already written; a line cut short by an interruption is dropped."""
        if not self.path.exists():
            return {}
        done: dict[int, dict[str, Any]] = {}
        raw = self.path.read_bytes()
        good = raw[: raw.rfind(b"\n") + 1]  # everything up to the last complete line
        if len(good) != len(raw):
            self.path.write_bytes(good)
        for number, line in enumerate(good.decode("utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigError(f"{self.path}:{number} is not valid JSON ({error}); delete the line or pass --overwrite") from error
                done[int(record["index"])] = record
        return done

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
