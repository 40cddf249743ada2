"""The OpenAI-compatible agent against a policy server on 127.0.0.1 started by the tests."""

from __future__ import annotations

import re

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import EpisodeView, EvalConfig, run_eval
from zerosearch_env.evaluation.openai_agent import AgentError, OpenAIAgent
from zerosearch_env.testing import JSONServer


class PolicyServer(JSONServer):
    """An OpenAI-compatible policy: searches once, then answers with the first words of
    the first document it read. Like real servers, it stops at (and drops)
    ``</search>``/``</answer>``. The first ``failures`` requests get HTTP 500."""

    def __init__(self, failures=0, delay=0.0):
        self.failures = failures
        super().__init__(self.respond, delay=delay)

    def respond(self, path, body):
        with self.lock:
            fail = self.failures > 0
            self.failures -= fail
        if fail:
            return 500, b""
        if path.endswith("/chat/completions"):
            reply = self.policy(" ".join(m["content"] for m in body["messages"]))
            return 200, {"choices": [{"message": {"content": reply}}], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
        return 200, {"choices": [{"text": self.policy(body["prompt"])}]}

    @staticmethod
    def policy(text):
        if "<information>Doc" not in text:  # the prompt itself mentions <information>
            question = re.search(r"Question: (.*)", text).group(1)
            return f"<think>look it up</think><search> {question} "  # the stop string is dropped
        return "<answer> " + re.search(r"Doc 1: (.*)", text).group(1)[:20]


@pytest.fixture
def policy_server(start_server):
    return lambda **kwargs: start_server(PolicyServer, **kwargs)


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_openai_agent_plays_through_a_local_server(policy_server, api):
    server = policy_server(failures=2)
    agent = OpenAIAgent(server.url, "my-policy", api=api, concurrency=4, backoff_s=0.01)
    result = run_eval(agent, EvalConfig(limit=6, batch_size=6), progress=False)
    assert all([t["kind"] for t in r["turns"]] == ["search", "answer"] for r in result.records)
    assert all(r["turns"][0]["action"].endswith("</search>") for r in result.records)  # stop tag restored
    path, body = server.paths[-1], server.bodies[-1]
    assert path.endswith("/chat/completions" if api == "chat" else "/completions")
    assert body["model"] == "my-policy" and body["stop"] == ["</search>", "</answer>"] and body["temperature"] == 0.0
    if api == "chat":
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["user", "assistant", "user"] and body["messages"][2]["content"].startswith("<information>")
    else:
        assert body["prompt"].count("<information>Doc 1:") == 1 and body["prompt"].endswith("</information>\n\n")


def test_openai_agent_keeps_at_most_concurrency_requests_in_flight(policy_server):
    server = policy_server(delay=0.2)  # long enough for all three to overlap on a busy machine
    OpenAIAgent(server.url, "m", concurrency=3).act([EpisodeView(i, f"Question: q{i}?\n") for i in range(9)])
    assert server.max_in_flight == 3


def test_openai_agent_gives_up_with_a_clear_error_and_the_eval_resumes(policy_server, tmp_path):
    server = policy_server(failures=100)
    agent = OpenAIAgent(server.url, "m", retries=1, backoff_s=0.0)
    with pytest.raises(AgentError, match=r"HTTP 500.*after 2 attempt\(s\).*rerun the same command to resume"):
        run_eval(agent, EvalConfig(limit=2), tmp_path, progress=False)
    server.failures = 0
    result = run_eval(OpenAIAgent(server.url, "m"), EvalConfig(limit=2), tmp_path, progress=False)
    assert len(result.records) == 2
    with pytest.raises(AgentError, match="unreachable"):
        OpenAIAgent("http://127.0.0.1:9/v1", "m", retries=0).act([EpisodeView(0, "Question: q?\n")])


def test_openai_agent_rejects_bad_settings():
    with pytest.raises(ConfigError, match="base_url expects an http"):
        OpenAIAgent("localhost:8000")
    with pytest.raises(ConfigError, match="api expects 'chat' or 'completions'"):
        OpenAIAgent(api="responses")


@pytest.mark.parametrize(
    ("reply", "headers", "problem"),
    [
        ({"choices": [{"message": {"content": 5}}]}, {}, "content is a int"),
        ({"choices": [{"message": {"content": ["<answer> a"]}}]}, {}, "content is a list"),
        ({"choices": [{"message": {"content": "<answer> a"}}], "usage": [1, 2]}, {}, "usage is a list"),
        ({"choices": [{"message": {"content": "<answer> a"}}], "usage": {"prompt_tokens": -5}}, {}, "usage.prompt_tokens is -5"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, "does not decode"),
    ],
)
def test_a_malformed_reply_is_a_retried_protocol_fault_then_an_agent_error(start_server, reply, headers, problem):
    server = start_server(JSONServer, lambda path, body: (200, reply, headers))
    agent = OpenAIAgent(server.url, "my-policy", retries=1, backoff_s=0.0)
    with pytest.raises(AgentError, match=rf"not a completion: its {problem}|{problem}"):
        agent.act([EpisodeView(episode_id=0, prompt="Question: Who?", turns=(), observations=())])
    assert len(server.bodies) == 2  # retried like any failed request
    assert agent.usage == {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0}  # nothing counted
