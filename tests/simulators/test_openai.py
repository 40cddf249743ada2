"""The OpenAI-compatible backend against real HTTP servers on 127.0.0.1 started by the tests."""

import re

import gymnasium as gym
import pytest

import zerosearch_env  # noqa: F401
from zerosearch_env.errors import ConfigError, SimulatorError
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.openai import OpenAISimulator
from zerosearch_env.simulators.prompts import sft_prompt
from zerosearch_env.testing import JSONServer


class FakeServer(JSONServer):
    """A chat-completions server that writes documents naming the question it was asked.

    ``behaviour``: "ok", "500", "slow" (sleeps ``delay`` before answering) or "garbage".
    """

    def __init__(self, behaviour="ok", delay=0.0):
        self.behaviour = behaviour
        super().__init__(self.respond, delay=delay)

    def respond(self, path, body):
        if self.behaviour == "500":
            return 500, b""
        if self.behaviour == "garbage":
            return 200, b"not json"
        question = re.search(r'question: "(.*?)"', body["messages"][1]["content"]).group(1)
        reply = "\n\n".join(f"Doc {i}: about {question} ({i})" for i in range(1, 7))
        return 200, {"choices": [{"message": {"content": reply}}], "usage": {"prompt_tokens": 40, "completion_tokens": 60}}


@pytest.fixture
def servers(start_server):
    return lambda *args, **kwargs: start_server(FakeServer, *args, **kwargs)


def requests(n):
    return [SearchRequest(f"q{i}", f"Question {i}?", (f"A{i}",), "useful" if i % 2 else "noisy", seed=i) for i in range(n)]


def test_batch_results_keep_order_and_own_questions(servers):
    server = servers()
    sim = OpenAISimulator(server.url, model="sim", retries=0)
    results = sim.simulate(requests(12))
    for i, result in enumerate(results):
        assert result.documents == tuple(f"about Question {i}? ({k})" for k in range(1, 6))  # cut at Doc 6
        assert (result.prompt_tokens, result.completion_tokens, result.error) == (40, 60, None)
    body = server.bodies[0]
    assert body["model"] == "sim" and body["temperature"] == 0.8 and body["max_tokens"] == 600
    assert body["messages"][0] == {"role": "system", "content": ""}
    sent = {b["messages"][1]["content"] for b in server.bodies}
    assert sent == {sft_prompt(r) for r in requests(12)}
    assert all(text.endswith(("\nUseful Output:\n", "\nNoisy Output:\n")) for text in sent)  # the bytes on the wire
    assert {b["seed"] for b in server.bodies} == set(range(12))


def test_concurrency_is_bounded_and_used(servers):
    server = servers(delay=0.2)  # long enough for all four to overlap on a busy machine
    OpenAISimulator(server.url, concurrency=4, retries=0).simulate(requests(12))
    assert server.max_in_flight == 4


def test_load_is_balanced_over_servers(servers):
    a, b = servers(), servers()
    OpenAISimulator([a.url, b.url], concurrency=2, retries=0).simulate(requests(10))
    assert len(a.bodies) == len(b.bodies) == 5


def test_a_failing_server_is_routed_around(servers):
    bad, good = servers("500"), servers()
    results = OpenAISimulator([bad.url, good.url], retries=2, backoff_s=0.0).simulate(requests(6))
    assert all(r.error is None and r.documents for r in results)
    assert len(good.bodies) == 6


def test_http_errors_come_back_as_a_typed_fault_after_retries(servers):
    server = servers("500")
    (result,) = OpenAISimulator(server.url, retries=2, backoff_s=0.0).simulate(requests(1))
    assert result.failed and result.documents == ()
    assert result.error.kind == "http" and result.error.attempts == 3 and "HTTP 500" in result.error.message
    assert len(server.bodies) == 3


def test_a_timeout_is_flagged_not_faked(servers):
    server = servers("slow", delay=1.0)
    sim = OpenAISimulator(server.url, timeout_s=0.2, retries=1, backoff_s=0.0)
    (result,) = sim.simulate(requests(1))
    assert result.documents == () and result.error.kind == "timeout" and result.error.attempts == 2


def test_garbage_reply_is_a_protocol_fault(servers):
    sim = OpenAISimulator(servers("garbage").url, retries=0)
    assert sim.simulate(requests(1))[0].error.kind == "protocol"


def test_server_dying_mid_run(servers):
    server = servers()
    env = gym.make(
        "ZeroSearch-v0",
        sim="openai",
        sim_kwargs={"base_urls": [server.url], "model": "sim", "retries": 1, "backoff_s": 0.0, "timeout_s": 2.0},
        on_sim_error="fallback",
    )
    _, info = env.reset(seed=0)
    info = env.step("<search> first </search>")[4]
    assert info["sim_error"] is None and info["documents"] and info["sim_completion_tokens"] == 60
    server.stop()
    obs, _, terminated, truncated, info = env.step("<search> second </search>")
    assert info["sim_error"].kind == "connection" and info["documents"] == []
    assert obs == "\n\n<information></information>\n\n" and not (terminated or truncated)
    assert info["searches"] == 2


def test_server_dying_with_raise_leaves_episode_intact(servers):
    server = servers()
    env = gym.make("ZeroSearch-v0", sim="openai", sim_kwargs={"base_urls": server.url, "retries": 0})
    env.reset(seed=0)
    env.step("<search> first </search>")
    before = env.unwrapped.transcript
    server.stop()
    with pytest.raises(SimulatorError, match="unreachable"):
        env.step("<search> second </search>")
    assert env.unwrapped.transcript == before


def test_api_key_is_sent_and_never_shown(servers, monkeypatch):
    monkeypatch.setenv("SIM_KEY", "sk-secret-123")
    server = servers("500")
    sim = OpenAISimulator(server.url, api_key_env="SIM_KEY", retries=0)
    (result,) = sim.simulate(requests(1))
    assert server.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in result.error.message and "sk-secret" not in repr(sim)


@pytest.mark.parametrize("kwargs", [{"base_urls": []}, {"base_urls": "localhost:6001"}, {"concurrency": 0}, {"timeout_s": 0}])
def test_bad_options(kwargs):
    with pytest.raises(ConfigError):
        OpenAISimulator(**kwargs)
