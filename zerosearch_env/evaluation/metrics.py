"""Scores of an evaluation, per data source and overall, with bootstrap intervals.

Three answer scores, named as the spec asks: strict EM (normalised equality), cover-EM
(a normalised golden answer inside the normalised prediction; what the reference calls
"EM") and token F1. Each mean comes with a 95% percentile-bootstrap interval over
episodes, seeded, so the same trajectories give the same report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SCORES: tuple[str, ...] = ("em", "cover_em", "f1")
SCORE_NAMES: dict[str, str] = {"em": "strict EM", "cover_em": "cover-EM", "f1": "F1"}
OVERALL = "overall"


@dataclass(frozen=True)
class Interval:
    """A mean and its 95% bootstrap interval."""

    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class SourceSummary:
    """What one data source (or all of them) scored."""

    data_source: str
    episodes: int
    em: Interval
    cover_em: Interval
    f1: Interval
    searches_per_episode: float
    invalid_action_rate: float  # invalid turns / all turns
    truncation_rate: float  # episodes that ended without an answer
    sim_prompt_tokens: int
    sim_completion_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_interval(values: Sequence[float], *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """Mean of ``values`` with a percentile-bootstrap interval.

    >>> bootstrap_interval([1.0, 1.0, 1.0])
    Interval(mean=1.0, low=1.0, high=1.0)
    >>> i = bootstrap_interval([0.0, 1.0] * 50)
    >>> i.mean, 0.38 < i.low < 0.5 < i.high < 0.62
    (0.5, True)
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(data.mean()), float(low), float(high))


def summarize(records: Sequence[Mapping[str, Any]], *, seed: int = 0, resamples: int = 1000) -> list[SourceSummary]:
    """One summary per data source (sorted by name), then the overall one.

    ``records`` are trajectory records as the harness writes them (``data_source``,
    ``em``/``cover_em``/``f1``, ``searches``, ``turns``, ``invalid_turns``,
    ``truncated``, ``sim_prompt_tokens``, ``sim_completion_tokens``)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(str(record["data_source"]), []).append(record)
    summaries = [_summary(name, groups[name], seed, resamples) for name in sorted(groups)]
    if records:
        summaries.append(_summary(OVERALL, list(records), seed, resamples))
    return summaries


def _summary(name: str, records: Sequence[Mapping[str, Any]], seed: int, resamples: int) -> SourceSummary:
    turns = sum(len(r["turns"]) for r in records)
    intervals = {key: bootstrap_interval([float(r[key]) for r in records], seed=seed, resamples=resamples) for key in SCORES}
    return SourceSummary(
        data_source=name,
        episodes=len(records),
        **intervals,
        searches_per_episode=sum(r["searches"] for r in records) / len(records),
        invalid_action_rate=sum(r["invalid_turns"] for r in records) / max(1, turns),
        truncation_rate=sum(bool(r["truncated"]) for r in records) / len(records),
        sim_prompt_tokens=sum(int(r["sim_prompt_tokens"]) for r in records),
        sim_completion_tokens=sum(int(r["sim_completion_tokens"]) for r in records),
    )
