"""Simulator throughput: one batched call against one call per request (the reference's pattern).

Run: ``pytest benchmarks/bench_simulators.py`` (add ``--benchmark-only`` for the table).
The ratio of the two means is printed and asserted against the target.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from zerosearch_env.simulators.base import SearchRequest  # noqa: E402
from zerosearch_env.simulators.hf import HFSimulator  # noqa: E402
from zerosearch_env.tiny import build_tiny_llama  # noqa: E402

N_REQUESTS = 64
MAX_NEW_TOKENS = 32
TARGET_RATIO = 8.0
_means: dict[str, float] = {}


@pytest.fixture(scope="module")
def tiny_sim(tmp_path_factory):
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = build_tiny_llama(tmp_path_factory.mktemp("bench") / "tiny")
    return HFSimulator(path, max_new_tokens=MAX_NEW_TOKENS, batch_size=N_REQUESTS)


@pytest.fixture(scope="module")
def requests():
    return [SearchRequest(f"query {i}", f"Question {i}?", (f"A{i}",), "useful", seed=i) for i in range(N_REQUESTS)]


def test_hf_batched_64(benchmark, tiny_sim, requests):
    results = benchmark.pedantic(tiny_sim.simulate, args=(requests,), rounds=3, warmup_rounds=1)
    assert len(results) == N_REQUESTS
    if benchmark.stats is not None:  # None under --benchmark-disable (quick mode)
        _means["batched"] = benchmark.stats.stats.mean


def test_hf_sequential_64(benchmark, tiny_sim, requests):
    def one_at_a_time():
        return [tiny_sim.simulate([r])[0] for r in requests]

    results = benchmark.pedantic(one_at_a_time, rounds=1, warmup_rounds=0)
    assert len(results) == N_REQUESTS
    if benchmark.stats is not None:
        _means["sequential"] = benchmark.stats.stats.mean


def test_batching_ratio():
    if set(_means) != {"batched", "sequential"}:
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    ratio = _means["sequential"] / _means["batched"]
    print(f"\ntransformers tiny simulator, {N_REQUESTS} requests: batched is {ratio:.1f}x one-at-a-time")
    assert ratio >= TARGET_RATIO
