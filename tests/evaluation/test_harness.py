"""run_eval: scores, reports, resume, sampling and folders of benchmarks."""

from __future__ import annotations

import json

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import EnvConfig, EvalConfig, RandomAgent, ScriptedBatchAgent, run_eval
from zerosearch_env.evaluation.config import agent_settings

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
        self.settings = agent_settings(self.inner)  # the run folder's identity: the agent it stands for
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


def test_an_eval_folder_records_the_simulators_usage_over_every_leg(tmp_path):
    from zerosearch_env.evaluation.cost import read_sim_usage

    config = EvalConfig(limit=30, batch_size=8)
    with pytest.raises(_Interrupt):
        run_eval(_FailsAfter(calls=7), config, tmp_path, progress=False)
    kind, [partial] = read_sim_usage(tmp_path)  # an interrupted leg records its usage too
    assert kind == "eval" and partial.sim == "corpus"
    assert partial.searches == sum(r["searches"] for r in _read_jsonl(tmp_path / "trajectories.jsonl")) > 0
    run_eval(ScriptedBatchAgent(), config, tmp_path, progress=False)
    _, [whole] = read_sim_usage(tmp_path)
    records = _read_jsonl(tmp_path / "trajectories.jsonl")
    assert whole.searches == sum(r["searches"] for r in records) > partial.searches
    assert whole.completion_tokens == sum(r["sim_completion_tokens"] for r in records)
    assert whole.sim_wall_s > partial.sim_wall_s  # this leg's time added to the first one's


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


def test_a_flashrag_folder_of_benchmarks_is_reported_per_benchmark(tmp_path):
    for name, count in (("nq", 3), ("popqa", 2), ("bamboogle", 4)):
        (tmp_path / name).mkdir()
        lines = [json.dumps({"id": f"{name}-{i}", "question": f"Who founded Acme {i}?", "golden_answers": ["Jane Doe"]}) for i in range(count)]
        (tmp_path / name / "test.jsonl").write_text("\n".join(lines) + "\n")
    result = run_eval(ScriptedBatchAgent(), EvalConfig(EnvConfig(dataset=str(tmp_path), split="test", **_world_corpus())), progress=False)
    assert [(s.data_source, s.episodes) for s in result.summaries] == [("bamboogle", 4), ("nq", 3), ("popqa", 2), ("overall", 9)]


def test_an_agent_that_returns_the_wrong_number_of_actions_gets_a_clear_error():
    class Broken:
        name = "broken"

        def act(self, episodes):
            return ["<answer> x </answer>"]

    with pytest.raises(ConfigError, match="must return one str per episode"):
        run_eval(Broken(), EvalConfig(limit=4, batch_size=4), progress=False)


def test_the_search_engine_is_built_once_per_run(monkeypatch):
    """An LLM simulator or a big index must load once, not once per wave."""
    from zerosearch_env.simulators import registry

    calls = []
    real = registry.make_simulator
    monkeypatch.setattr(registry, "make_simulator", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_eval(ScriptedBatchAgent(), EvalConfig(limit=10, batch_size=4), progress=False)
    assert len(calls) == 1


def test_an_option_the_agent_does_not_take_is_named_with_the_ones_it_does():
    from zerosearch_env.errors import ConfigError
    from zerosearch_env.evaluation import make_agent

    with pytest.raises(ConfigError, match=r"agent 'scripted' takes no option sede; its options are .*seed"):
        make_agent("scripted", sede=1)
    assert make_agent("scripted", seed=1).name
