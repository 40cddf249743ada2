"""The batching front: 64 concurrent single-trajectory workers against one in-process simulator.

Target: with :class:`~zerosearch_env.simulators.batching.BatchingSimulator` in front of a
tiny transformers simulator, 64 worker threads that each send one search at a time get at
least 5x the searches per second they get calling the simulator directly (measured side
by side in one run).

Run: ``pytest benchmarks/bench_batching.py -s``. Under ``--benchmark-disable`` (quick
mode) each case runs once and the ratio is not asserted.
"""

from __future__ import annotations

import threading

import pytest

from zerosearch_env.simulators.base import SearchRequest

from .conftest import record_mean

WORKERS = 64
SEARCHES_EACH = 2
TARGET_RATIO = 5.0
_means: dict[str, float] = {}


@pytest.fixture(scope="module")
def tiny_sim(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from zerosearch_env.simulators.hf import HFSimulator
    from zerosearch_env.testing import build_tiny_llama

    return HFSimulator(build_tiny_llama(tmp_path_factory.mktemp("bench") / "tiny"), max_new_tokens=32, batch_size=64)


def play(simulate) -> int:
    """``WORKERS`` threads, each making ``SEARCHES_EACH`` one-request searches; returns the searches answered."""
    answered = []

    def worker(i: int) -> None:
        for k in range(SEARCHES_EACH):
            results = simulate([SearchRequest(f"query {i}-{k}", f"Question {i}?", (f"A{i}",), seed=i * 100 + k)])
            answered.append(len(results))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(answered)


def test_workers_without_the_front(benchmark, tiny_sim):
    assert benchmark.pedantic(play, args=(tiny_sim.simulate,), rounds=2, warmup_rounds=0) == WORKERS * SEARCHES_EACH
    record_mean(_means, "direct", benchmark)


def test_workers_with_the_front(benchmark, tiny_sim):
    from zerosearch_env.simulators.batching import BatchingSimulator

    front = BatchingSimulator(tiny_sim, max_batch=64, max_wait_ms=10)
    try:
        assert benchmark.pedantic(play, args=(front.simulate,), rounds=3, warmup_rounds=1) == WORKERS * SEARCHES_EACH
    finally:
        front.close()
    record_mean(_means, "front", benchmark)
    if benchmark.stats is not None:
        benchmark.extra_info.update(batches=front.stats.batches, calls=front.stats.calls)


def test_front_ratio():
    if not {"direct", "front"} <= set(_means):
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    ratio = _means["direct"] / _means["front"]
    print(f"\nsearches/s with the front / without, {WORKERS} workers: {ratio:.1f}x (target >= {TARGET_RATIO}x)")
    assert ratio >= TARGET_RATIO
