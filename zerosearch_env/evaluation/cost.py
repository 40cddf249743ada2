"""The cost of a run's searches: on the simulator's GPUs, and through a paid search API.

ZeroSearch's case is economic as much as it is about quality: the paper trains against
a simulator because a search API is billed per query. This module turns what a run
recorded into that comparison, as plain arithmetic with every input printed.

**The file contract.** A run folder holds ``sim_usage.json``, written by ``zerosearch
train`` (kind ``"train"``), ``zerosearch eval --out`` (``"eval"``) and ``zerosearch
fidelity`` (``"fidelity"``, one entry per engine)::

    {"kind": "train",
     "simulators": [{"sim": "corpus", "searches": 1234, "prompt_tokens": 0,
                     "completion_tokens": 0, "sim_wall_s": 1.5}]}

**The arithmetic** (:func:`cost_report`), per entry:

- simulator hours = completion tokens / ``tokens_per_s`` / 3600, where ``tokens_per_s``
  is the completion-token throughput of the whole simulator deployment;
- simulator GPU-hours = simulator hours x ``gpus``, the GPUs that deployment holds;
- simulator $ = GPU-hours x ``usd_per_gpu_hour``;
- search API $ = searches / 1000 x ``usd_per_1k_queries``.

Prompt tokens are printed but not priced on their own: the throughput figures
(``benchmarks/gpu_check.py``, ``bench_vllm.py``) are completion tokens per second of
calls whose prompts were processed too. The measured simulator wall time is printed as
it was measured: on a CPU-demo run it is the corpus engine's time, not a GPU's.

**The paper's row** (:data:`PAPER`): the ZeroSearch paper (arXiv 2505.04588) compares
one training run of about 64,000 searches: $586.70 through SerpAPI (Google) against
$70.80 of GPU time for its SFT-14B simulator on 4 A100s. The project's spec
(``zerosearch-spec.md``) gives only the conclusion ("more than 80%" cheaper); the
figures are the paper's as the project's issue 15 quotes them. The paper gives no
throughput or $/GPU-hour, so that row's GPU-hours stay blank rather than guessed.

:mod:`.cost_report` writes the table; :mod:`.throughput` finds the throughput.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError

USAGE_FILE = "sim_usage.json"
KINDS = ("train", "fidelity", "eval")


# ----------------------------------------------------------------------------- the usage file


@dataclass(frozen=True)
class SimUsage:
    """What one simulator (search engine) did in a run: its searches, the tokens it
    reported (0 for engines without an LLM: corpus, bm25, retrievers) and the wall time
    the run spent waiting on it."""

    sim: str
    searches: int
    prompt_tokens: int
    completion_tokens: int
    sim_wall_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.sim, str) or not self.sim:
            raise ConfigError(f"SimUsage.sim expects a simulator name, got {self.sim!r}")
        for name in ("searches", "prompt_tokens", "completion_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
                raise ConfigError(f"SimUsage.{name} expects an int in [0, 2**63), got {_short(value)}")
        wall = self.sim_wall_s
        if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not math.isfinite(wall) or wall < 0:
            raise ConfigError(f"SimUsage.sim_wall_s expects seconds >= 0, got {wall!r}")

    def __add__(self, other: SimUsage) -> SimUsage:
        """Both usages summed, under this one's name."""
        return SimUsage(
            self.sim,
            self.searches + other.searches,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.sim_wall_s + other.sim_wall_s,
        )


def write_sim_usage(out_dir: str | Path, kind: str, usages: list[SimUsage]) -> Path:
    """Write ``out_dir/sim_usage.json`` whole (a temporary file renamed over the old one,
    so a reader never sees half a file); returns its path."""
    if kind not in KINDS:
        raise ConfigError(f"sim_usage kind expects one of {KINDS}, got {kind!r}")
    if not all(isinstance(usage, SimUsage) for usage in usages):
        raise ConfigError(f"write_sim_usage expects SimUsage entries, got {[type(u).__name__ for u in usages]}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"kind": kind, "simulators": [asdict(usage) for usage in usages]}, indent=2) + "\n"
    handle, partial = tempfile.mkstemp(dir=out, prefix=f".{USAGE_FILE}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(partial, out / USAGE_FILE)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return out / USAGE_FILE


def read_sim_usage(run_dir: str | Path) -> tuple[str, list[SimUsage]]:
    """The kind of run and its simulators' usage, from ``run_dir/sim_usage.json``;
    a :class:`ConfigError` that names the folder, what is wrong and how to fix it."""
    folder = Path(run_dir)
    path = folder / USAGE_FILE
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give the run folder of a zerosearch train, eval --out or fidelity run")
    if not path.is_file():
        raise ConfigError(
            f"{folder} has no {USAGE_FILE}: `zerosearch train`, `zerosearch eval --out` and `zerosearch fidelity` write it "
            "into their run folder; a folder written before they recorded it has none (run it again, or resume it)"
        )
    redo = "write it again by resuming the run, or delete it and run again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON ({error}); {redo}") from error
    if not isinstance(data, dict) or data.get("kind") not in KINDS or not isinstance(data.get("simulators"), list):
        raise ConfigError(f'{path} expects {{"kind": one of {list(KINDS)}, "simulators": [...]}}, got {_short(data)}; {redo}')
    if not data["simulators"]:
        raise ConfigError(f"{path} lists no simulators: the run made no searches to price; {redo}")
    expected = [f.name for f in fields(SimUsage)]
    usages = []
    for number, entry in enumerate(data["simulators"]):
        if not isinstance(entry, dict) or sorted(entry) != sorted(expected):
            raise ConfigError(f"{path}: simulators[{number}] expects the keys {expected}, got {_short(entry)}; {redo}")
        try:
            usages.append(SimUsage(**entry))
        except ConfigError as error:
            raise ConfigError(f"{path}: simulators[{number}]: {error}; {redo}") from error
    return data["kind"], usages


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ----------------------------------------------------------------------------- the inputs


@dataclass(frozen=True)
class PaperFigures:
    """The paper's cost comparison: one training run's searches, their SerpAPI bill, and
    the GPU bill of its SFT-14B simulator (see the module's docstring for the source)."""

    searches: int = 64_000  # "about 64k"
    serpapi_usd: float = 586.70
    simulator: str = "SFT-14B"
    simulator_usd: float = 70.80
    gpus: int = 4
    gpu: str = "A100"

    @property
    def usd_per_1k_queries(self) -> float:
        """The SerpAPI price the paper's figures imply: $586.70 / 64,000 x 1,000."""
        return self.serpapi_usd / self.searches * 1000


PAPER = PaperFigures()


@dataclass(frozen=True)
class CostInputs:
    """Every number the arithmetic uses besides the run's own usage.

    ``tokens_per_s``: completion tokens per second of the simulator deployment (all its
    GPUs together), from ``tokens_source`` (a file, or ``"--tokens-per-s"``).
    ``gpus``: the GPUs that deployment holds; GPU-hours = its hours x ``gpus``.
    ``usd_per_gpu_hour``: None prices nothing (the table gives GPU-hours only).
    ``usd_per_1k_queries``: the search API's price; the default is the paper's.
    ``tokens_per_search``: completion tokens to assume per search for an engine that
    reported none (corpus, bm25, a retriever), to price its searches as an LLM
    simulator's; None leaves such an engine at 0 GPU-hours.
    """

    tokens_per_s: float
    tokens_source: str
    usd_per_gpu_hour: float | None = None
    gpus: int = 1
    usd_per_1k_queries: float = PAPER.usd_per_1k_queries
    tokens_per_search: float | None = None

    def __post_init__(self) -> None:
        for name in ("tokens_per_s", "usd_per_gpu_hour", "usd_per_1k_queries", "tokens_per_search"):
            value = getattr(self, name)
            if value is None and name in ("usd_per_gpu_hour", "tokens_per_search"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} expects a number >= 0, got {value!r}")
        if self.tokens_per_s <= 0:
            raise ConfigError(f"tokens_per_s expects a throughput > 0, got {self.tokens_per_s!r}")
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or not 1 <= self.gpus <= 1_000_000:
            raise ConfigError(f"gpus expects a positive int (at most 1,000,000), got {_short(self.gpus)}")


# ----------------------------------------------------------------------------- the arithmetic


@dataclass(frozen=True)
class CostRow:
    """One line of the table, with the numbers each figure came from.

    ``priced_tokens`` are the completion tokens the GPU-hours come from: the measured
    ones, or ``searches x tokens_per_search`` (``tokens_assumed``). The paper's row has
    no tokens or wall time (None) and its simulator dollars as the paper gives them.
    """

    label: str
    searches: int
    prompt_tokens: int | None
    completion_tokens: int | None
    sim_wall_s: float | None
    priced_tokens: float | None
    tokens_assumed: bool
    gpu_hours: float | None
    sim_usd: float | None
    api_usd: float
    usd_per_1k_queries: float

    @property
    def sim_over_api(self) -> float | None:
        """The simulator's bill as a share of the search API's."""
        return self.sim_usd / self.api_usd if self.sim_usd is not None and self.api_usd > 0 else None


def gpu_hours(completion_tokens: float, tokens_per_s: float, gpus: int) -> float:
    """GPU-hours of a deployment of ``gpus`` GPUs that writes ``tokens_per_s`` tokens/s.

    >>> gpu_hours(7_200_000, 1000.0, 2)
    4.0
    """
    return completion_tokens / tokens_per_s / 3600 * gpus


def api_usd(searches: int, usd_per_1k_queries: float) -> float:
    """A search API's bill for ``searches`` queries.

    >>> round(api_usd(PAPER.searches, PAPER.usd_per_1k_queries), 2)
    586.7
    """
    return searches / 1000 * usd_per_1k_queries


def usage_row(usage: SimUsage, inputs: CostInputs, label: str | None = None) -> CostRow:
    """The cost of one simulator's usage under ``inputs``."""
    per_search = inputs.tokens_per_search if usage.completion_tokens == 0 and usage.searches > 0 else None
    assumed = per_search is not None
    priced = usage.searches * per_search if per_search is not None else float(usage.completion_tokens)
    hours = gpu_hours(priced, inputs.tokens_per_s, inputs.gpus)
    return CostRow(
        label=label or usage.sim,
        searches=usage.searches,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        sim_wall_s=usage.sim_wall_s,
        priced_tokens=priced,
        tokens_assumed=assumed,
        gpu_hours=hours,
        sim_usd=hours * inputs.usd_per_gpu_hour if inputs.usd_per_gpu_hour is not None else None,
        api_usd=api_usd(usage.searches, inputs.usd_per_1k_queries),
        usd_per_1k_queries=inputs.usd_per_1k_queries,
    )


def paper_row(paper: PaperFigures = PAPER) -> CostRow:
    """The paper's run: its searches priced at its own SerpAPI rate (which gives back
    its $586.70), next to its simulator's bill as the paper states it."""
    return CostRow(
        label=f"paper: {paper.simulator} on {paper.gpus} x {paper.gpu} vs SerpAPI",
        searches=paper.searches,
        prompt_tokens=None,
        completion_tokens=None,
        sim_wall_s=None,
        priced_tokens=None,
        tokens_assumed=False,
        gpu_hours=None,
        sim_usd=paper.simulator_usd,
        api_usd=api_usd(paper.searches, paper.usd_per_1k_queries),
        usd_per_1k_queries=paper.usd_per_1k_queries,
    )


@dataclass(frozen=True)
class CostReport:
    """The rows of a run (one per simulator, a total when there are several), the
    paper's row, and what they were computed from."""

    run_dir: str
    kind: str
    inputs: CostInputs
    rows: list[CostRow]
    paper: CostRow

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "kind": self.kind,
            "inputs": asdict(self.inputs),
            "formulas": FORMULAS,
            "rows": [{**asdict(row), "sim_over_api": row.sim_over_api} for row in self.rows],
            "paper": {**asdict(self.paper), "sim_over_api": self.paper.sim_over_api, "figures": asdict(PAPER),
                      "source": PAPER_SOURCE},
        }  # fmt: skip


FORMULAS = {
    "gpu_hours": "completion tokens / tokens_per_s / 3600 x gpus",
    "sim_usd": "gpu_hours x usd_per_gpu_hour",
    "api_usd": "searches / 1000 x usd_per_1k_queries",
}
PAPER_SOURCE = "ZeroSearch paper (arXiv 2505.04588), cost comparison: about 64,000 searches, $586.70 via SerpAPI, $70.80 for SFT-14B on 4 A100s"


def cost_report(run_dir: str | Path, kind: str, usages: list[SimUsage], inputs: CostInputs) -> CostReport:
    """The run's rows under ``inputs``, and the paper's row."""
    rows = [usage_row(usage, inputs) for usage in usages]
    if len(usages) > 1:
        total = usages[0]
        for usage in usages[1:]:
            total = total + usage
        rows.append(_total_row(rows, total, inputs))
    for row in rows:
        _check_finite(row, inputs)
    return CostReport(str(run_dir), kind, inputs, rows, paper_row())


def _check_finite(row: CostRow, inputs: CostInputs) -> None:
    """Refuse a row whose arithmetic overflowed (a throughput of 1e-320 tokens/s gives
    infinite GPU-hours): a table of ``inf`` and ``$inf`` is not an answer."""
    figures = {"gpu_hours": row.gpu_hours, "sim_usd": row.sim_usd, "api_usd": row.api_usd, "sim_over_api": row.sim_over_api}
    broken = {name: value for name, value in figures.items() if value is not None and not math.isfinite(value)}
    if broken:
        shown = ", ".join(f"{name}={value}" for name, value in broken.items())
        raise ConfigError(
            f"the cost of {row.label!r} is not a finite number ({shown}) with tokens_per_s={inputs.tokens_per_s!r}, "
            f"gpus={inputs.gpus}, usd_per_gpu_hour={inputs.usd_per_gpu_hour!r}, usd_per_1k_queries={inputs.usd_per_1k_queries!r}; "
            "give the deployment's real throughput (completion tokens/s) and prices"
        )


def _total_row(rows: list[CostRow], total: SimUsage, inputs: CostInputs) -> CostRow:
    """The sum of the rows (each priced as it was, assumed tokens included)."""
    priced = sum(row.priced_tokens or 0.0 for row in rows)
    hours = gpu_hours(priced, inputs.tokens_per_s, inputs.gpus)
    return CostRow(
        "total", total.searches, total.prompt_tokens, total.completion_tokens, total.sim_wall_s, priced,
        any(row.tokens_assumed for row in rows), hours,
        hours * inputs.usd_per_gpu_hour if inputs.usd_per_gpu_hour is not None else None,
        api_usd(total.searches, inputs.usd_per_1k_queries), inputs.usd_per_1k_queries,
    )  # fmt: skip
