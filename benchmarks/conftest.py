"""Shared pieces of the benchmark suites."""

from __future__ import annotations

from zerosearch_env.simulators.base import SearchResult

DOCS = tuple(f"Document {i} about the topic, with about thirty words of filler text to be realistic in size." for i in range(5))


class FixedDocumentsSimulator:
    """Returns the same five documents at once: isolates the environment's own overhead.

    A new result per request, as a real simulator makes, so no per-result work is shared."""

    name = "fixed"

    def simulate(self, requests):
        return [SearchResult(documents=DOCS) for _ in requests]


def record_mean(store: dict, key, benchmark) -> None:
    """Keep a benchmark's mean for a ratio test (absent under --benchmark-disable)."""
    if benchmark.stats is not None:
        store[key] = benchmark.stats.stats.mean
