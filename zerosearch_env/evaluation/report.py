"""The evaluation report: a console table, ``metrics.json``, ``report.md`` and a plot."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from .config import EvalConfig, EvalResult, setting_label
from .metrics import SCORE_NAMES, SCORES, Interval, SourceSummary

METRICS = "metrics.json"
REPORT = "report.md"
PLOT = "scores.png"


def format_table(summaries: list[SourceSummary]) -> str:
    """A markdown table: one row per data source, then the overall row."""
    header = (
        "| data source | episodes | strict EM | cover-EM | F1 | searches/episode | invalid-action rate | "
        "truncation rate | simulator tokens (prompt + completion) |"
    )
    lines = [header, "|---|---:|---|---|---|---:|---:|---:|---:|"]
    for s in summaries:
        name = f"**{s.data_source}**" if s.data_source == "overall" else s.data_source
        lines.append(
            f"| {name} | {s.episodes} | {s.em} | {s.cover_em} | {s.f1} | {s.searches_per_episode:.2f} | "
            f"{s.invalid_action_rate:.3f} | {s.truncation_rate:.3f} | {s.sim_prompt_tokens:,} + {s.sim_completion_tokens:,} |"
        )
    return "\n".join(lines)


def plot_interval_bars(path: Any, groups: list[str], series: list[tuple[str, list[Interval]]], title: str, ylabel: str) -> bool:
    """Grouped bars: one group per label in ``groups``, one bar per named series, each a
    mean with its 95% interval (a NaN interval draws nothing). Returns False, writing
    nothing, when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    import numpy as np

    x = np.arange(len(groups))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(groups) + 2), 3.7))
    for k, (label, intervals) in enumerate(series):
        means = np.array([i.mean for i in intervals])
        errors = np.nan_to_num(np.array([[i.mean - i.low for i in intervals], [i.high - i.mean for i in intervals]]))
        ax.bar(x + (k - (len(series) - 1) / 2) * width, np.nan_to_num(means), width, yerr=errors, capsize=3, label=label)
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylim(0, 1.25)  # room for the legend above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_scores(summaries: list[SourceSummary], path: Any, title: str) -> bool:
    """Grouped bars (strict EM, cover-EM, F1) per data source with 95% intervals.
    Returns False, writing nothing, when matplotlib is missing."""
    groups = [f"{s.data_source}\n(n={s.episodes})" for s in summaries]
    series = [(SCORE_NAMES[key], [getattr(s, key) for s in summaries]) for key in SCORES]
    return plot_interval_bars(path, groups, series, title, "score (95% bootstrap interval)")


def write_report(result: EvalResult, config: EvalConfig, agent_name: str) -> None:
    """Write ``metrics.json``, ``report.md`` and ``scores.png`` into the run folder."""
    out = result.out_dir
    assert out is not None
    settings = {"agent": agent_name, **config.env_kwargs(), "limit": config.limit, "sample": config.sample, "seed": config.seed}
    settings = {k: setting_label(v) for k, v in settings.items() if v is not None}
    (out / METRICS).write_text(json.dumps({"settings": settings, "summaries": [s.to_dict() for s in result.summaries]}, indent=2, default=str) + "\n")
    title = f"{agent_name} on {setting_label(config.env.dataset)} (sim={setting_label(config.env.sim)}, difficulty {config.difficulty})"
    has_plot = plot_scores(result.summaries, out / PLOT, title)
    lines = [
        f"# Evaluation: {agent_name}",
        "",
        "Settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()),
        "",
        format_table(result.summaries),
        "",
        "Scores are means with 95% bootstrap intervals over episodes. Strict EM: the normalised "
        'answer equals a golden answer. Cover-EM (the reference\'s "EM"): a golden answer is '
        "inside the answer. F1: token overlap, best golden answer. Invalid-action rate: turns "
        "with neither a search nor an answer, over all turns. Truncation rate: episodes that "
        "ended without an answer.",
        "",
    ]
    sim = config.env.sim
    if isinstance(sim, str) and sim != "bm25" and not sim.startswith("retriever:"):
        lines += [
            f"Note: `sim={sim}` is told the golden answers (a training device); a score "
            "against it is an upper bound. Use `--sim bm25` or `--sim retriever:<url>` for a "
            "search engine that does not see them.",
            "",
        ]
    if has_plot:
        lines += [f"![scores per data source]({PLOT})", ""]
    right = next((r for r in result.records if r["f1"] == 1.0), None)
    wrong = next((r for r in result.records if r["f1"] < 1.0), None)
    for title, record in (("An episode it got right", right), ("An episode it got wrong", wrong)):
        if record is not None:
            lines += [f"## {title}", "", "```text", _transcript(record), "```", ""]
    (out / REPORT).write_text("\n".join(lines))


def _transcript(record: dict[str, Any], width: int = 100) -> str:
    """One episode, shortened for reading."""
    lines = [f"question: {record['question']}", f"golden answers: {record['golden_answers']}"]
    for turn in record["turns"]:
        quality = f", {turn['doc_quality']} documents" if turn.get("doc_quality") else ""
        lines.append(f"agent ({turn['kind']}{quality}): " + textwrap.shorten(turn["action"], width))
        for document in turn.get("documents", [])[:3]:
            lines.append("    " + textwrap.shorten(document, width - 4))
    lines.append(f"answer: {record['answer']!r} -> F1 {record['f1']:.2f}, strict EM {record['em']:.0f}, cover-EM {record['cover_em']:.0f}")
    return "\n".join(lines)
