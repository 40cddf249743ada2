"""Faults cost one search, not a batch: a vector env of 16 on the real HTTP backend against
a local server that fails some requests (500 on every 3rd, a delay beyond the timeout,
malformed 200 replies, death mid-batch). Every answered request's documents reach their
own sub-env; every failed one is flagged with a typed fault, or raised after the batch
was tried with the answered ones kept."""

from __future__ import annotations

import re
import threading
import time

import pytest

from zerosearch_env.errors import SimulatorError
from zerosearch_env.testing import JSONServer
from zerosearch_env.vector import ZeroSearchVectorEnv

N = 16
TIMEOUT_S = 0.3
MALFORMED = [
    {"choices": [{"message": {"content": 5}}]},
    {"choices": [{"message": {"content": ["Doc 1: a list"]}}]},
    {"choices": [{"message": {"content": "Doc 1: fine"}}], "usage": [1, 2]},
    {"choices": [{"message": {"content": "Doc 1: fine"}}], "usage": {"prompt_tokens": -5, "completion_tokens": 3}},
]


class FaultyServer(JSONServer):
    """Answers with documents that name the question it was asked, except when ``fault``
    (a function of the request's arrival number) says otherwise."""

    def __init__(self, fault=lambda number: None):
        self.fault = fault
        self.arrivals = 0
        self.answered: list[str] = []  # questions answered with a well-formed 200
        self._count = threading.Lock()
        super().__init__(self.respond)

    def respond(self, path, body):
        with self._count:
            self.arrivals += 1
            number = self.arrivals
        question = re.search(r'question: "(.*?)"', body["messages"][1]["content"]).group(1)
        fault = self.fault(number)
        if fault == "500":
            return 500, b"overloaded"
        if fault == "slow":
            time.sleep(TIMEOUT_S * 3)
        elif fault == "malformed":
            return 200, MALFORMED[number % len(MALFORMED)]
        elif fault == "gzip":
            return 200, b"not gzip at all", {"Content-Encoding": "gzip"}
        with self._count:
            self.answered.append(question)
        reply = "\n".join(f"Doc {i}: about {question} ({i})" for i in range(1, 6))
        return 200, {"choices": [{"message": {"content": reply}}], "usage": {"prompt_tokens": 40, "completion_tokens": 60}}


@pytest.fixture
def serve(start_server):
    return lambda fault=lambda number: None: start_server(FaultyServer, fault)


def vector_env(server, on_sim_error):
    kwargs = {"base_urls": [server.url], "model": "sim", "retries": 0, "timeout_s": TIMEOUT_S, "concurrency": N}
    envs = ZeroSearchVectorEnv(num_envs=N, sim="openai", sim_kwargs=kwargs, on_sim_error=on_sim_error, max_turns=100)
    _, info = envs.reset(seed=0)
    return envs, [f"<search> {question} </search>" for question in info["question"]]


def check_fallback_step(envs, actions, server, kinds):
    """Every sub-env has its own question's documents or a typed fault of ``kinds``."""
    before = len(server.answered)
    info = envs.step(actions)[4]
    with_documents = 0
    for i in range(N):
        question, documents, fault = info["question"][i], info["documents"][i], info["sim_error"][i]
        if documents:
            assert fault is None and all(question in d for d in documents), i  # its own documents
            with_documents += 1
        else:
            assert fault is not None and fault.kind in kinds, (i, fault)
    assert with_documents == len(server.answered) - before > 0  # every answered request reached its sub-env
    assert with_documents < N  # and some failed
    return info


FAULTS = {
    "500 on every 3rd request": (lambda n: "500" if n % 3 == 0 else None, {"http"}),
    "a delay beyond the timeout": (lambda n: "slow" if n % 4 == 0 else None, {"timeout"}),
    "malformed 200 replies": (lambda n: "malformed" if n % 3 == 0 else None, {"protocol"}),
    "a broken gzip body": (lambda n: "gzip" if n % 5 == 0 else None, {"protocol"}),
}


@pytest.mark.parametrize("name", FAULTS)
def test_fallback_flags_only_the_failed_searches(serve, name):
    fault, kinds = FAULTS[name]
    server = serve(fault)
    envs, actions = vector_env(server, "fallback")
    for _ in range(2):  # two steps: the server's arrival counter keeps failing a share of each
        check_fallback_step(envs, actions, server, kinds)


def test_a_server_dying_mid_batch_costs_only_the_unanswered_searches(serve):
    server = serve()
    server.fault = lambda n: threading.Thread(target=server.stop).start() if n == 9 else None
    envs, actions = vector_env(server, "fallback")
    info = check_fallback_step(envs, actions, server, {"connection", "timeout"})
    assert sum(bool(d) for d in info["documents"]) >= 8  # the 8 answered before the death at least


@pytest.mark.parametrize("name", FAULTS)
def test_raise_mode_names_the_failed_searches_and_a_retry_resends_only_those(serve, name):
    fault, kinds = FAULTS[name]
    server = serve(fault)
    envs, actions = vector_env(server, "raise")
    transcripts = [env.transcript for env in envs.envs]
    with pytest.raises(SimulatorError, match=r"of 16 searches failed \(sub-envs [\d, .]+;.*step again with the same actions") as raised:
        envs.step(actions)
    assert raised.value.fault.kind in kinds
    assert [env.transcript for env in envs.envs] == transcripts  # no sub-env changed
    answered = len(server.answered)
    failed = N - answered

    server.fault = lambda n: None  # the server recovers
    arrivals = server.arrivals
    info = envs.step(actions)[4]
    assert server.arrivals - arrivals == failed  # only the failed searches went out again
    for i in range(N):
        assert info["sim_error"][i] is None and all(info["question"][i] in d for d in info["documents"][i])


def test_a_single_env_raises_for_its_failed_search_and_keeps_its_episode(serve):
    import gymnasium as gym

    import zerosearch_env  # noqa: F401

    server = serve(lambda n: "500" if n == 2 else None)
    env = gym.make("ZeroSearch-v0", sim="openai", sim_kwargs={"base_urls": server.url, "retries": 0}, max_turns=10)
    env.reset(seed=0)
    env.step("<search> first </search>")
    before = env.unwrapped.transcript
    with pytest.raises(SimulatorError, match=r"HTTP 500.*step again with the same action"):
        env.step("<search> second </search>")
    assert env.unwrapped.transcript == before
    assert env.step("<search> second </search>")[4]["documents"]  # the retry goes through


def test_raise_mode_keeps_the_answered_searches_when_the_server_dies_mid_batch(serve):
    server = serve()
    server.fault = lambda n: threading.Thread(target=server.stop).start() if n == 9 else None
    envs, actions = vector_env(server, "raise")
    transcripts = [env.transcript for env in envs.envs]
    with pytest.raises(SimulatorError, match=r"(\d+) of 16 searches failed") as first:
        envs.step(actions)
    failed = int(re.search(r"(\d+) of 16", str(first.value)).group(1))
    assert first.value.fault.kind in {"connection", "timeout"} and failed == N - len(server.answered) < N
    with pytest.raises(SimulatorError, match=rf"{failed} of 16 searches failed"):  # the server stays dead:
        envs.step(actions)  # only the failed searches went out again, the answered ones are still kept
    assert [env.transcript for env in envs.envs] == transcripts
