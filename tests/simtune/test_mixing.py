"""mix_noisy: noisy twins from the same engine, without an answer-bearing document, deterministic."""

from __future__ import annotations

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.reward import contains_answer
from zerosearch_env.simtune import SimExample, balance
from zerosearch_env.simtune.mixing import MIXED, mix_noisy, twins_needed
from zerosearch_env.simulators.base import SearchResult

RANKED = ["Acme was founded in 1901 by Jane Doe.", "In 1901 Acme opened.", "Acme makes soap.", "Acme is in Ohio.", "Acme has 40 staff."]


class RankedEngine:
    """A query-only engine that returns the same ranking for every query, cut at topk."""

    name = "ranked"

    def __init__(self, ranking=RANKED):
        self.ranking = list(ranking)
        self.requests = []

    def simulate(self, requests):
        self.requests += requests
        return [SearchResult(tuple(self.ranking[: r.topk])) for r in requests]


def _useful(i: int, count: int = 2) -> SimExample:
    return SimExample(f"q{i}", f"Q{i}?", ("1901",), "useful", tuple(RANKED[:count]), "outcome", f"t.jsonl:{i}:1")


def test_twins_hold_no_answer_sit_after_their_useful_example_and_reach_the_share():
    examples = [_useful(i) for i in range(6)] + [SimExample("n", "N?", ("x",), "noisy", ("d",), "outcome", "t.jsonl:9:1")]
    engine = RankedEngine()
    mixed, report = mix_noisy(examples, engine, noisy_share=0.5, candidates=3)
    assert (report.wanted, report.made, report.short, report.failed) == (5, 5, 0, 0)
    assert balance(mixed) == {"useful": 6, "noisy": 6}
    twins = [e for e in mixed if e.label == MIXED]
    for twin in twins:
        assert twin.quality == "noisy" and twin.documents == ("Acme makes soap.", "Acme is in Ohio.")
        assert not any(contains_answer(d, twin.golden_answers) for d in twin.documents)
        useful = mixed[mixed.index(twin) - 1]
        assert (useful.quality, useful.query, useful.source) == ("useful", twin.query, twin.source)
    assert {r.topk for r in engine.requests} == {6} and len(engine.requests) == 5  # 2 documents x 3 candidates


def test_mixing_is_deterministic_and_the_seed_picks_which_searches_get_twins():
    examples = [_useful(i) for i in range(20)]
    first, _ = mix_noisy(examples, RankedEngine(), noisy_share=0.2)
    again, _ = mix_noisy(examples, RankedEngine(), noisy_share=0.2)
    other, _ = mix_noisy(examples, RankedEngine(), noisy_share=0.2, seed=1)
    assert first == again and balance(first)["noisy"] == 5
    assert [e.query for e in first if e.label == MIXED] != [e.query for e in other if e.label == MIXED]


def test_an_engine_without_enough_answer_free_documents_gives_no_twin_and_is_counted():
    short = RankedEngine(RANKED[:3])  # one answer-free document only
    mixed, report = mix_noisy([_useful(i) for i in range(4)], short, noisy_share=0.5)
    assert (report.wanted, report.made, report.short) == (4, 0, 4) and balance(mixed)["noisy"] == 0
    mixed, report = mix_noisy([_useful(i, count=1) for i in range(4)], short, noisy_share=0.5)
    assert (report.made, report.short) == (4, 0) and all(e.documents == ("Acme makes soap.",) for e in mixed if e.label == MIXED)


def test_engines_by_source_and_the_share_arithmetic():
    a, b = RankedEngine(), RankedEngine()
    examples = [_useful(0), _useful(1)]
    _, report = mix_noisy(examples, {"t.jsonl:0:1": a, "t.jsonl:1:1": b}, noisy_share=0.5)
    assert report.made == 2 and len(a.requests) == len(b.requests) == 1
    with pytest.raises(ConfigError, match="no engine for the search"):
        mix_noisy(examples, {"t.jsonl:0:1": a}, noisy_share=0.5)
    assert twins_needed(10, 10, 0.5) == 0 and twins_needed(3, 0, 0.9) == 3 and twins_needed(5, 5, 0.0) == 0
    assert mix_noisy(examples, a, noisy_share=0.0)[0] == examples


def test_a_useful_set_without_the_answer_gets_no_twin_it_would_only_repeat_itself():
    answerless = SimExample("first hop", "Q?", ("1901",), "useful", ("Acme makes soap.", "Acme is in Ohio."), "outcome", "t.jsonl:7:1")
    engine = RankedEngine()
    mixed, report = mix_noisy([answerless, _useful(0)], engine, noisy_share=0.5)
    assert (report.wanted, report.eligible, report.made) == (2, 1, 1)
    assert [(e.query, e.quality) for e in mixed] == [("first hop", "useful"), ("q0", "useful"), ("q0", "noisy")]
    assert [r.query for r in engine.requests] == ["q0"]


def test_every_answer_bearing_useful_search_can_get_its_twin():
    without_answer = SimExample("q9", "Q9?", ("1901",), "useful", ("Acme makes soap.", "Acme is in Ohio."), "outcome", "t.jsonl:9:1")
    examples = [_useful(i) for i in range(5)] + [without_answer, SimExample("n", "N?", ("x",), "noisy", ("d",), "outcome", "t.jsonl:8:1")]
    mixed, report = mix_noisy(examples, RankedEngine(), noisy_share=0.0, every=True)
    assert (report.every, report.wanted, report.made) == (True, 5, 5)  # the set without the answer has nothing to remove
    pairs = [(mixed[i - 1].query, twin.query) for i, twin in enumerate(mixed) if twin.label == MIXED]
    assert pairs == [(f"q{i}", f"q{i}") for i in range(5)]
