"""``zerosearch simtune curve``: a tuned simulator's fidelity over its training time.

One fidelity score at the end of a run says where it got, not whether it was still
improving. ``simtune train --snapshot-minutes 5 10 20`` saves a copy of the simulator
at those minutes of training (``OUT/snapshots/``); this step scores every snapshot and
the final folder with ``zerosearch fidelity`` against bm25 on the same queries, and
draws answer presence (useful), its single-hop share, noisy leak and separation against
training minutes: where a recipe starts to separate the modes, and where it flattens.

Each point is a fidelity run in its own folder under ``--out``, so a second call resumes
where the first stopped and only new snapshots cost anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluation.store import read_settings
from .card import read_card_facts
from .snapshots import SNAPSHOT_INFO, SNAPSHOTS

CURVE_JSON = "curve.json"
CURVE_MD = "curve.md"
CURVE_PNG = "curve.png"
SINGLE_HOP = "synthetic-single"


@dataclass(frozen=True)
class CurvePoint:
    """One simulator folder's fidelity after ``minutes`` of training."""

    name: str
    minutes: float
    step: int
    format_valid: float
    presence: list[float]  # useful answer presence: mean, 95% low, high
    single_hop: float
    leak: list[float]  # noisy answer presence
    separation: list[float]
    words_per_document: float
    searches: int


def curve_folders(model_dir: str | Path) -> list[tuple[str, Path, float, int]]:
    """``(name, folder, minutes, step)`` of every snapshot, in training order, then the final folder."""
    model = Path(model_dir)
    if not (model / "config.json").is_file():
        raise ConfigError(f"simtune curve expects a simulator folder written by zerosearch simtune train, got {model}")
    points = []
    for folder in sorted((model / SNAPSHOTS).glob("*")) if (model / SNAPSHOTS).is_dir() else []:
        info_file = folder / SNAPSHOT_INFO
        if info_file.is_file() and (folder / "config.json").is_file():
            info = read_settings(info_file)
            if not isinstance(info.get("minutes"), (int, float)) or not isinstance(info.get("step"), int):
                raise ConfigError(f"{info_file} expects numbers under 'minutes' and 'step', got {info!r}; delete the snapshot or train again")
            points.append((folder.name, folder, float(info["minutes"]), int(info["step"])))
    training = read_card_facts(model)["training"] if (model / "simtune_card.json").is_file() else {}
    minutes = training.get("train_minutes", training.get("wall_minutes", math.nan))
    points.append(("final", model, float(minutes), int(training.get("steps", -1))))
    return points


def measure_curve(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    queries: list[str] | None = None,
    limit: int | None = 40,
    topk: int = 1,
    sim_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> list[CurvePoint]:
    """Score every snapshot of ``model_dir`` and the folder itself against bm25; write
    ``curve.json``, ``curve.md`` and ``curve.png`` into ``out_dir``."""
    from ..evaluation import Engine, FidelityConfig, run_fidelity

    out = Path(out_dir)
    config = FidelityConfig(topk=topk, limit=limit, queries=list(queries or []), sim_backend="hf", sim_kwargs=dict(sim_kwargs or {}))
    points = []
    for name, folder, minutes, step in curve_folders(model_dir):
        result = run_fidelity([Engine(str(folder), "hf", dict(config.sim_kwargs))], config, out / "points" / name, progress=progress)
        scores = result.engines[0]
        useful, noisy = scores.mode("useful"), scores.mode("noisy")
        if useful is None or noisy is None:
            raise ConfigError(f"{folder} answered in one mode only; a curve needs useful and noisy documents")
        point = CurvePoint(
            name=name, minutes=minutes, step=step, format_valid=useful.format_valid.mean,
            presence=_interval(useful.answer_presence), single_hop=useful.presence_by_source.get(SINGLE_HOP, math.nan),
            leak=_interval(noisy.answer_presence), separation=_interval(scores.separation),
            words_per_document=useful.words_per_document.mean, searches=scores.searches,
        )  # fmt: skip
        points.append(point)
        if progress:
            print(
                f"{name}: {minutes:.1f} min, presence {points[-1].presence[0]:.3f}, leak {points[-1].leak[0]:.3f}, separation {points[-1].separation[0]:+.3f}",
                flush=True,
            )
    settings = {"model": str(model_dir), "queries": config.queries, "limit": limit, "topk": topk, "sim_kwargs": config.sim_kwargs}
    (out / CURVE_JSON).write_text(json.dumps({"settings": settings, "points": [asdict(p) for p in points]}, indent=2) + "\n")
    (out / CURVE_MD).write_text(render_curve(points) + "\n")
    folder = Path(model_dir).resolve()
    name = f"{folder.parent.name}/{folder.name}" if folder.name == "model" else folder.name  # simtune's folders are all called model
    plot_curve(points, out / CURVE_PNG, title=f"{name}: fidelity against bm25 over training")
    return points


def _interval(value: Any) -> list[float]:
    return [value.mean, value.low, value.high]


def render_curve(points: list[CurvePoint]) -> str:
    """The curve as a markdown table, one row per point."""
    lines = [
        "| point | training minutes | step | format valid | answer presence (useful) | single-hop | leak (noisy) | separation | words/doc |",
        "|---|---:|---:|---:|---|---:|---|---|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p.name} | {p.minutes:.1f} | {p.step} | {p.format_valid:.3f} | {_iv(p.presence)} | {p.single_hop:.3f} | {_iv(p.leak)} | "
            f"{_iv(p.separation, signed=True)} | {p.words_per_document:.1f} |"
        )
    return "\n".join(lines)


def _iv(values: list[float], signed: bool = False) -> str:
    form = "+.3f" if signed else ".3f"
    mean, low, high = values
    return f"{mean:{form}} [{low:{form}}, {high:{form}}]"


#: The cpu-smol preset's targets, drawn as dashed lines (presence >= 0.6, leak <= 0.1, separation >= 0.5).
TARGETS = {"answer presence (useful)": 0.6, "leak (noisy)": 0.1, "separation": 0.5}


def plot_curve(points: list[CurvePoint], path: Path, title: str) -> bool:
    """Presence, single-hop presence, leak and separation against training minutes, each
    with its 95% interval where it has one. False, writing nothing, without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    x = [p.minutes for p in points]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    series = {"answer presence (useful)": [p.presence for p in points], "leak (noisy)": [p.leak for p in points], "separation": [p.separation for p in points]}
    for (label, values), color in zip(series.items(), ("tab:green", "tab:red", "tab:blue")):
        ax.plot(x, [v[0] for v in values], marker="o", color=color, label=label)
        ax.fill_between(x, [v[1] for v in values], [v[2] for v in values], color=color, alpha=0.15)
        ax.axhline(TARGETS[label], color=color, linestyle="--", linewidth=0.8)
    ax.plot(x, [p.single_hop for p in points], marker=".", color="tab:olive", linestyle=":", label="presence, single-hop")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("share of searches (95% interval)")
    ax.set_ylim(-0.3, 1.05)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right", ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
