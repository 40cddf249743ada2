"""Shared pieces of the benchmark suites."""

from __future__ import annotations

from zerosearch_env.testing import FixedSimulator

DOCS = tuple(f"Document {i} about the topic, with about thirty words of filler text to be realistic in size." for i in range(5))


def fixed_documents_simulator() -> FixedSimulator:
    """Five fixed documents at once, nothing recorded: isolates the environment's own overhead."""
    return FixedSimulator(DOCS, prompt_tokens=0, completion_tokens=0, record=False)


def record_mean(store: dict, key, benchmark) -> None:
    """Keep a benchmark's mean for a ratio test (absent under --benchmark-disable)."""
    if benchmark.stats is not None:
        store[key] = benchmark.stats.stats.mean
