"""Answer scoring throughput."""

from __future__ import annotations

from zerosearch_env.reward import cover_exact_match, exact_match, f1_score

PREDICTION = "The founder was Jane Doe, an engineer from Springfield."
GOLDEN = ["Jane Doe", "J. Doe", "Doe"]


def test_f1(benchmark):
    assert benchmark(f1_score, PREDICTION, GOLDEN) > 0


def test_exact_match(benchmark):
    assert benchmark(exact_match, PREDICTION, GOLDEN) == 0.0


def test_cover_exact_match(benchmark):
    assert benchmark(cover_exact_match, PREDICTION, GOLDEN) == 1.0
