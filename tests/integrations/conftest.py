"""What the verl and SkyRL tests share: rows in the frameworks' parquet layout, a fake
simulator server that knows the answer in useful mode only, and a scripted policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zerosearch_env.data import write_search_r1_parquet
from zerosearch_env.testing import JSONServer
from zerosearch_env.worlds.synthetic import make_world

TRUTH = re.compile(r"whose answer is (.*)\.\n")
FOUND = re.compile(r"The answer is (.*?)\.\n")


def simulator_reply(path: str, body: dict) -> tuple[int, dict]:
    """An OpenAI-compatible simulator: useful documents state the answer, noisy ones do not."""
    prompt = body["messages"][-1]["content"]
    truth = TRUTH.search(prompt).group(1)
    if "Useful Output:" in prompt:
        text = f"Doc 1: The answer is {truth}.\nDoc 2: A second document."
    else:
        text = "Doc 1: Nothing about it.\nDoc 2: Nothing either."
    return 200, {"choices": [{"message": {"content": text}}], "usage": {"prompt_tokens": 40, "completion_tokens": 12}}


def searching_policy(text: str) -> str:
    """Search the question once, then answer what the documents say ('unknown' if nothing)."""
    episode = text.rsplit("Question: ", 1)[-1]  # the prompt's own mention of <information> is before it
    if "</information>" not in episode:
        question = episode.split("\n", 1)[0]
        return f"<think>I should look this up.</think>\n<search> {question} </search>"
    found = FOUND.findall(text)
    return f"<answer> {found[-1] if found else 'unknown'} </answer>"


@pytest.fixture
def simulator_server(start_server, monkeypatch):
    """The fake simulator, reached as the example configs reach theirs: $ZEROSEARCH_SIM_URL."""
    server = start_server(JSONServer, simulator_reply)
    monkeypatch.setenv("ZEROSEARCH_SIM_URL", server.url)
    monkeypatch.setenv("ZEROSEARCH_SIM_MODEL", "fake-simulator")
    return server


@pytest.fixture(scope="session")
def world_parquet(tmp_path_factory) -> Path:
    """The synthetic world's test questions as ``zerosearch world --parquet`` writes them."""
    path = tmp_path_factory.mktemp("rows") / "test.parquet"
    return write_search_r1_parquet(make_world().questions("test")[:32], path, "test", agent_name="zerosearch", env_class="zerosearch")
