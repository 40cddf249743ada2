"""Run an agent over a question set and keep every trajectory.

Episodes are played in waves of ``batch_size`` in the native vector env, so every search
of a turn reaches the simulator (or retriever) in one call. Episode ``i`` plays dataset
row ``i`` with its own seed (derived from the run's seed and ``i``), so an episode does
not depend on which wave it ran in: a resumed run gives the same trajectories as an
uninterrupted one. Each finished episode is appended to ``trajectories.jsonl`` at once;
an interrupted run continues from the episodes already written. ``sim_usage.json`` holds
the simulator's usage over every leg, for ``zerosearch cost``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..records import QARow
from .config import EvalConfig, EvalResult, agent_settings
from .cost import USAGE_FILE, SimUsage, read_sim_usage, write_sim_usage
from .episodes import Agent, EpisodeStart, PlayedEpisode, PlayedTurn, play_episodes
from .metrics import summarize
from .store import JsonlRecords, claim_folder, folder_lock

TRAJECTORIES = "trajectories.jsonl"
RUN_CONFIG = "eval_config.json"


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
    with other settings is refused unless ``overwrite``, and so is a folder another run
    is writing (:func:`.store.folder_lock`).
    """
    if out_dir is not None:
        with folder_lock(Path(out_dir), "an evaluation"):
            return _run_eval(agent, config, Path(out_dir), overwrite=overwrite, progress=progress)
    return _run_eval(agent, config, None, overwrite=overwrite, progress=progress)


def _run_eval(agent: Agent, config: EvalConfig, out_dir: Path | None, *, overwrite: bool, progress: bool) -> EvalResult:
    from tqdm.auto import tqdm

    from ..vector import ZeroSearchVectorEnv

    started = time.perf_counter()
    agent_name = getattr(agent, "name", type(agent).__name__)
    identity = config.identity(agent_name, agent_settings(agent))
    store = _TrajectoryStore(out_dir, identity, overwrite) if out_dir is not None else None
    done = store.load() if store is not None else {}
    resumed = len(done)

    # One vector env for the whole run: the simulator (an LLM engine, an index) loads once.
    # Sub-envs are cheap siblings; in the last, partial wave the extra ones sit idle.
    envs = ZeroSearchVectorEnv(num_envs=config.batch_size, **config.env_kwargs())
    rows = envs.rows
    selected = select_rows(len(rows), config.limit, config.sample, config.seed)
    starts = [EpisodeStart(episode_id=i, index=i, seed=episode_seed(config.seed, i)) for i in selected if i not in done]

    bar = tqdm(total=len(selected), initial=len(selected) - len(starts), desc=f"eval {agent_name}", unit="ep", disable=not progress)
    try:
        for episode in play_episodes(envs, agent, starts):
            assert episode.start.index is not None  # every start above names its row
            record = episode_record(rows[episode.start.index], episode)
            done[record["index"]] = record
            if store is not None:
                store.append(record)
            bar.update(1)
    finally:
        bar.close()
        envs.close()
        if store is not None:  # an interrupted leg records its simulator time too
            store.write_usage(envs.simulator.name, done.values(), envs.total_stats.sim_wall_s, resumed=bool(resumed))

    records = [done[i] for i in selected if i in done]
    summaries = summarize(records, seed=config.seed, resamples=config.bootstrap_resamples)
    result = EvalResult(summaries, records, store.out_dir if store else None, resumed, time.perf_counter() - started)
    if store is not None:
        from .report import write_report

        write_report(result, config, agent_name)
    return result


def episode_record(row: QARow, episode: PlayedEpisode) -> dict[str, Any]:
    """One line of ``trajectories.jsonl``: the row, the seed, every turn, the scores."""
    turns = [_turn_record(turn) for turn in episode.turns]
    final = episode.final_info
    return {
        "index": episode.start.index,
        "id": row.id,
        "data_source": row.data_source,
        "question": row.question,
        "golden_answers": list(row.golden_answers),
        "seed": episode.start.seed,
        "answer": final.answer,
        "em": float(final.em or 0.0),
        "cover_em": float(final.cover_em or 0.0),
        "f1": float(final.f1 or 0.0),
        "truncated": episode.truncated,
        "searches": final.searches,
        "noisy_searches": final.noisy_searches,
        "invalid_turns": sum(turn["kind"] == "invalid" for turn in turns),
        "sim_prompt_tokens": final.episode_sim_prompt_tokens,
        "sim_completion_tokens": final.episode_sim_completion_tokens,
        "turns": turns,
    }


def _turn_record(turn: PlayedTurn) -> dict[str, Any]:
    info = turn.info
    record: dict[str, Any] = {"action": turn.action, "kind": info.action}
    if info.query is not None:
        record["query"] = info.query
    if info.documents is not None:
        record["documents"] = list(info.documents)
        record["doc_quality"] = info.doc_quality
    if info.sim_error is not None:
        record["sim_error"] = f"{info.sim_error.kind}: {info.sim_error.message}"
    if info.answer is not None:
        record["answer"] = info.answer
    if turn.observation:
        record["observation"] = turn.observation
    return record


#: What every line of ``trajectories.jsonl`` holds: the scores are summed over them on a resume.
EPISODE_NUMBERS = ("em", "cover_em", "f1", "searches", "noisy_searches", "invalid_turns", "sim_prompt_tokens", "sim_completion_tokens")
EPISODE_FIELDS = ("index", "data_source", "truncated", "turns", *EPISODE_NUMBERS)


class _TrajectoryStore:
    """``trajectories.jsonl`` plus the settings it was written with, for resuming."""

    def __init__(self, out_dir: Path, identity: dict[str, Any], overwrite: bool):
        self.out_dir = out_dir
        self.records = JsonlRecords(out_dir / TRAJECTORIES, key="index", required=EPISODE_FIELDS, numbers=EPISODE_NUMBERS)
        claim_folder(out_dir, RUN_CONFIG, identity, [self.records.path], overwrite=overwrite, what="an evaluation")

    def load(self) -> dict[int, dict[str, Any]]:
        """Episodes already written; a line cut short by an interruption is dropped."""
        return {int(index): record for index, record in self.records.load().items()}

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def write_usage(self, sim: str, records: Iterable[dict[str, Any]], wall_s: float, *, resumed: bool) -> None:
        """``sim_usage.json`` (kind ``"eval"``): the searches and tokens of every episode
        written (all legs), and the simulator wall time of this leg plus, when it resumed,
        that of the legs before as their file recorded it."""
        earlier = sum(u.sim_wall_s for u in read_sim_usage(self.out_dir)[1]) if resumed and (self.out_dir / USAGE_FILE).exists() else 0.0
        records = list(records)
        usage = SimUsage(
            sim,
            sum(int(r.get("searches", 0)) for r in records),
            sum(int(r.get("sim_prompt_tokens", 0)) for r in records),
            sum(int(r.get("sim_completion_tokens", 0)) for r in records),
            earlier + wall_s,
        )
        write_sim_usage(self.out_dir, "eval", [usage])
