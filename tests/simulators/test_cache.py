import gymnasium as gym
import pytest

import zerosearch_env  # noqa: F401
from zerosearch_env.errors import ConfigError
from zerosearch_env.simulators.base import SearchRequest, SearchResult
from zerosearch_env.simulators.cache import CachingSimulator


class CountingSimulator:
    """Documents that name the request's seed, so sharing is visible."""

    name = "counting"

    def __init__(self):
        self.calls = []

    def simulate(self, requests):
        self.calls.append(len(requests))
        return [SearchResult(documents=(f"{r.query} seed {r.seed}",), prompt_tokens=5) for r in requests]


def req(query="q", seed=0, quality="useful", question="Q?"):
    return SearchRequest(query, question, ("a",), quality, seed=seed)


def test_dedup_simulates_identical_requests_once():
    inner = CountingSimulator()
    sim = CachingSimulator(inner, dedup=True)
    results = sim.simulate([req(seed=1), req(seed=2), req("other", seed=3), req(seed=4, quality="noisy")])
    assert inner.calls == [3]
    assert results[0] is results[1] and results[0].documents == ("q seed 1",)
    assert results[2].documents == ("other seed 3",)
    assert sim.stats.deduplicated == 1 and sim.stats.requests == 4


def test_without_dedup_each_seed_is_its_own_sample():
    inner = CountingSimulator()
    results = CachingSimulator(inner, cache_size=10).simulate([req(seed=1), req(seed=2)])
    assert [r.documents for r in results] == [("q seed 1",), ("q seed 2",)]


def test_cache_by_seed_hits_only_exact_repeats():
    inner = CountingSimulator()
    sim = CachingSimulator(inner, cache_size=10)
    sim.simulate([req(seed=1)])
    assert sim.simulate([req(seed=1)])[0].documents == ("q seed 1",)
    sim.simulate([req(seed=2)])
    assert inner.calls == [1, 1] and (sim.stats.hits, sim.stats.misses) == (1, 2)


def test_cache_without_seed_reuses_documents_for_repeats():
    inner = CountingSimulator()
    sim = CachingSimulator(inner, cache_size=10, cache_by_seed=False)
    sim.simulate([req(seed=1)])
    assert sim.simulate([req(seed=2)])[0].documents == ("q seed 1",)


def test_cache_is_bounded_lru():
    inner = CountingSimulator()
    sim = CachingSimulator(inner, cache_size=2)
    for query in ["a", "b", "c"]:
        sim.simulate([req(query)])
    sim.simulate([req("a")])  # evicted: simulated again
    assert inner.calls == [1, 1, 1, 1] and len(sim._memory) == 2


def test_disk_cache_survives_a_restart(tmp_path):
    path = tmp_path / "cache.sqlite"
    first = CachingSimulator(CountingSimulator(), cache_size=10, cache_path=path)
    first.simulate([req(seed=7)])
    first.close()
    inner = CountingSimulator()
    second = CachingSimulator(inner, cache_size=10, cache_path=path)
    assert second.simulate([req(seed=7)])[0] == SearchResult(documents=("q seed 7",), prompt_tokens=5)
    assert inner.calls == [] and second.stats.hits == 1


def test_failed_results_are_not_cached():
    from zerosearch_env.simulators.base import SimulatorFault

    class Flaky(CountingSimulator):
        def simulate(self, requests):
            self.calls.append(len(requests))
            return [SearchResult(documents=(), error=SimulatorFault("timeout", "slow"))]

    inner = Flaky()
    sim = CachingSimulator(inner, cache_size=10)
    sim.simulate([req()])
    sim.simulate([req()])
    assert inner.calls == [1, 1]


def test_bad_options():
    with pytest.raises(ConfigError):
        CachingSimulator(CountingSimulator(), cache_size=-1)
    with pytest.raises(ConfigError, match="cache_size"):
        CachingSimulator(CountingSimulator(), cache_path="x.sqlite")


def test_vector_env_grpo_group_with_dedup():
    """A GRPO group: the same question in every sub-env, identical queries -> one simulation."""
    inner = CountingSimulator()
    envs = gym.make_vec("ZeroSearch-v0", num_envs=5, sim=inner, dedup=True, dataset=[{"question": "Q?", "golden_answers": ["a"]}])
    envs.reset(seed=0)
    _, _, _, _, infos = envs.step(["<search> same query </search>"] * 5)
    assert inner.calls == [1] and envs.simulator.stats.deduplicated == 4
    assert len(set(infos["documents"][i][0] for i in range(5))) == 1
