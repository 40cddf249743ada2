"""The label balance, and what is wrong with it in plain words.

A simulator learns its two modes from the examples' two qualities, so the balance is
the first thing to look at before training. :class:`LabelReport` counts useful and
noisy searches under every free labeller side by side (``outcome`` and ``presence``,
plus ``judge`` when it was asked), and how far each disagrees with the documents
themselves: the share of "useful" sets without a golden answer and of "noisy" sets that
hold one. ``presence`` has neither by definition; ``outcome`` has both when the agent is
weak (it misreads good documents, or answers right without them), none of the first
kind and no noisy sets at all when the agent is perfect. :func:`report_warnings` says so,
and what to do about it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .examples import SimExample, balance

if TYPE_CHECKING:
    from .labels import LabelConfig, Searches
    from .mixing import MixReport

#: Above this share of "useful" sets without the answer (or "noisy" sets with it), the report warns.
DISAGREEMENT_WARNING = 0.10
#: Below this noisy share of the examples written (or above one minus it), the report suggests mixing.
BALANCE_WARNING = 0.20


@dataclass
class LabellerCounts:
    """One labeller's verdicts on the searches, and how they agree with answer presence."""

    useful: int = 0
    noisy: int = 0
    useful_without_answer: int = 0
    noisy_with_answer: int = 0
    failed: int = 0  # searches the labeller gave no verdict on (a failed judgement)

    @property
    def useful_without_answer_share(self) -> float | None:
        """Share of the "useful" sets that hold no golden answer."""
        return self.useful_without_answer / self.useful if self.useful else None

    @property
    def noisy_with_answer_share(self) -> float | None:
        """Share of the "noisy" sets that hold a golden answer."""
        return self.noisy_with_answer / self.noisy if self.noisy else None


@dataclass
class LabelReport:
    """What ``zerosearch simtune label`` read, labelled, mixed and wrote."""

    labeller: str
    metric: str
    threshold: float
    files: list[str]
    episodes: int
    searches: int  # searches with documents: the ones labelled
    skipped: dict[str, int]  # failed: the engine failed; empty: no documents
    labellers: dict[str, LabellerCounts]
    examples: dict[str, int]  # the balance of the examples written (mixed twins included)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # the chosen labeller's balance per data source
    mixed: dict[str, Any] | None = None  # MixReport fields, when mixing was asked
    engines: list[str] = field(default_factory=list)  # the engines of the trajectories, where their folders say
    warnings: list[str] = field(default_factory=list)

    @property
    def noisy_share(self) -> float:
        """The share of noisy examples in the file written."""
        total = sum(self.examples.values())
        return self.examples.get("noisy", 0) / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name, counts in self.labellers.items():
            data["labellers"][name].update(
                useful_without_answer_share=counts.useful_without_answer_share, noisy_with_answer_share=counts.noisy_with_answer_share
            )
        data["noisy_share"] = self.noisy_share
        return data

    def write(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return out

    def summary(self) -> str:
        """The report as a few lines of text: the table of labellers, the file's balance, the warnings."""
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items())
        lines = [
            f"{self.searches:,} searches with documents in {self.episodes:,} episodes of {len(self.files)} file(s) (skipped: {skipped})",
            f"  {'labeller':<9} {'useful':>7} {'noisy':>7} {'failed':>7} {'useful w/o answer':>18} {'noisy with answer':>18}",
        ]
        for name, c in self.labellers.items():
            lines.append(
                f"  {name:<9} {c.useful:>7,} {c.noisy:>7,} {c.failed:>7,} {_share(c.useful_without_answer_share):>18} {_share(c.noisy_with_answer_share):>18}"
            )
        for source, counts in self.by_source.items():
            lines.append(f"  {self.labeller} on {source or '(no data_source)'}: {counts['useful']:,} useful, {counts['noisy']:,} noisy")
        rule = f" ({self.metric} >= {self.threshold:g})" if self.labeller == "outcome" else ""
        mixed = f", {self.mixed['made']:,} mixed noisy twins" if self.mixed else ""
        lines.append(
            f"examples: {self.labeller} labels{rule}{mixed}: {self.examples.get('useful', 0):,} useful, "
            f"{self.examples.get('noisy', 0):,} noisy ({self.noisy_share:.1%} noisy)"
        )
        lines += [f"warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def count_labels(qualities: Sequence[str | None], holds_answer: Sequence[bool]) -> LabellerCounts:
    """Tally one labeller's verdicts against answer presence.

    >>> c = count_labels(["useful", "useful", "noisy", None], [True, False, True, False])
    >>> (c.useful, c.noisy, c.failed, c.useful_without_answer, c.noisy_with_answer)
    (2, 1, 1, 1, 1)
    """
    counts = LabellerCounts()
    for quality, holds in zip(qualities, holds_answer):
        if quality == "useful":
            counts.useful += 1
            counts.useful_without_answer += not holds
        elif quality == "noisy":
            counts.noisy += 1
            counts.noisy_with_answer += holds
        else:
            counts.failed += 1
    return counts


def build_report(
    read: Searches,
    config: LabelConfig,
    qualities: dict[str, list[str | None]],
    examples: Sequence[SimExample],
    mix: MixReport | None,
) -> LabelReport:
    """The report of one labelling: every labeller's counts, the file's balance, the warnings."""
    from .collect import collected_sim

    holds = [search.holds_answer() for search in read.searches]
    engines = sorted({sim for folder in dict.fromkeys(f.parent for f in read.files) if (sim := collected_sim(folder))})
    report = LabelReport(
        labeller=config.labeller,
        metric=config.metric,
        threshold=config.threshold,
        files=[str(f) for f in read.files],
        episodes=read.episodes,
        searches=len(read.searches),
        skipped={"failed": read.failed, "empty": read.empty},
        labellers={name: count_labels(labels, holds) for name, labels in qualities.items()},
        examples=balance(examples),
        by_source=_by_source(read, qualities[config.labeller]),
        mixed=asdict(mix) if mix is not None else None,
        engines=engines,
    )
    report.warnings = report_warnings(report)
    return report


def _by_source(read: Searches, qualities: Sequence[str | None]) -> dict[str, dict[str, int]]:
    """Useful and noisy verdicts per data source (single-hop and multi-hop questions label differently)."""
    counts: dict[str, dict[str, int]] = {}
    for search, quality in zip(read.searches, qualities):
        if quality is not None:
            counts.setdefault(search.data_source, {"useful": 0, "noisy": 0})[quality] += 1
    return dict(sorted(counts.items()))


def report_warnings(report: LabelReport) -> list[str]:
    """What a person should know about these labels before training on them."""
    from ..simulators.registry import is_query_only

    warnings = []
    chosen = report.labellers[report.labeller]
    presence = report.labellers.get("presence")
    if report.examples.get("noisy", 0) == 0 and chosen.useful:
        why = (
            f"every episode scored {report.metric} >= {report.threshold:g}: a perfect agent yields no negatives"
            if report.labeller == "outcome"
            else f"the {report.labeller} labeller found every search useful"
        )
        alternative = f" (it finds {presence.noisy:,} noisy here)" if presence and report.labeller != "presence" else ""
        warnings.append(
            f"no noisy searches: {why}. A simulator tuned on these never learns its noisy mode. "
            f"Use --labeller presence{alternative}, or mix noisy examples in with --noisy-share 0.5."
        )
    if report.searches and chosen.useful == 0 and chosen.noisy:
        warnings.append(
            f"no useful searches under the {report.labeller} labeller: the simulator would never learn its useful mode. "
            "Check --metric and --threshold, or use --labeller presence."
        )
    if report.labeller != "presence":
        if (share := chosen.useful_without_answer_share) is not None and share > DISAGREEMENT_WARNING:
            warnings.append(
                f"{share:.1%} of the 'useful' document sets hold no golden answer: their episode was right thanks to "
                "another search (or a guess), so the simulator learns that useful documents may lack the answer. A weak "
                "agent yields such noisy 'useful' sets; so does the first hop of a multi-hop question, whose documents name "
                "the bridge entity, not the answer. --labeller presence labels the documents themselves (and calls such "
                "first hops noisy)."
            )
        if (share := chosen.noisy_with_answer_share) is not None and share > DISAGREEMENT_WARNING:
            warnings.append(
                f"{share:.1%} of the 'noisy' document sets hold a golden answer: the agent had the answer in front of it "
                "and still failed (a weak agent), so the simulator learns to leak answers in noisy mode. "
                "--labeller presence labels the documents themselves."
            )
    if chosen.failed:
        warnings.append(
            f"the {report.labeller} labeller gave no verdict on {chosen.failed:,} searches (a failed or malformed judgement); "
            "they are left out of the examples, not guessed. Check the judge server and run the labelling again."
        )
    if report.skipped.get("failed"):
        warnings.append(f"{report.skipped['failed']:,} searches failed at the engine (sim_error) and were skipped.")
    if report.examples.get("noisy", 0) and report.examples.get("useful", 0) and not BALANCE_WARNING <= report.noisy_share <= 1 - BALANCE_WARNING:
        warnings.append(
            f"the examples are {report.noisy_share:.1%} noisy, far from even: the reference curriculum ends at 50% noisy "
            "searches. Mix noisy examples in with --noisy-share 0.5."
        )
    if report.mixed and report.mixed["made"] < report.mixed["wanted"]:
        mixed = report.mixed
        warnings.append(
            f"mixing made {mixed['made']:,} of the {mixed['wanted']:,} noisy twins needed for "
            f"{'a twin per useful set' if mixed.get('every') else format(mixed['noisy_share'], '.0%') + ' noisy share'}: {mixed['eligible']:,} useful document sets hold an answer to remove (only those get a twin), "
            f"{mixed['short']:,} had too few answer-free documents among the candidates"
            f"{' (raise --mix-candidates)' if mixed['short'] else ''}, {mixed['failed']:,} failed at the engine."
        )
    for sim in report.engines:
        if not is_query_only(sim):
            warnings.append(
                f"the trajectories come from sim={sim}, which is not a real search engine (it reads the golden answers): "
                "a simulator tuned on them imitates that simulator, not real search. Collect against bm25 or retriever:<url>."
            )
    return warnings
