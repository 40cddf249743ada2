"""The fidelity report: one row per engine, the details per mode, a plot and the JSON."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from .config import setting_label
from .fidelity_metrics import EngineScores, ModeScores
from .metrics import Interval

if TYPE_CHECKING:
    from .fidelity import FidelityConfig, FidelityResult, QuerySet

FIDELITY_JSON = "fidelity.json"
REPORT = "report.md"
PLOT = "fidelity.png"
DASH = "—"


def _num(value: float, digits: int = 3) -> str:
    return DASH if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _iv(interval: Interval | None) -> str:
    return DASH if interval is None or math.isnan(interval.mean) else str(interval)


def _main_mode(scores: EngineScores) -> ModeScores:
    """The mode the summary row describes: useful (or the one pass of a query-only engine)."""
    return scores.mode("any") or scores.mode("useful") or scores.modes[0]


def format_summary(result: FidelityResult) -> str:
    """One row per engine (the reference first): how usable its documents are, how well
    it separates useful from noisy, how close it is to the reference, what it costs."""
    header = (
        "| engine | format valid | words/doc | answer presence (useful) | leak (noisy) | separation | overlap with reference | "
        "BM25 vs reference | reader F1 (useful) | reader F1 (noisy) | tokens/search (prompt + completion) | searches/s |"
    )
    lines = [header, "|---|---:|---:|---|---|---|---|---|---|---|---:|---:|"]
    for scores in [result.reference, *result.engines]:
        main, noisy = _main_mode(scores), scores.mode("noisy")
        name = f"{scores.engine} (reference)" if scores is result.reference else scores.engine
        lines.append(
            f"| {name} | {_num(main.format_valid.mean)} | {_num(main.words_per_document.mean, 1)} | {_iv(main.answer_presence)} | "
            f"{_iv(noisy.answer_presence) if noisy else DASH} | {_iv(scores.separation)} | {_iv(main.overlap)} | {_iv(main.bm25_relative)} | "
            f"{_iv(main.reader_f1)} | {_iv(noisy.reader_f1) if noisy else DASH} | "
            f"{main.prompt_tokens_per_search:,.0f} + {main.completion_tokens_per_search:,.0f} | {_rate(main.searches_per_s)} |"
        )
    return "\n".join(lines)


def format_modes(result: FidelityResult) -> str:
    """Every metric of every engine and mode."""
    header = (
        "| engine | mode | searches | failed | format valid | words/doc | answer presence | overlap | BM25 vs reference | "
        "duplicate docs | distinct-2 | reader F1 | reader F1 on the reference | latency/request (s) | answer presence per data source |"
    )
    lines = [header, "|---|---|---:|---:|---|---|---|---|---|---|---:|---|---|---:|---|"]
    for scores in [result.reference, *result.engines]:
        for m in scores.modes:
            lines.append(
                f"| {scores.engine} | {m.quality} | {m.searches} | {_num(m.failed_rate)} | {_iv(m.format_valid)} | {_iv(m.words_per_document)} | "
                f"{_iv(m.answer_presence)} | {_iv(m.overlap)} | {_iv(m.bm25_relative)} | {_iv(m.duplicate_rate)} | {_num(m.distinct_2)} | "
                f"{_iv(m.reader_f1)} | {_iv(m.reference_reader_f1)} | {m.latency_s:.4f} | "
                + ", ".join(f"{name} {share:.3f}" for name, share in m.presence_by_source.items())
                + " |"
            )
    return "\n".join(lines)


def _rate(per_s: float) -> str:
    return DASH if math.isinf(per_s) or math.isnan(per_s) else f"{per_s:,.0f}" if per_s >= 10 else f"{per_s:.2f}"


PLOTTED = (
    ("format valid", lambda s: _main_mode(s).format_valid),
    ("answer presence (useful)", lambda s: _main_mode(s).answer_presence),
    ("leak (noisy)", lambda s: s.mode("noisy").answer_presence if s.mode("noisy") else None),
    ("overlap with reference", lambda s: _main_mode(s).overlap),
    ("reader F1 (useful)", lambda s: _main_mode(s).reader_f1),
)


def plot_fidelity(result: FidelityResult, path: Any, title: str) -> bool:
    """Grouped bars per engine with 95% intervals; False (nothing written) without matplotlib."""
    from .report import plot_interval_bars

    engines = [result.reference, *result.engines]
    missing = Interval(float("nan"), float("nan"), float("nan"))
    series = [(label, [pick(s) or missing for s in engines]) for label, pick in PLOTTED]
    names = [f"{s.engine[:28]}\n(reference)" if s is result.reference else s.engine[:28] for s in engines]
    return plot_interval_bars(path, names, series, title, "share or score (95% interval)")


def write_fidelity_report(result: FidelityResult, config: FidelityConfig, query_set: QuerySet) -> None:
    """Write ``fidelity.json``, ``report.md``, ``fidelity.png`` and ``sim_usage.json``."""
    from .cost import SimUsage, write_sim_usage

    out = result.out_dir
    assert out is not None
    origins = {origin: sum(q.origin == origin for q in query_set.queries) for origin in ("question", "trajectory")}
    settings = {
        "reference": config.reference, "dataset": config.dataset, "split": config.split, "corpus": config.corpus,
        "queries": ", ".join(config.queries) or None, "topk": config.topk, "reader": config.reader, "limit": config.limit,
        "sample": config.sample, "seed": config.seed, "sim_backend": config.sim_backend, "sim_kwargs": config.sim_kwargs or None,
    }  # fmt: skip
    settings = {k: setting_label(v) for k, v in settings.items() if v is not None}
    payload = {
        "settings": settings,
        "queries": {**origins, "unmatched_trajectory_searches": result.unmatched_searches},
        "reference": result.reference.to_dict(),
        "engines": [e.to_dict() for e in result.engines],
    }
    (out / FIDELITY_JSON).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    engines = {s.engine: s for s in [result.reference, *result.engines]}  # the reference may be scored as an engine too
    usages = [SimUsage(s.engine, s.searches, s.prompt_tokens, s.completion_tokens, s.sim_wall_s) for s in engines.values()]
    write_sim_usage(out, "fidelity", usages)
    title = f"fidelity on {setting_label(config.dataset)} against {config.reference} ({result.queries} queries)"
    has_plot = plot_fidelity(result, out / PLOT, title)
    skipped = f"; {result.unmatched_searches} trajectory searches of other questions were skipped" if result.unmatched_searches else ""
    lines = [
        "# Search-engine fidelity",
        "",
        "Settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()),
        "",
        f"Queries: {origins['question']} questions asked as they are, {origins['trajectory']} searches from trajectories{skipped}. "
        "Every engine answers every query, once per mode.",
        "",
        format_summary(result),
        "",
        "Means with 95% bootstrap intervals over searches. **Format valid**: exactly `topk` documents "
        "(for an LLM reply, exactly `topk` `Doc i:` markers). **Answer presence**: a golden answer occurs as whole "
        "normalised words in a document; in noisy mode it is the **leak** rate (should be near 0). **Separation**: useful "
        "presence minus noisy leak, paired by query. **Overlap**: each document's best token F1 against the reference's "
        "documents, averaged. **BM25 vs reference**: BM25 score of the engine's documents for the query over the "
        "reference's (1 = as relevant, to BM25). **Reader F1**: a fixed reader "
        f"(`{config.reader}`) answers after reading the documents once. An engine that reads only the query has no noisy mode.",
        "",
    ]
    if has_plot:
        lines += [f"![fidelity per engine]({PLOT})", ""]
    lines += ["## Every mode", "", format_modes(result), ""]
    (out / REPORT).write_text("\n".join(lines))
