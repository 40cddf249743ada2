"""The evaluation harness: agents, scores, reports, resume and the `zerosearch eval` CLI."""

import json
import re

import pytest

from zerosearch_env.cli import main
from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import (
    EnvConfig,
    EpisodeView,
    EvalConfig,
    RandomAgent,
    ScriptedBatchAgent,
    make_agent,
    run_eval,
    summarize,
)
from zerosearch_env.evaluation.openai_agent import AgentError, OpenAIAgent

from .conftest import JSONServer

SMALL = dict(limit=24, batch_size=8)


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scripted_agent_on_the_synthetic_world_scores_well_and_writes_the_report(tmp_path):
    result = run_eval(ScriptedBatchAgent(), EvalConfig(**SMALL), tmp_path, progress=False)
    overall = result.summaries[-1]
    assert overall.data_source == "overall" and overall.episodes == 24
    assert overall.f1.mean > 0.8 and overall.f1.low <= overall.f1.mean <= overall.f1.high
    assert 1.0 <= overall.searches_per_episode <= 3.0
    assert overall.invalid_action_rate == 0.0 and overall.truncation_rate == 0.0
    sources = {s.data_source for s in result.summaries[:-1]}
    assert sources and all(s.startswith("synthetic-") for s in sources)
    assert sum(s.episodes for s in result.summaries[:-1]) == 24

    records = _read_jsonl(tmp_path / "trajectories.jsonl")
    assert sorted(r["index"] for r in records) == list(range(24))
    first = min(records, key=lambda r: r["index"])
    assert first["turns"][0]["kind"] == "search" and first["turns"][0]["documents"]
    assert first["turns"][-1]["kind"] == "answer"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["summaries"][-1]["f1"]["mean"] == pytest.approx(overall.f1.mean)
    report = (tmp_path / "report.md").read_text()
    assert "| **overall** | 24 |" in report and "cover-EM" in report and "upper bound" in report
    assert "## An episode it got right" in report
    assert (tmp_path / "scores.png").read_bytes().startswith(b"\x89PNG")


def test_noise_lowers_the_scripted_agents_score():
    clean = run_eval(ScriptedBatchAgent(), EvalConfig(limit=60), progress=False).summaries[-1]
    noisy = run_eval(ScriptedBatchAgent(), EvalConfig(limit=60, difficulty=1.0), progress=False).summaries[-1]
    assert noisy.f1.mean < clean.f1.mean - 0.3


def test_the_same_seed_gives_the_same_trajectories_whatever_the_batch_size():
    a = run_eval(RandomAgent(seed=3), EvalConfig(limit=20, batch_size=20, seed=5), progress=False).records
    b = run_eval(RandomAgent(seed=3), EvalConfig(limit=20, batch_size=3, seed=5), progress=False).records
    assert a == b
    c = run_eval(RandomAgent(seed=3), EvalConfig(limit=20, batch_size=20, seed=6), progress=False).records
    assert [r["seed"] for r in a] != [r["seed"] for r in c]


def test_random_agent_fuzzes_the_format_and_every_bad_turn_counts_as_invalid():
    result = run_eval(RandomAgent(seed=0), EvalConfig(EnvConfig(max_turns=3), limit=64), progress=False)
    overall = result.summaries[-1]
    assert 0.1 < overall.invalid_action_rate < 0.9
    assert overall.truncation_rate > 0.0
    turns = [t for r in result.records for t in r["turns"]]
    wrong_case = [t for t in turns if t["action"].startswith("<SEARCH>")]
    unclosed = [t for t in turns if t["action"].startswith("<search> ") and "</search>" not in t["action"]]
    assert wrong_case and unclosed and all(t["kind"] == "invalid" for t in wrong_case + unclosed)
    assert all(r["invalid_turns"] == sum(t["kind"] == "invalid" for t in r["turns"]) for r in result.records)


class _Interrupt(Exception):
    pass


class _FailsAfter:
    """The scripted agent that raises on its ``calls``-th act, like a server going down."""

    def __init__(self, calls):
        self.inner = ScriptedBatchAgent()
        self.name = "scripted"
        self.calls = calls

    def act(self, episodes):
        self.calls -= 1
        if self.calls < 0:
            raise _Interrupt("server went away")
        return self.inner.act(episodes)


def test_an_interrupted_eval_resumes_without_duplicates_and_matches_an_uninterrupted_one(tmp_path):
    config = EvalConfig(limit=30, batch_size=8, difficulty=0.5)
    straight = run_eval(ScriptedBatchAgent(), config, tmp_path / "straight", progress=False)

    out = tmp_path / "resumed"
    with pytest.raises(_Interrupt):
        run_eval(_FailsAfter(calls=7), config, out, progress=False)
    partial = _read_jsonl(out / "trajectories.jsonl")
    assert 0 < len(partial) < 30
    with (out / "trajectories.jsonl").open("a") as f:  # a line cut short by the interruption
        f.write('{"index": 99, "trunc')

    resumed = run_eval(ScriptedBatchAgent(), config, out, progress=False)
    assert resumed.resumed_episodes == len(partial)
    lines = _read_jsonl(out / "trajectories.jsonl")
    assert len(lines) == 30 and len({r["index"] for r in lines}) == 30
    assert resumed.records == straight.records
    assert [s.to_dict() for s in resumed.summaries] == [s.to_dict() for s in straight.summaries]


def test_a_larger_limit_reuses_the_episodes_already_played(tmp_path):
    run_eval(ScriptedBatchAgent(), EvalConfig(limit=10), tmp_path, progress=False)
    more = run_eval(ScriptedBatchAgent(), EvalConfig(limit=16), tmp_path, progress=False)
    assert more.resumed_episodes == 10 and len(more.records) == 16


def test_a_run_folder_with_other_settings_is_refused_unless_overwritten(tmp_path):
    run_eval(ScriptedBatchAgent(), EvalConfig(limit=4), tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"other settings \(difficulty: 0.0 -> 0.5\).*--overwrite"):
        run_eval(ScriptedBatchAgent(), EvalConfig(limit=4, difficulty=0.5), tmp_path, progress=False)
    result = run_eval(ScriptedBatchAgent(), EvalConfig(limit=4, difficulty=0.5), tmp_path, overwrite=True, progress=False)
    assert result.resumed_episodes == 0 and len(_read_jsonl(tmp_path / "trajectories.jsonl")) == 4


def test_sample_draws_a_seeded_subset_of_a_parquet_file(shared_data):
    path = shared_data / "nq_search_test_200.parquet"
    a = run_eval(ScriptedBatchAgent(), EvalConfig(EnvConfig(dataset=str(path), **_world_corpus()), sample=12, limit=5, seed=1), progress=False)
    assert len(a.records) == 5 and {r["data_source"] for r in a.records} == {"nq"}
    b = run_eval(ScriptedBatchAgent(), EvalConfig(EnvConfig(dataset=str(path), **_world_corpus()), sample=12, limit=5, seed=1), progress=False)
    assert [r["index"] for r in a.records] == [r["index"] for r in b.records] != list(range(5))


def _world_corpus():
    from zerosearch_env.worlds.synthetic import make_world

    return {"corpus": [d.contents for d in make_world().documents[:500]]}


@pytest.fixture
def shared_data():
    from pathlib import Path

    for candidate in (Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")):
        if (candidate / "nq_search_test_200.parquet").exists():
            return candidate
    pytest.skip("../shared/data/nq_search_test_200.parquet is not on this machine")


def test_a_flashrag_folder_of_benchmarks_is_reported_per_benchmark(tmp_path):
    for name, count in (("nq", 3), ("popqa", 2), ("bamboogle", 4)):
        (tmp_path / name).mkdir()
        lines = [json.dumps({"id": f"{name}-{i}", "question": f"Who founded Acme {i}?", "golden_answers": ["Jane Doe"]}) for i in range(count)]
        (tmp_path / name / "test.jsonl").write_text("\n".join(lines) + "\n")
    result = run_eval(ScriptedBatchAgent(), EvalConfig(EnvConfig(dataset=str(tmp_path), split="test", **_world_corpus())), progress=False)
    assert [(s.data_source, s.episodes) for s in result.summaries] == [("bamboogle", 4), ("nq", 3), ("popqa", 2), ("overall", 9)]


# ----------------------------------------------------------------------------- agents


def test_episode_view_rebuilds_the_transcript():
    view = EpisodeView(3, "Q: x?\n", ("<search> x </search>",), ("\n\n<information>Doc 1: y</information>\n\n",))
    assert view.transcript == "Q: x?\n<search> x </search>\n\n<information>Doc 1: y</information>\n\n"
    assert view.observation.startswith("\n\n<information>") and EpisodeView(0, "p").observation == "p"


def test_make_agent_names_the_choices_and_imports_third_party_agents(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown agent 'gpt'.*scripted.*module:ClassName"):
        make_agent("gpt")
    (tmp_path / "my_agents.py").write_text(
        "class AlwaysParis:\n"
        "    name = 'always-paris'\n"
        "    def act(self, episodes):\n"
        "        return ['<answer> Paris </answer>' for _ in episodes]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = make_agent("my_agents:AlwaysParis")
    result = run_eval(agent, EvalConfig(limit=5), progress=False)
    assert all(len(r["turns"]) == 1 and r["answer"] == "Paris" for r in result.records)
    with pytest.raises(ConfigError, match="cannot import 'Nope'"):
        make_agent("my_agents:Nope")


def test_an_agent_that_returns_the_wrong_number_of_actions_gets_a_clear_error():
    class Broken:
        name = "broken"

        def act(self, episodes):
            return ["<answer> x </answer>"]

    with pytest.raises(ConfigError, match="must return one str per episode"):
        run_eval(Broken(), EvalConfig(limit=4, batch_size=4), progress=False)


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
    server = policy_server(delay=0.05)
    OpenAIAgent(server.url, "m", concurrency=3).act([EpisodeView(i, f"Question: q{i}?\n") for i in range(12)])
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


def test_transformers_agent_plays_a_tiny_checkpoint(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from zerosearch_agents.policy import build_tiny_policy

    path = build_tiny_policy(tmp_path / "policy")
    agent = make_agent(f"hf:{path}", max_turn_tokens=12, batch_size=4)
    config = EvalConfig(EnvConfig(max_turns=2), limit=6, batch_size=6)
    a = run_eval(agent, config, progress=False)
    b = run_eval(make_agent(f"hf:{path}", max_turn_tokens=12, batch_size=4), config, progress=False)
    assert len(a.records) == 6 and a.records == b.records  # greedy: deterministic
    assert all(1 <= len(r["turns"]) <= 3 for r in a.records)
    with pytest.raises(ConfigError, match="cannot load the model"):
        make_agent(f"hf:{tmp_path / 'missing'}")


# ----------------------------------------------------------------------------- metrics and CLI


def test_summarize_groups_by_data_source_and_counts_rates():
    def record(source, f1, turns, invalid, truncated):
        return {"data_source": source, "em": f1, "cover_em": f1, "f1": f1, "searches": 1, "turns": [{}] * turns,
                "invalid_turns": invalid, "truncated": truncated, "sim_prompt_tokens": 10, "sim_completion_tokens": 20}

    summaries = summarize([record("nq", 1.0, 2, 0, False), record("nq", 0.0, 4, 2, True), record("popqa", 0.5, 2, 1, False)])
    assert [s.data_source for s in summaries] == ["nq", "popqa", "overall"]
    nq = summaries[0]
    assert nq.f1.mean == 0.5 and nq.invalid_action_rate == pytest.approx(2 / 6) and nq.truncation_rate == 0.5
    assert summaries[-1].episodes == 3 and summaries[-1].sim_completion_tokens == 60


def test_cli_eval_end_to_end(tmp_path, capsys):
    out = tmp_path / "eval1"
    assert main(["eval", "--agent", "scripted", "--dataset", "synthetic", "--limit", "12", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| **overall** | 12 |" in printed and "strict EM" in printed and str(out) in printed
    assert {p.name for p in out.iterdir()} >= {"trajectories.jsonl", "metrics.json", "report.md", "scores.png", "eval_config.json"}
    assert main(["eval", "--limit", "12", "--out", str(out), "--no-progress"]) == 0
    assert "12 resumed" in capsys.readouterr().out
    assert main(["eval", "--agent", "nope", "--limit", "2"]) == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err


def test_cli_eval_against_the_bm25_retriever_over_a_flashrag_corpus(tmp_path, capsys):
    """The real-retriever path: files in FlashRAG format, an index built once and reused."""
    assert main(["world", str(tmp_path / "world")]) == 0
    corpus, questions = tmp_path / "world" / "corpus.jsonl", tmp_path / "world" / "test.jsonl"
    args = ["eval", "--dataset", str(questions), "--sim", "bm25", "--corpus", str(corpus), "--limit", "16", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    manifest = corpus.with_name("corpus.jsonl.bm25") / "manifest.json"
    built = manifest.stat().st_mtime_ns
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["summaries"][-1]["f1"]["mean"] > 0.8  # the scripted reader knows the world's phrasing
    assert "upper bound" not in (tmp_path / "run" / "report.md").read_text()  # bm25 never sees the answers
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    assert manifest.stat().st_mtime_ns == built  # the saved index was loaded, not rebuilt


def test_the_search_engine_is_built_once_per_run(monkeypatch):
    """An LLM simulator or a big index must load once, not once per wave."""
    from zerosearch_env.simulators import registry

    calls = []
    real = registry.make_simulator
    monkeypatch.setattr(registry, "make_simulator", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_eval(ScriptedBatchAgent(), EvalConfig(limit=10, batch_size=4), progress=False)
    assert len(calls) == 1
