"""Noisy examples made from useful ones: the same engine's results with every
answer-bearing document removed.

A simulator has to learn both modes, and the labels rarely give both in the right
measure: the outcome rule gives no noisy examples at all with an agent that always
answers right, and few with a good one, while the paper's curriculum ends with half of
the searches noisy. :func:`mix_noisy` gives a chosen useful search a *noisy twin*: the
same query is asked of the same real engine again for ``candidates`` times as many
documents as the useful set holds, and the first ones that hold no golden answer
(:func:`~zerosearch_env.reward.contains_answer`) become the twin's documents, as many as
the useful set has. These are what a real engine returns for the query once the answer
is out of reach: on topic, plausible, and useless, which is what "noisy" asks of a simulator
(the ``corpus`` simulator's noisy mode is built the same way).

Only a useful search whose documents hold a golden answer gets a twin: one without
the answer (the first hop of a multi-hop question; a search the outcome rule credits for
a later one) has nothing to remove, and its twin would be the useful set itself, the
same documents under both labels.

Why ask the engine again rather than reuse the trajectory's own documents: a useful set
minus its answer-bearing documents is shorter than the set, so the twins would teach the
simulator that noisy means *fewer* documents instead of *no answer*. A search whose
engine has fewer than that many answer-free documents among its candidates gets no twin
(it is counted as ``short``) and the next useful search is tried.

Deterministic: which useful searches get a twin is a permutation drawn from ``seed``
(a local generator), and a query-only engine answers the same query the same way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..reward import contains_answer
from ..simulators.base import SearchRequest, Simulator
from .examples import SimExample

MIXED = "mixed"
"""The ``label`` of a noisy twin."""


@dataclass
class MixReport:
    """What mixing asked for and got."""

    noisy_share: float  # the share of noisy examples asked for
    every: bool = False  # a twin for every answer-bearing useful example was asked for instead
    wanted: int = 0  # noisy twins needed to reach it
    eligible: int = 0  # useful examples whose documents hold a golden answer (only those get a twin)
    made: int = 0
    short: int = 0  # useful searches whose engine had too few answer-free documents
    failed: int = 0  # re-asked searches the engine failed to answer


def twins_needed(useful: int, noisy: int, share: float) -> int:
    """Noisy examples to add so that ``share`` of all examples are noisy (at most one
    twin per useful example; 0 when the share is already reached).

    >>> twins_needed(90, 10, 0.5), twins_needed(10, 90, 0.5), twins_needed(100, 0, 0.2)
    (80, 0, 25)
    """
    if not 0.0 <= share < 1.0:
        raise ConfigError(f"noisy_share expects a share in [0, 1), got {share!r}")
    need = math.ceil((share * (useful + noisy) - noisy) / (1.0 - share) - 1e-9)
    return max(0, min(useful, need))


def noisy_documents(candidates: Sequence[str], golden_answers: Sequence[str], count: int) -> tuple[str, ...] | None:
    """The first ``count`` candidates that hold no golden answer, or None if fewer do.

    >>> noisy_documents(["Acme was founded in 1901.", "Acme makes soap.", "Acme is in Ohio."], ["1901"], 2)
    ('Acme makes soap.', 'Acme is in Ohio.')
    >>> noisy_documents(["Acme was founded in 1901.", "Acme makes soap."], ["1901"], 2) is None
    True
    """
    kept = tuple(doc for doc in candidates if not contains_answer(doc, golden_answers))[:count]
    return kept if len(kept) == count else None


def mix_noisy(
    examples: Sequence[SimExample],
    engines: Simulator | Mapping[str, Simulator],
    *,
    noisy_share: float = 0.5,
    every: bool = False,
    candidates: int = 10,
    seed: int = 0,
) -> tuple[list[SimExample], MixReport]:
    """``examples`` with noisy twins added (each right after its useful example) until
    ``noisy_share`` of them are noisy, or no answer-bearing useful example is left to twin.
    With ``every``, each answer-bearing useful example gets its twin: the pairs differ
    only where the answer was, the contrast a small simulator learns the quality word from.

    ``engines``: the engine the searches were made with (one simulator), or one per
    example keyed by its ``source`` (searches collected over several worlds each go back
    to their own world's engine).
    """
    if candidates < 1:
        raise ConfigError(f"candidates expects an int >= 1, got {candidates!r}")
    useful = sum(e.quality == "useful" for e in examples)
    order = [i for i, e in enumerate(examples) if e.quality == "useful" and _holds_answer(e)]
    wanted = len(order) if every else twins_needed(useful, len(examples) - useful, noisy_share)
    report = MixReport(noisy_share, every, wanted, len(order))
    random.Random(seed).shuffle(order)
    twins: dict[int, SimExample] = {}
    position = 0
    while report.made < report.wanted and position < len(order):
        chunk = order[position : position + report.wanted - report.made]
        position += len(chunk)
        for index, twin in zip(chunk, _ask_again([examples[i] for i in chunk], engines, candidates, report)):
            if twin is not None:
                twins[index] = twin
                report.made += 1
    mixed: list[SimExample] = []
    for index, example in enumerate(examples):
        mixed.append(example)
        if index in twins:
            mixed.append(twins[index])
    return mixed, report


def _ask_again(chosen: Sequence[SimExample], engines: Simulator | Mapping[str, Simulator], candidates: int, report: MixReport) -> list[SimExample | None]:
    """Each chosen example's noisy twin (None where the engine failed or fell short):
    one batched call per engine."""
    groups: dict[int, tuple[Simulator, list[int]]] = {}
    for position, example in enumerate(chosen):
        engine = _engine(engines, example)
        groups.setdefault(id(engine), (engine, []))[1].append(position)
    twins: list[SimExample | None] = [None] * len(chosen)
    for engine, positions in groups.values():
        requests = [_request(chosen[p], candidates) for p in positions]
        for position, result in zip(positions, engine.simulate(requests)):
            example = chosen[position]
            if result.failed:
                report.failed += 1
                continue
            documents = noisy_documents(result.documents, example.golden_answers, len(example.documents))
            if documents is None:
                report.short += 1
                continue
            twins[position] = SimExample(example.query, example.question, example.golden_answers, "noisy", documents, MIXED, example.source)
    return twins


def _holds_answer(example: SimExample) -> bool:
    return any(contains_answer(document, example.golden_answers) for document in example.documents)


def _engine(engines: Simulator | Mapping[str, Simulator], example: SimExample) -> Simulator:
    if not isinstance(engines, Mapping):
        return engines
    try:
        return engines[example.source]
    except KeyError:
        raise ConfigError(f"mixing: no engine for the search {example.source!r}; pass one engine or one per source") from None


def _request(example: SimExample, candidates: int) -> SearchRequest:
    """The search again, for ``candidates`` times as many documents (a query-only engine
    reads the query and the count; a simulator would also read the answers and the mode)."""
    return SearchRequest(example.query, example.question, tuple(example.golden_answers), "useful", len(example.documents) * candidates)
