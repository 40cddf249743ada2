"""A run folder's identity: every setting that changes an episode, no secret, and resume
refused across a change (naming it) but not across a performance knob."""

from __future__ import annotations

import json
import re

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import EnvConfig, EvalConfig, RandomAgent, ScriptedBatchAgent, run_eval
from zerosearch_env.testing import FixedSimulator, JSONServer

SECRET = "sk-test-0123456789abcdef"


class SimulatorServer(JSONServer):
    """An OpenAI-compatible simulator: five documents naming the question it was asked."""

    def __init__(self):
        super().__init__(self.respond)

    def respond(self, path, body):
        question = re.search(r'question: "(.*?)"', body["messages"][1]["content"]).group(1)
        reply = "\n\n".join(f"Doc {i}: about {question} ({i})" for i in range(1, 6))
        return 200, {"choices": [{"message": {"content": reply}}], "usage": {"prompt_tokens": 40, "completion_tokens": 60}}


@pytest.fixture
def server(start_server):
    return start_server(SimulatorServer)


def _openai_sim(url, **options):
    return EnvConfig(sim="openai", sim_kwargs={"base_urls": url, "model": "sim-a", "retries": 0, **options})


def test_a_folder_evaluated_against_one_simulator_model_is_refused_for_another(tmp_path, server):
    first = run_eval(ScriptedBatchAgent(), EvalConfig(_openai_sim(server.url), limit=4), tmp_path, progress=False)
    assert len(first.records) == 4 and server.bodies[0]["model"] == "sim-a"
    with pytest.raises(ConfigError, match=r"other settings \(sim_kwargs\.model: 'sim-a' -> 'sim-b'\).*--overwrite"):
        run_eval(ScriptedBatchAgent(), EvalConfig(_openai_sim(server.url, model="sim-b"), limit=4), tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"other settings \(sim_kwargs\.temperature: <unset> -> 0\.2\)"):
        run_eval(ScriptedBatchAgent(), EvalConfig(_openai_sim(server.url, temperature=0.2), limit=4), tmp_path, progress=False)


def test_a_folder_is_refused_for_another_simulator_backend(tmp_path, server):
    via_server = EnvConfig(sim="sft-3b", sim_backend="openai", sim_kwargs={"base_urls": server.url, "retries": 0})
    run_eval(ScriptedBatchAgent(), EvalConfig(via_server, limit=2), tmp_path, progress=False)
    local = EnvConfig(sim="sft-3b", sim_backend="hf", sim_kwargs={"base_urls": server.url, "retries": 0})
    with pytest.raises(ConfigError, match=r"other settings \(sim_backend: 'openai' -> 'hf'\)"):
        run_eval(ScriptedBatchAgent(), EvalConfig(local, limit=2), tmp_path, progress=False)


def test_the_default_backend_is_recorded_as_the_one_this_machine_runs(monkeypatch):
    """sim_backend=None runs vLLM with a GPU and transformers without: their documents differ."""
    from zerosearch_env import import_utils

    config = EvalConfig(EnvConfig(sim="sft-3b"))
    monkeypatch.setattr(import_utils, "cuda_device_count", lambda: 0)
    assert config.identity("scripted")["sim_backend"] == "hf"
    monkeypatch.setattr(import_utils, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(import_utils, "is_vllm_available", lambda: True)
    assert config.identity("scripted")["sim_backend"] == "vllm"
    assert EvalConfig(EnvConfig(sim="corpus")).identity("scripted")["sim_backend"] is None  # no backend to choose
    assert EvalConfig(EnvConfig(sim="openai")).identity("scripted")["sim_backend"] == "openai"


def test_performance_knobs_and_the_row_selection_resume_the_same_folder(tmp_path, server):
    run_eval(ScriptedBatchAgent(), EvalConfig(_openai_sim(server.url), limit=4, batch_size=4), tmp_path, progress=False)
    faster = _openai_sim(server.url, concurrency=2, timeout_s=5.0, backoff_s=0.1)
    resumed = run_eval(ScriptedBatchAgent(), EvalConfig(faster, limit=6, batch_size=3, bootstrap_resamples=50), tmp_path, progress=False)
    assert resumed.resumed_episodes == 4 and len(resumed.records) == 6


def test_the_agents_settings_are_part_of_the_identity(tmp_path):
    run_eval(RandomAgent(seed=1), EvalConfig(limit=4), tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"other settings \(agent_settings\.seed: 1 -> 2\)"):
        run_eval(RandomAgent(seed=2), EvalConfig(limit=4), tmp_path, progress=False)
    assert run_eval(RandomAgent(seed=1), EvalConfig(limit=4), tmp_path, progress=False).resumed_episodes == 4


def test_every_setting_of_the_environment_is_in_the_identity():
    identity = EvalConfig().identity("scripted")
    for name in (
        "sim",
        "sim_backend",
        "sim_kwargs",
        "dataset",
        "split",
        "corpus",
        "max_turns",
        "topk",
        "prompt_template",
        "difficulty",
        "seed",
        "agent",
        "agent_settings",
    ):
        assert name in identity, name
    for performance in ("limit", "sample", "batch_size", "bootstrap_resamples"):
        assert performance not in identity, performance


def test_in_memory_rows_are_told_apart_by_their_contents():
    corpus = ["Doc about Acme.", "Doc about Jane Doe."]
    same = EvalConfig(EnvConfig(corpus=list(corpus))).identity("scripted")
    assert same == EvalConfig(EnvConfig(corpus=list(corpus))).identity("scripted")
    assert same["corpus"] != EvalConfig(EnvConfig(corpus=corpus[:1])).identity("scripted")["corpus"]


def test_no_secret_reaches_the_run_folder(tmp_path):
    """Keys live in environment variables; a key passed in sim_kwargs anyway, in a header
    or in a URL is never written (eval_config.json, metrics.json, report.md)."""
    sim_kwargs = {"api_key": SECRET, "headers": {"Authorization": f"Bearer {SECRET}"}, "base_urls": [f"https://me:{SECRET}@sim.example/v1?token={SECRET}"]}
    config = EvalConfig(EnvConfig(sim=FixedSimulator(), sim_kwargs=sim_kwargs), limit=2)  # an object: sim_kwargs unused
    run_eval(ScriptedBatchAgent(), config, tmp_path, progress=False)
    for path in tmp_path.iterdir():
        if path.suffix in (".json", ".jsonl", ".md"):
            assert SECRET not in path.read_text(), path.name
    saved = json.loads((tmp_path / "eval_config.json").read_text())
    assert saved["sim_kwargs"]["base_urls"] == ["https://sim.example/v1?token=<redacted>"]  # user info dropped whole
    assert "api_key" not in saved["sim_kwargs"] and "Authorization" not in saved["sim_kwargs"]["headers"]
