"""The one retry policy and the JSON client that the three HTTP clients share."""

from __future__ import annotations

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.http_client import RequestFault, RetryPolicy, json_client, post_json
from zerosearch_env.testing import JSONServer


def test_retryable_faults_are_retried_with_exponential_backoff():
    waits: list[float] = []
    attempts: list[int] = []

    def flaky(attempt: int) -> str:
        attempts.append(attempt)
        if attempt < 4:
            raise RequestFault("timeout", "slow", retryable=True)
        return "ok"

    assert RetryPolicy(retries=3, backoff_s=0.5, sleep=waits.append).run(flaky) == "ok"
    assert attempts == [1, 2, 3, 4] and waits == [0.5, 1.0, 2.0]


def test_the_last_fault_is_raised_with_the_attempts_it_took():
    def down(attempt: int) -> str:
        raise RequestFault("connection", f"refused {attempt}", retryable=True)

    with pytest.raises(RequestFault, match="refused 3") as info:
        RetryPolicy(retries=2, backoff_s=0.0).run(down)
    assert info.value.attempts == 3


def test_a_fault_that_cannot_be_retried_stops_at_once():
    calls = []

    def wrong_url(attempt: int) -> str:
        calls.append(attempt)
        raise RequestFault("http", "HTTP 404", retryable=False)

    with pytest.raises(RequestFault) as info:
        RetryPolicy(retries=5, backoff_s=0.0).run(wrong_url)
    assert calls == [1] and info.value.attempts == 1


def test_other_errors_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        RetryPolicy(retries=3, backoff_s=0.0).run(lambda attempt: 1 / 0)


@pytest.mark.parametrize("retries, backoff_s", [(-1, 0.0), (1.5, 0.0), (True, 0.0), (1, -0.1)])
def test_bad_policies_say_what_to_fix(retries, backoff_s):
    with pytest.raises(ConfigError, match=r"retries expects|backoff_s expects"):
        RetryPolicy(retries, backoff_s)


@pytest.fixture
def server(start_server):
    def respond(path: str, body: dict):
        kind = body["kind"]
        if kind == "ok":
            return 200, {"value": 42}
        if kind == "not-json":
            return 200, b"<html>"
        if kind == "wrong-shape":
            return 200, {"unexpected": True}
        return int(kind), b"failed"

    return start_server(JSONServer, respond, path="/api")


@pytest.mark.parametrize(
    "kind, fault, retryable",
    [("500", "http", True), ("503", "http", True), ("429", "http", True), ("408", "http", True),
     ("404", "http", False), ("401", "http", False), ("not-json", "protocol", True), ("wrong-shape", "protocol", True)],
)  # fmt: skip
def test_post_json_classifies_every_failure(server, kind, fault, retryable):
    client = json_client(timeout_s=5.0, concurrency=1)
    with pytest.raises(RequestFault) as info:
        post_json(client, server.url, {"kind": kind}, lambda reply: reply["value"], expected="a value")
    assert (info.value.kind, info.value.retryable) == (fault, retryable)
    assert post_json(client, server.url, {"kind": "ok"}, lambda reply: reply["value"], expected="a value") == 42


def test_a_malformed_reply_is_retried_only_if_the_client_says_so(server):
    client = json_client(timeout_s=5.0, concurrency=1)
    with pytest.raises(RequestFault, match="not a value") as info:
        post_json(client, server.url, {"kind": "wrong-shape"}, lambda r: r["value"], expected="a value", retry_malformed=False)
    assert not info.value.retryable


def test_connection_errors_and_timeouts_are_retryable(server):
    with pytest.raises(RequestFault) as refused:
        post_json(json_client(timeout_s=5.0, concurrency=1), "http://127.0.0.1:9/api", {}, dict, expected="anything")
    assert (refused.value.kind, refused.value.retryable) == ("connection", True)
    server.delay = 0.5
    with pytest.raises(RequestFault) as slow:
        post_json(json_client(timeout_s=0.1, concurrency=1), server.url, {"kind": "ok"}, dict, expected="anything")
    assert (slow.value.kind, slow.value.retryable) == ("timeout", True)


def test_the_key_goes_out_as_a_bearer_token(server, monkeypatch):
    monkeypatch.setenv("ZS_TEST_KEY", "secret")
    post_json(json_client(5.0, 1, api_key_env="ZS_TEST_KEY"), server.url, {"kind": "ok"}, dict, expected="anything")
    assert server.headers[-1]["Authorization"] == "Bearer secret"
