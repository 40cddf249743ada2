"""The batching front: concurrent single-trajectory callers, one batched simulator call."""

import asyncio
import threading

import pytest

from zerosearch_env.errors import ConfigError, SimulatorError
from zerosearch_env.simulators.base import SearchRequest, SearchResult, SimulatorFault
from zerosearch_env.simulators.batching import BatchingSimulator


class EchoSimulator:
    """Answers each request with its own query; counts calls; fails some requests on purpose."""

    name = "echo"

    def __init__(self, fail_query=None, raise_query=None):
        self.calls, self.sizes = 0, []
        self.fail_query, self.raise_query = fail_query, raise_query
        self.lock = threading.Lock()

    def simulate(self, requests):
        with self.lock:
            self.calls += 1
            self.sizes.append(len(requests))
        if any(r.query == self.raise_query for r in requests):
            raise SimulatorError("generate failed")
        return [SearchResult((), error=SimulatorFault("http", "down")) if r.query == self.fail_query else SearchResult((f"about {r.query}",)) for r in requests]


def request(query):
    return SearchRequest(query, f"{query}?", ("a",))


def run_threads(front, count, searches_each):
    results, errors = {}, {}

    def worker(i):
        for k in range(searches_each):
            query = f"t{i}-s{k}"
            try:
                results[query] = front.simulate([request(query)])
            except Exception as error:  # noqa: BLE001
                errors[query] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_64_threads_share_few_batched_calls_and_each_gets_its_own_results():
    inner = EchoSimulator()
    front = BatchingSimulator(inner, max_batch=64, max_wait_ms=20)
    results, errors = run_threads(front, 64, 5)
    front.close()
    assert not errors and len(results) == 320
    assert all(result[0].documents == (f"about {query}",) for query, result in results.items())
    assert inner.calls == front.stats.batches < 320 // 4  # far fewer simulator calls than searches
    assert max(inner.sizes) <= 64 and front.stats.requests == 320


def test_a_failed_request_reaches_only_its_caller():
    inner = EchoSimulator(fail_query="t3-s1")
    front = BatchingSimulator(inner, max_batch=64, max_wait_ms=20)
    results, errors = run_threads(front, 16, 3)
    front.close()
    assert not errors
    assert results["t3-s1"][0].failed and not any(r[0].failed for q, r in results.items() if q != "t3-s1")


def test_a_batch_that_raises_is_retried_per_call_so_only_the_culprit_fails():
    inner = EchoSimulator(raise_query="t5-s0")
    front = BatchingSimulator(inner, max_batch=64, max_wait_ms=50)
    results, errors = run_threads(front, 16, 2)
    front.close()
    assert list(errors) == ["t5-s0"] and isinstance(errors["t5-s0"], SimulatorError)
    assert len(results) == 31 and front.stats.retried_alone > 0


def test_coroutines_await_their_results():
    inner = EchoSimulator()
    front = BatchingSimulator(inner, max_batch=32, max_wait_ms=20)

    async def main():
        return await asyncio.gather(*(front.asimulate([request(f"c{i}"), request(f"c{i}b")]) for i in range(32)))

    answers = asyncio.run(main())
    front.close()
    assert [a[1].documents for a in answers] == [(f"about c{i}b",) for i in range(32)]
    assert inner.calls < 32


def test_a_transformers_simulator_behind_the_front(tmp_path):
    pytest.importorskip("transformers")
    from zerosearch_env.simulators.hf import HFSimulator
    from zerosearch_env.testing import build_tiny_llama

    inner = HFSimulator(build_tiny_llama(tmp_path / "tiny"), max_new_tokens=8, batch_size=64)
    front = BatchingSimulator(inner, max_batch=64, max_wait_ms=50)
    results, errors = run_threads(front, 16, 2)
    front.close()
    assert not errors and len(results) == 32 and front.stats.batches < 32
    assert all(r[0].prompt_tokens > 0 for r in results.values())


def test_bad_settings_and_closed_fronts_are_refused():
    with pytest.raises(ConfigError):
        BatchingSimulator(EchoSimulator(), max_batch=0)
    front = BatchingSimulator(EchoSimulator())
    assert front.simulate([]) == []
    front.close()
    with pytest.raises(ConfigError, match="closed"):
        front.simulate([request("x")])


class TaggingSimulator:
    """A tiny transformers simulator whose results lead with their request's query (so a
    caller can tell its own), failing one query on purpose."""

    name = "tagging"

    def __init__(self, inner, fail_query):
        self.inner, self.fail_query, self.calls = inner, fail_query, 0

    def simulate(self, requests):
        self.calls += 1
        results = self.inner.simulate(requests)
        return [
            SearchResult((), error=SimulatorFault("http", "down"))
            if r.query == self.fail_query
            else SearchResult((f"[{r.query}]", *result.documents), prompt_tokens=result.prompt_tokens)
            for r, result in zip(requests, results)
        ]


def test_64_threads_playing_episodes_share_batched_generations(tmp_path):
    pytest.importorskip("transformers")
    from zerosearch_env.env import ZeroSearchEnv
    from zerosearch_env.protocol import answer_action, search_action
    from zerosearch_env.simulators.hf import HFSimulator
    from zerosearch_env.testing import build_tiny_llama

    inner = TaggingSimulator(HFSimulator(build_tiny_llama(tmp_path / "tiny"), max_new_tokens=8, batch_size=64), fail_query="t7-e1-s0")
    front = BatchingSimulator(inner, max_batch=64, max_wait_ms=50)
    base = ZeroSearchEnv(sim=front, difficulty=0.0, on_sim_error="fallback")
    seen, faults = {}, []

    def player(i):
        env = base.sibling()
        for episode in range(2):
            env.reset(seed=i * 10 + episode)
            for k in range(2):
                query = f"t{i}-e{episode}-s{k}"
                info = env.step(search_action(query))[-1]
                seen[query] = info["documents"]
                if info["sim_error"] is not None:
                    faults.append(query)
            env.step(answer_action("a guess"))

    threads = [threading.Thread(target=player, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    front.close()
    assert len(seen) == 256 and faults == ["t7-e1-s0"] and seen["t7-e1-s0"] == []
    assert all(docs[0] == f"[{query}]" for query, docs in seen.items() if query not in faults)  # each got its own
    assert front.stats.requests == 256 and inner.calls <= 256 // 8  # far fewer generations than searches
