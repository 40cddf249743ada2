"""The cost report as markdown: one row per simulator and the paper's, each figure with
the numbers it came from, then the list of inputs (:mod:`.cost` computes them)."""

from __future__ import annotations

from pathlib import Path

from .cost import FORMULAS, PAPER, PAPER_SOURCE, USAGE_FILE, CostInputs, CostReport, CostRow


def render_markdown(report: CostReport) -> str:
    """The table (each figure with the numbers it came from) and the list of inputs."""
    inputs = report.inputs
    lines = [
        f"### Cost of `{report.run_dir}` (a {report.kind} run)",
        "",
        "| simulator | searches | tokens (prompt + completion) | simulator wall, measured | simulator GPU-hours | simulator $ | search API $ | simulator / API |",
        "|---|---:|---:|---:|---|---|---|---:|",
    ]
    for row in [*report.rows, report.paper]:
        lines.append("| " + " | ".join(_cells(row, inputs)) + " |")
    price = f"${_fixed(inputs.usd_per_1k_queries, 4)} per 1,000 queries"
    if inputs.usd_per_1k_queries == PAPER.usd_per_1k_queries:
        price += (
            f": the SerpAPI rate the paper's figures imply (${PAPER.serpapi_usd:,.2f} / {PAPER.searches:,} searches x 1,000; --usd-per-1k-queries to change)"
        )
    else:
        price += " (--usd-per-1k-queries)"
    gpu_price = (
        f"${inputs.usd_per_gpu_hour:,.2f} (--usd-per-gpu-hour)"
        if inputs.usd_per_gpu_hour is not None
        else ("not given: no simulator dollars (--usd-per-gpu-hour X)")
    )
    lines += [
        "",
        "Inputs:",
        f"- usage: `{Path(report.run_dir) / USAGE_FILE}`",
        f"- simulator throughput: {_num(inputs.tokens_per_s)} completion tokens/s for the whole deployment, from {inputs.tokens_source}",
        f"- simulator GPUs: {inputs.gpus} (--gpus; GPU-hours = the deployment's hours x its GPUs)",
        f"- $/GPU-hour: {gpu_price}",
        f"- search API: {price}",
    ]
    assumed = [row.label for row in report.rows if row.tokens_assumed and row.label != "total"]
    if inputs.tokens_per_search is not None:
        which = ", ".join(assumed) if assumed else "none here (every engine reported its tokens)"
        lines.append(f"- assumed completion tokens per search: {_num(inputs.tokens_per_search)} (--tokens-per-search), "
                     f"for the engines that reported none: {which}")  # fmt: skip
    elif any(row.completion_tokens == 0 and row.searches for row in report.rows):
        lines.append("- an engine that reported no tokens (no LLM: corpus, bm25, a retriever) costs 0 GPU-hours here; "
                     "--tokens-per-search N prices its searches as an LLM simulator's")  # fmt: skip
    lines += [
        f"- formulas: GPU-hours = {FORMULAS['gpu_hours']}; simulator $ = {FORMULAS['sim_usd']}; search API $ = {FORMULAS['api_usd']}",
        f"- paper row: {PAPER_SOURCE}; its search API $ is its searches at its own SerpAPI rate, its simulator $ as "
        + "stated (it gives no throughput or $/GPU-hour)",
    ]
    return "\n".join(lines) + "\n"


def _cells(row: CostRow, inputs: CostInputs) -> list[str]:
    paper = row.completion_tokens is None
    missing = "not given"
    tokens = missing if paper else f"{row.prompt_tokens:,} + {row.completion_tokens:,}"
    wall = missing if row.sim_wall_s is None else _duration(row.sim_wall_s)
    if row.gpu_hours is None or row.priced_tokens is None:
        hours = missing
    else:
        priced = f"{_num(row.priced_tokens)} tokens"
        if row.tokens_assumed and row.label != "total" and inputs.tokens_per_search is not None:
            priced += f" (assumed: {row.searches:,} searches x {_num(inputs.tokens_per_search)})"
        elif row.tokens_assumed:
            priced += " (assumed tokens included)"
        hours = f"{_num(row.gpu_hours)} = {priced} / {_num(inputs.tokens_per_s)} tokens/s / 3,600 x {inputs.gpus} GPU"
    if row.sim_usd is None:
        sim = "n/a (no $/GPU-hour)"
    elif paper or row.gpu_hours is None:
        sim = f"{_usd(row.sim_usd)} (paper)"
    else:
        sim = f"{_usd(row.sim_usd)} = {_num(row.gpu_hours)} x ${inputs.usd_per_gpu_hour:,.2f}"
    api = f"{_usd(row.api_usd)} = {row.searches:,} / 1,000 x ${_fixed(row.usd_per_1k_queries, 4)}"
    share = "n/a" if row.sim_over_api is None else f"{row.sim_over_api:.1%}"
    label = f"**{row.label}**" if row.label == "total" else row.label
    return [label, f"{row.searches:,}", tokens, wall, hours, sim, api, share]


def _fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, trailing zeros dropped (9.1672, 2.5)."""
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _num(value: float) -> str:
    """A count or a quantity: thousands separated, three significant digits below 1.

    >>> [_num(v) for v in (0, 0.000123456, 0.5, 12.345, 246800.0)]
    ['0', '0.000123', '0.5', '12.35', '246,800']
    """
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return _fixed(value, 2)
    return f"{value:.3g}"


def _usd(value: float) -> str:
    """Dollars to the cent; a fraction of a cent with two significant digits.

    >>> [_usd(v) for v in (0, 0.000456, 586.7)]
    ['$0.00', '$0.00046', '$586.70']
    """
    return f"${value:.2g}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


def _duration(seconds: float) -> str:
    """Seconds, minutes or hours, whichever reads best.

    >>> [_duration(s) for s in (0.25, 90.0, 7200.0)]
    ['0.25 s', '1.5 min', '2 h']
    """
    if seconds < 60:
        return f"{_fixed(seconds, 2)} s"
    if seconds < 3600:
        return f"{_fixed(seconds / 60, 1)} min"
    return f"{_fixed(seconds / 3600, 2)} h"
