"""The judge labeller against fake OpenAI-compatible servers: a good verdict, a malformed
one, a server error; a failed judgement is reported and left out, never guessed."""

from __future__ import annotations

import json

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.simtune.judge import JUDGE_PROMPT, JudgeItem, LLMJudge, judge_prompt, parse_verdict
from zerosearch_env.simtune.labels import LabelConfig, label_files


def _reply(text: str) -> dict:
    return {"choices": [{"message": {"content": text}}]}


def _by_content(path, body):
    content = body["messages"][0]["content"]
    return 200, _reply("Yes." if "Jane Doe founded" in content else "no")


ITEMS = [
    JudgeItem("Who founded Acme?", ("Jane Doe",), ("Jane Doe founded Acme.",)),
    JudgeItem("Who founded Acme?", ("Jane Doe",), ("Acme makes soap.",)),
]


def test_a_good_reply_is_a_verdict_and_the_request_is_greedy_and_short(start_server):
    server = start_server(respond=_by_content)
    judge = LLMJudge(server.url, "judge-model", retries=0)
    assert [j.quality for j in judge.judge(ITEMS)] == ["useful", "noisy"]
    judge.close()
    assert server.paths == ["/v1/chat/completions"] * 2
    body = next(b for b in server.bodies if "Jane Doe founded" in b["messages"][0]["content"])  # answered in any order
    assert body["model"] == "judge-model" and body["temperature"] == 0.0 and body["max_tokens"] == 8
    assert body["messages"] == [{"role": "user", "content": judge_prompt("Who founded Acme?", ["Jane Doe"], ["Jane Doe founded Acme."])}]


def test_a_malformed_reply_fails_that_judgement_without_retrying(start_server):
    server = start_server(respond=lambda path, body: (200, _reply("Probably yes, the first result says so.")))
    judgement = LLMJudge(server.url, retries=3, backoff_s=0).judge(ITEMS[:1])[0]
    assert judgement.failed and judgement.quality is None
    assert judgement.error.startswith("protocol:") and "one word" in judgement.error
    assert len(server.bodies) == 1  # the same prompt at temperature 0 would say the same


def test_a_server_error_is_retried_then_reported(start_server):
    server = start_server(respond=lambda path, body: (503, {"error": "overloaded"}))
    judgement = LLMJudge(server.url, retries=2, backoff_s=0).judge(ITEMS[:1])[0]
    assert judgement.failed and judgement.error.startswith("http:") and "503" in judgement.error
    assert "after 3 attempt(s)" in judgement.error and len(server.bodies) == 3


def test_judge_labels_leave_failed_judgements_out_and_say_so(start_server, tmp_path):
    def respond(path, body):
        content = body["messages"][0]["content"]
        if "Nothing" in content:
            return 200, _reply("unsure")
        return 200, _reply("yes" if "Zorvan" in content.split("Search results:")[1] else "NO")

    episodes = [
        {"index": i, "question": f"Q{i}?", "golden_answers": ["Zorvan"], "f1": 1.0, "em": 1.0, "cover_em": 1.0,
         "turns": [{"kind": "search", "query": f"q{i}", "documents": [doc]}]}
        for i, doc in enumerate(["Zorvan did it.", "Acme makes soap.", "Nothing here."])
    ]  # fmt: skip
    path = tmp_path / "trajectories.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in episodes))
    server = start_server(respond=respond)
    config = LabelConfig(labeller="judge", judge_url=server.url)
    result = label_files([path], tmp_path / "e.jsonl", config, judge=LLMJudge(server.url, retries=0))
    assert [(e.query, e.quality, e.label) for e in result.examples] == [("q0", "useful", "judge"), ("q1", "noisy", "judge")]
    judge = result.report.labellers["judge"]
    assert (judge.useful, judge.noisy, judge.failed) == (1, 1, 1)
    assert any("gave no verdict on 1 searches" in w and "not guessed" in w for w in result.report.warnings)
    assert "judge" in result.report.summary()


def test_parse_and_prompt():
    assert parse_verdict("NO") == "noisy" and parse_verdict("\nyes\n") == "useful"
    for bad in ("", "yes no", "y", "Yes!"):
        with pytest.raises(ValueError, match="one word"):
            parse_verdict(bad)
    prompt = judge_prompt("Who?", ["A", "B"], ["d1", "d2"])
    assert 'Question: "Who?"' in prompt and "Correct answer: A / B" in prompt and prompt.endswith("yes or no.\n")
    assert "{documents}" in JUDGE_PROMPT
    with pytest.raises(ConfigError, match="http"):
        LLMJudge("localhost:8000")
