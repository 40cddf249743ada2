"""The scores of a fidelity run, from the searches each engine answered.

Per engine and mode (``useful``, ``noisy``, or ``any`` for an engine that reads only the
query), over the same queries, each mean with a 95% percentile-bootstrap interval over
searches (seeded, so the same searches give the same report):

- *format validity*: the reply holds exactly ``topk`` documents (an LLM's raw reply:
  exactly ``topk`` non-empty ``Doc i:`` markers); words per document;
- *answer presence*: a golden answer occurs, as whole normalised words, in a document.
  In noisy mode this is the *leak rate*; the *separation* is useful presence minus noisy
  leak, paired by query;
- *relevance*: each document's best token F1 against the reference's documents for the
  same query, averaged over the engine's documents; and the BM25 score of the engine's
  documents for the query relative to the reference's (both scored in one index over the
  two engines' documents, a ratio of sums over queries);
- *diversity*: the share of a reply's documents that repeat an earlier one, and
  distinct-2 (distinct word bigrams over all bigrams) across every reply;
- *reader agreement*: a fixed reader's F1 after reading the engine's documents, next to
  the same reader's F1 on the reference's documents for the same queries;
- *cost*: simulator tokens per search, latency per request, searches per second of
  simulator wall time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..reward import contains_answer, f1_score, normalize_answer
from .metrics import Interval, bootstrap_interval

NAN = Interval(float("nan"), float("nan"), float("nan"))


@dataclass(frozen=True)
class ModeScores:
    """One engine in one mode (``useful``, ``noisy`` or ``any``)."""

    quality: str
    searches: int
    failed_rate: float
    format_valid: Interval
    words_per_document: Interval
    answer_presence: Interval
    overlap: Interval
    bm25_relative: Interval
    duplicate_rate: Interval
    distinct_2: float
    reader_f1: Interval
    reference_reader_f1: Interval
    prompt_tokens_per_search: float
    completion_tokens_per_search: float
    latency_s: float
    searches_per_s: float
    presence_by_source: dict[str, float] = field(default_factory=dict)  # answer presence per data source


@dataclass(frozen=True)
class EngineScores:
    """Every mode of one engine, the useful-minus-noisy separation and its totals."""

    engine: str
    query_only: bool
    modes: tuple[ModeScores, ...]
    separation: Interval
    searches: int
    prompt_tokens: int
    completion_tokens: int
    sim_wall_s: float

    def mode(self, quality: str) -> ModeScores | None:
        return next((m for m in self.modes if m.quality == quality), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- one reply


def is_format_valid(record: Mapping[str, Any], topk: int) -> bool:
    """The search answered with exactly ``topk`` documents (and, for an LLM reply, exactly
    ``topk`` ``Doc i:`` markers)."""
    if record["failed"] or len(record["documents"]) != topk:
        return False
    marked = record.get("marked_documents")
    return marked is None or marked == topk


def words_per_document(documents: Sequence[str]) -> float | None:
    return sum(len(d.split()) for d in documents) / len(documents) if documents else None


def answer_present(documents: Sequence[str], golden_answers: Sequence[str]) -> bool:
    return any(contains_answer(d, golden_answers) for d in documents)


def best_match_overlap(documents: Sequence[str], reference: Sequence[str]) -> float | None:
    """Mean over ``documents`` of each one's best token F1 against a ``reference``
    document; None when the reference found nothing, 0 when the engine wrote nothing.

    >>> best_match_overlap(["a b c", "x y"], ["a b c", "q"]), best_match_overlap([], ["a"])
    (0.5, 0.0)
    """
    if not reference:
        return None
    if not documents:
        return 0.0
    return sum(f1_score(d, reference) for d in documents) / len(documents)


def duplicate_rate(documents: Sequence[str]) -> float | None:
    """Share of the documents that repeat an earlier one of the same reply (normalised).

    >>> duplicate_rate(["The cat.", "the cat", "a dog", "owl"])
    0.25
    """
    if not documents:
        return None
    return 1.0 - len({normalize_answer(d) for d in documents}) / len(documents)


def distinct_n(replies: Sequence[Sequence[str]], n: int = 2) -> float:
    """Distinct word n-grams over all n-grams of every document of every reply.

    >>> distinct_n([["red fox ran"], ["red fox sat"]])
    0.75
    """
    grams = [tuple(words[i : i + n]) for docs in replies for d in docs for words in [normalize_answer(d).split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def bm25_relative(queries: Sequence[str], engine: Sequence[Sequence[str]], reference: Sequence[Sequence[str]], topk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the mean BM25 score (over ``topk`` slots; a missing document scores 0)
    of the engine's documents and of the reference's, both scored in one BM25 index over
    the two engines' documents, so neither brings statistics the other lacks."""
    from ..simulators.ranking import index_texts, query_words

    pool: dict[str, int] = {}
    for docs in (*engine, *reference):
        for d in docs:
            pool.setdefault(d, len(pool))
    if not pool:
        return np.zeros(len(queries)), np.zeros(len(queries))
    bm25 = index_texts(list(pool))
    ours, theirs = np.zeros(len(queries)), np.zeros(len(queries))
    for i, words in enumerate(query_words(list(queries))):
        if not words:
            continue
        scores = bm25.get_scores(words)
        ours[i] = sum(scores[pool[d]] for d in engine[i]) / topk
        theirs[i] = sum(scores[pool[d]] for d in reference[i]) / topk
    return ours, theirs


def bootstrap_ratio(numerators: Sequence[float] | np.ndarray, denominators: Sequence[float] | np.ndarray, *, seed: int = 0, resamples: int = 1000) -> Interval:
    """Ratio of sums, with a paired percentile-bootstrap interval (NaN when the
    denominator sums to 0).

    >>> bootstrap_ratio([1.0, 2.0], [1.0, 2.0])
    Interval(mean=1.0, low=1.0, high=1.0)
    """
    num, den = np.asarray(numerators, dtype=np.float64), np.asarray(denominators, dtype=np.float64)
    if num.size == 0 or den.sum() == 0:
        return NAN
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, num.size, size=(resamples, num.size))
    sums = den[picks].sum(axis=1)
    ratios = num[picks].sum(axis=1)[sums > 0] / sums[sums > 0]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Interval(float(num.sum() / den.sum()), float(low), float(high))


# ----------------------------------------------------------------------------- an engine


def _interval(values: Sequence[float | None], seed: int, resamples: int) -> Interval:
    kept = [float(v) for v in values if v is not None]
    return bootstrap_interval(kept, seed=seed, resamples=resamples) if kept else NAN


def score_mode(
    quality: str,
    records: Sequence[Mapping[str, Any]],
    reference: Mapping[str, Mapping[str, Any]],
    golden: Mapping[str, Sequence[str]],
    queries: Mapping[str, str],
    topk: int,
    *,
    sources: Mapping[str, str] | None = None,
    seed: int = 0,
    resamples: int = 1000,
) -> ModeScores:
    """The scores of one mode's ``records`` (one per query), against the reference's
    records by query key. ``golden`` and ``queries`` map a query key to its golden answers
    and query text, ``sources`` to its data source (for the presence per source)."""
    refs = [reference.get(r["query_key"]) for r in records]
    ref_docs = [list(ref["documents"]) if ref else [] for ref in refs]
    docs = [list(r["documents"]) for r in records]
    ours, theirs = bm25_relative([queries[r["query_key"]] for r in records], docs, ref_docs, topk)
    read = [(r["reader_f1"], ref["reader_f1"] if ref else None) for r, ref in zip(records, refs) if r.get("reader_f1") is not None]
    wall = sum(float(r["wall_s"]) for r in records)
    n = max(1, len(records))
    present = [float(answer_present(d, golden[r["query_key"]])) for r, d in zip(records, docs)]
    by_source: dict[str, list[float]] = {}
    for r, hit in zip(records, present):
        by_source.setdefault((sources or {}).get(r["query_key"], "unknown"), []).append(hit)
    return ModeScores(
        quality=quality,
        searches=len(records),
        failed_rate=sum(bool(r["failed"]) for r in records) / n,
        format_valid=_interval([float(is_format_valid(r, topk)) for r in records], seed, resamples),
        words_per_document=_interval([words_per_document(d) for d in docs], seed, resamples),
        answer_presence=_interval(present, seed, resamples),
        overlap=_interval([best_match_overlap(d, rd) for d, rd in zip(docs, ref_docs)], seed, resamples),
        bm25_relative=bootstrap_ratio(ours, theirs, seed=seed, resamples=resamples),
        duplicate_rate=_interval([duplicate_rate(d) for d in docs], seed, resamples),
        distinct_2=distinct_n(docs),
        reader_f1=_interval([ours_f1 for ours_f1, _ in read], seed, resamples),
        reference_reader_f1=_interval([ref_f1 for _, ref_f1 in read], seed, resamples),
        prompt_tokens_per_search=sum(int(r["prompt_tokens"]) for r in records) / n,
        completion_tokens_per_search=sum(int(r["completion_tokens"]) for r in records) / n,
        latency_s=sum(float(r["latency_s"]) for r in records) / n,
        searches_per_s=len(records) / wall if wall > 0 else float("inf"),
        presence_by_source={name: sum(hits) / len(hits) for name, hits in sorted(by_source.items())},
    )


def score_engine(
    label: str,
    query_only: bool,
    records: Mapping[str, Mapping[str, Any]],
    reference: Mapping[str, Mapping[str, Any]],
    golden: Mapping[str, Sequence[str]],
    queries: Mapping[str, str],
    qualities: Sequence[str],
    topk: int,
    *,
    sources: Mapping[str, str] | None = None,
    seed: int = 0,
    resamples: int = 1000,
) -> EngineScores:
    """All modes of one engine. ``records`` are its searches by ``"<quality>/<query key>"``
    (only the keys of this run's queries are scored); ``reference`` the reference
    engine's, by query key."""
    modes = []
    by_mode: dict[str, dict[str, Mapping[str, Any]]] = {}
    for quality in qualities:
        chosen = {key: records[f"{quality}/{key}"] for key in queries if f"{quality}/{key}" in records}
        by_mode[quality] = chosen
        modes.append(score_mode(quality, list(chosen.values()), reference, golden, queries, topk, sources=sources, seed=seed, resamples=resamples))
    separation = NAN
    if "useful" in by_mode and "noisy" in by_mode:
        paired = [key for key in by_mode["useful"] if key in by_mode["noisy"]]
        separation = _interval(
            [
                float(answer_present(by_mode["useful"][k]["documents"], golden[k])) - float(answer_present(by_mode["noisy"][k]["documents"], golden[k]))
                for k in paired
            ],
            seed,
            resamples,
        )
    every = [r for chosen in by_mode.values() for r in chosen.values()]
    return EngineScores(
        engine=label,
        query_only=query_only,
        modes=tuple(modes),
        separation=separation,
        searches=len(every),
        prompt_tokens=sum(int(r["prompt_tokens"]) for r in every),
        completion_tokens=sum(int(r["completion_tokens"]) for r in every),
        sim_wall_s=sum(float(r["wall_s"]) for r in every),
    )
