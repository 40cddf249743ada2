"""Simulator throughput.

Targets:

- transformers (tiny model): one batched call of 64 requests is at least 8x faster than
  64 one-request calls (the reference's pattern);
- corpus (BM25, no LLM): at least 1,000 searches/s on a 100,000-document corpus, for a
  batch of 256 requests with mixed useful/noisy quality;
- OpenAI-compatible HTTP backend against a local server that takes 20 ms per reply: one
  batched call of 64 requests (bounded concurrency) is at least 4x faster than 64
  one-request calls in sequence.

Run: ``pytest benchmarks/bench_simulators.py -s`` (add ``--benchmark-only`` for the table).
Ratios and rates are printed and asserted against the targets; under
``--benchmark-disable`` (quick mode) every call runs once and nothing is asserted on time.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import numpy as np
import pytest

from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.testing import JSONServer

from .conftest import record_mean

N_REQUESTS = 64
MAX_NEW_TOKENS = 32
TARGET_RATIO = 8.0
_means: dict[str, float] = {}


def _ratio(kind: str) -> float:
    """Sequential mean over batched mean for ``kind``; skips unless both were timed."""
    batched, sequential = f"{kind}_batched", f"{kind}_sequential"
    if not {batched, sequential} <= set(_means):
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    return _means[sequential] / _means[batched]


# --- transformers: one batched generate against one generate per request ---------------


@pytest.fixture(scope="module")
def tiny_sim(tmp_path_factory):
    pytest.importorskip("torch")
    from transformers.utils import logging

    from zerosearch_env.simulators.hf import HFSimulator
    from zerosearch_env.testing import build_tiny_llama

    logging.disable_progress_bar()
    path = build_tiny_llama(tmp_path_factory.mktemp("bench") / "tiny")
    return HFSimulator(path, max_new_tokens=MAX_NEW_TOKENS, batch_size=N_REQUESTS)


@pytest.fixture(scope="module")
def requests():
    return [SearchRequest(f"query {i}", f"Question {i}?", (f"A{i}",), "useful", seed=i) for i in range(N_REQUESTS)]


def test_hf_batched_64(benchmark, tiny_sim, requests):
    results = benchmark.pedantic(tiny_sim.simulate, args=(requests,), rounds=3, warmup_rounds=1)
    assert len(results) == N_REQUESTS
    record_mean(_means, "hf_batched", benchmark)  # absent under --benchmark-disable (quick mode)


def test_hf_sequential_64(benchmark, tiny_sim, requests):
    def one_at_a_time():
        return [tiny_sim.simulate([r])[0] for r in requests]

    results = benchmark.pedantic(one_at_a_time, rounds=1, warmup_rounds=0)
    assert len(results) == N_REQUESTS
    record_mean(_means, "hf_sequential", benchmark)


def test_batching_ratio():
    ratio = _ratio("hf")
    print(f"\ntransformers tiny simulator, {N_REQUESTS} requests: batched is {ratio:.1f}x one-at-a-time")
    assert ratio >= TARGET_RATIO


# --- corpus: BM25 over 100,000 documents -----------------------------------------------

CORPUS_DOCS = 100_000
CORPUS_VOCAB = 3_000
CORPUS_BATCH = 256
ANSWER_COPIES = 3  # documents that hold each request's golden answer
TARGET_SEARCHES_PER_S = 1_000.0


def _made_up_words(rng: np.random.Generator, n: int, taken: Collection[str] = ()) -> list[str]:
    """``n`` distinct pronounceable non-words (2-3 consonant-vowel syllables), none in ``taken``."""
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words: list[str] = []
    seen = set(taken)
    while len(words) < n:
        syllables = rng.integers(0, len(consonants), size=3), rng.integers(0, len(vowels), size=3)
        word = "".join(consonants[c] + vowels[v] for c, v in zip(*syllables))[: 2 * int(rng.integers(2, 4))]
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_synthetic_corpus(n_docs: int = CORPUS_DOCS, n_requests: int = CORPUS_BATCH, seed: int = 0) -> tuple[list[str], list[SearchRequest]]:
    """A deterministic corpus of ``n_docs`` documents and ``n_requests`` requests on it.

    Documents are ``"Title"\\n`` plus 30-60 words drawn from a vocabulary of made-up
    words with Zipf-like frequencies (so common words match many documents, as on a
    real corpus). Each request has its own made-up golden answer, written into
    ``ANSWER_COPIES`` random documents; its query is five words of the first of them.
    Qualities alternate useful/noisy.
    """
    rng = np.random.default_rng(seed)
    vocab = np.array(_made_up_words(rng, CORPUS_VOCAB))
    frequency = 1.0 / (np.arange(CORPUS_VOCAB) + 20.0)
    lengths = rng.integers(30, 61, size=n_docs)
    words = vocab[rng.choice(CORPUS_VOCAB, size=int(lengths.sum()), p=frequency / frequency.sum())].tolist()
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    bodies = [words[bounds[i] : bounds[i + 1]] for i in range(n_docs)]
    titles = vocab[rng.integers(0, CORPUS_VOCAB, size=n_docs)].tolist()

    names = _made_up_words(rng, 2 * n_requests, taken=set(vocab.tolist()))
    holders = rng.permutation(n_docs)[: n_requests * ANSWER_COPIES].reshape(n_requests, ANSWER_COPIES).tolist()
    requests = []
    for j in range(n_requests):
        answer = f"{names[2 * j].capitalize()} {names[2 * j + 1].capitalize()}"
        query = " ".join(rng.choice(bodies[holders[j][0]], size=5, replace=False).tolist())
        for h in holders[j]:
            at = int(rng.integers(0, len(bodies[h]) + 1))
            bodies[h] = [*bodies[h][:at], answer, *bodies[h][at:]]
        quality = "useful" if j % 2 == 0 else "noisy"
        requests.append(SearchRequest(query, f"Question {j}?", (answer,), quality, seed=j))
    docs = [f'"{title.capitalize()}"\n{" ".join(body)}' for title, body in zip(titles, bodies)]
    return docs, requests


@pytest.fixture(scope="module")
def corpus_case():
    from zerosearch_env.simulators.corpus import CorpusSimulator

    docs, requests = make_synthetic_corpus()
    started = time.perf_counter()
    sim = CorpusSimulator(docs)
    print(f"\ncorpus simulator: index of {len(docs):,} documents built in {time.perf_counter() - started:.1f} s")
    return sim, requests


def test_corpus_100k_throughput(benchmark, corpus_case):
    sim, requests = corpus_case
    results = benchmark.pedantic(sim.simulate, args=(requests,), rounds=10, warmup_rounds=1)
    assert len(results) == CORPUS_BATCH
    useful_hits = 0
    for request, result in zip(requests, results):
        assert 0 < len(result.documents) <= request.topk
        has_answer = [request.golden_answers[0] in doc for doc in result.documents]
        if request.quality == "noisy":
            assert not any(has_answer)
        else:  # answer-bearing documents, when retrieved, come first
            assert has_answer == sorted(has_answer, reverse=True)
            useful_hits += has_answer[0]
    n_useful = sum(r.quality == "useful" for r in requests)
    assert useful_hits >= 0.9 * n_useful  # the query comes from an answer-bearing document
    if benchmark.stats is not None:  # None under --benchmark-disable (quick mode)
        rate = CORPUS_BATCH / benchmark.stats.stats.mean
        benchmark.extra_info.update(searches_per_s=rate, corpus_docs=len(sim))
        print(f"\ncorpus simulator, {CORPUS_DOCS:,} documents, batches of {CORPUS_BATCH}: {rate:,.0f} searches/s (target >= {TARGET_SEARCHES_PER_S:,.0f})")
        assert rate >= TARGET_SEARCHES_PER_S


# --- OpenAI-compatible HTTP backend: bounded concurrency against one call at a time ----

SERVER_DELAY_S = 0.020  # stands for generation time on the simulation server
HTTP_CONCURRENCY = 16
TARGET_HTTP_RATIO = 4.0
_REPLY = "\n".join(f"Doc {i}: Made-up document {i} about the topic, long enough to look like a search result." for i in range(1, 6))


_PAYLOAD = {
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": _REPLY}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 90, "total_tokens": 210},
}


def _chat_reply(path: str, body: dict) -> tuple[int, dict | bytes]:
    """A fixed ``/v1/chat/completions`` reply (HTTP/1.1 keep-alive, as a real server)."""
    if path != "/v1/chat/completions" or "messages" not in body:
        return 404, b'{"detail": "Not Found"}'
    return 200, _PAYLOAD


@pytest.fixture(scope="module")
def chat_server():
    server = JSONServer(_chat_reply, delay=SERVER_DELAY_S, keep_alive=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_sim(chat_server):
    from zerosearch_env.simulators.openai import OpenAISimulator

    sim = OpenAISimulator(chat_server.url, model="bench", api_key_env=None, concurrency=HTTP_CONCURRENCY, retries=0, timeout_s=30)
    yield sim
    sim.close()  # before the server stops: closes the kept-alive connections


def _check_http_results(results) -> None:
    assert len(results) == N_REQUESTS
    assert all(r.error is None and len(r.documents) == 5 for r in results)
    assert all(r.prompt_tokens == 120 and r.completion_tokens == 90 for r in results)


def test_http_batched_64(benchmark, http_sim, chat_server, requests):
    chat_server.max_in_flight = 0
    results = benchmark.pedantic(http_sim.simulate, args=(requests,), rounds=10, warmup_rounds=1)
    _check_http_results(results)
    assert chat_server.max_in_flight > 1
    record_mean(_means, "http_batched", benchmark)


def test_http_sequential_64(benchmark, http_sim, requests):
    def one_at_a_time():
        return [http_sim.simulate([r])[0] for r in requests]

    results = benchmark.pedantic(one_at_a_time, rounds=3, warmup_rounds=1)
    _check_http_results(results)
    record_mean(_means, "http_sequential", benchmark)


def test_http_batching_ratio(chat_server):
    ratio = _ratio("http")
    print(
        f"\nOpenAI-compatible backend, {N_REQUESTS} requests, {SERVER_DELAY_S * 1e3:.0f} ms per reply, "
        f"concurrency {HTTP_CONCURRENCY} (server saw up to {chat_server.max_in_flight} at once): "
        f"batched {_means['http_batched'] * 1e3:.0f} ms, one at a time {_means['http_sequential'] * 1e3:.0f} ms, "
        f"{ratio:.1f}x (target >= {TARGET_HTTP_RATIO:.0f}x)"
    )
    assert ratio >= TARGET_HTTP_RATIO
