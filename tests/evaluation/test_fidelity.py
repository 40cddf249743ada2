"""``zerosearch fidelity``: engines scored against a query-only reference on the same queries."""

import json
import math

import pytest

from zerosearch_env.errors import ConfigError, DatasetError, SimulatorError
from zerosearch_env.evaluation import EvalConfig, ScriptedBatchAgent, run_eval
from zerosearch_env.evaluation.fidelity import FidelityConfig, build_queries, run_fidelity
from zerosearch_env.evaluation.fidelity_metrics import best_match_overlap, is_format_valid
from zerosearch_env.records import QARow
from zerosearch_env.simulators.base import SearchResult
from zerosearch_env.worlds.synthetic import make_world

SMALL = dict(limit=60, bootstrap_resamples=200)


class LeakingEngine:
    """Noisy mode that still hands over the answer: the defect the leak rate must catch."""

    name = "leaky"

    def simulate(self, requests):
        return [SearchResult((f"{r.query} is answered by {r.golden_answers[0]}.", "Filler text.")) for r in requests]


class MalformedEngine:
    """An LLM that ignores the format: five documents' worth of words, no ``Doc i:`` marker."""

    name = "malformed"

    def simulate(self, requests):
        reply = " ".join(f"{r.query} and more words" for _ in range(5) for r in requests[:1])
        return [SearchResult((reply,), prompt_tokens=40, completion_tokens=60, extra={"reply": reply}) for _ in requests]


class CountingEngine:
    """Wraps an engine, counting the searches it is asked; fails on the call numbered ``fail_on``."""

    name = "counting"

    def __init__(self, inner, fail_on=None):
        self.inner, self.fail_on, self.calls, self.searches = inner, fail_on, 0, 0

    def simulate(self, requests):
        self.calls += 1
        if self.calls == self.fail_on:
            raise SimulatorError("the server went away")
        self.searches += len(requests)
        return self.inner.simulate(requests)


def test_corpus_never_leaks_in_noisy_mode_and_answers_in_useful_mode():
    result = run_fidelity(["corpus"], FidelityConfig(**SMALL), progress=False)
    corpus = result.engines[0]
    useful, noisy = corpus.mode("useful"), corpus.mode("noisy")
    assert noisy.answer_presence.mean == 0.0  # exactly: answer-bearing documents are removed
    assert useful.answer_presence.mean > 0.8
    assert corpus.separation.mean == useful.answer_presence.mean
    assert useful.format_valid.mean > 0.9 and 25 < useful.words_per_document.mean < 60
    # The reader answers from useful documents far better than from noisy ones.
    assert useful.reader_f1.mean > 0.6 > 0.2 > noisy.reader_f1.mean


def test_bm25_against_itself_overlaps_fully():
    result = run_fidelity(["bm25"], FidelityConfig(**SMALL), progress=False)
    for scores in (result.reference, result.engines[0]):
        (mode,) = scores.modes  # a query-only engine runs once: no noisy mode
        assert mode.quality == "any" and scores.query_only
        assert mode.overlap.mean == mode.overlap.low == 1.0
        assert mode.bm25_relative.mean == 1.0
        assert mode.reader_f1 == mode.reference_reader_f1
        assert math.isnan(scores.separation.mean)


def test_a_leaking_engine_is_caught():
    leaky = run_fidelity([LeakingEngine()], FidelityConfig(**SMALL), progress=False).engines[0]
    assert leaky.mode("noisy").answer_presence.mean == 1.0
    assert leaky.separation.mean == 0.0


def test_a_malformed_reply_scores_zero_on_format_validity():
    malformed = run_fidelity([MalformedEngine()], FidelityConfig(**SMALL), progress=False).engines[0]
    for mode in malformed.modes:
        assert mode.format_valid.mean == 0.0
        assert mode.prompt_tokens_per_search == 40 and mode.completion_tokens_per_search == 60


def test_format_validity_reads_the_raw_reply_when_there_is_one():
    five = [f"d{i}" for i in range(5)]
    assert is_format_valid({"failed": False, "documents": five, "marked_documents": None}, 5)
    assert is_format_valid({"failed": False, "documents": five, "marked_documents": 5}, 5)
    assert not is_format_valid({"failed": False, "documents": five[:1], "marked_documents": 0}, 1)  # no marker
    assert not is_format_valid({"failed": True, "documents": five, "marked_documents": None}, 5)
    assert not is_format_valid({"failed": False, "documents": five[:4], "marked_documents": None}, 5)


def test_overlap_is_each_documents_best_match_averaged():
    assert best_match_overlap(["a b", "c d"], ["a b", "c d", "e"]) == 1.0
    assert best_match_overlap(["a b", "zz"], ["a b"]) == 0.5
    assert best_match_overlap(["a b"], []) is None


def test_the_reference_must_not_see_the_answers():
    with pytest.raises(ConfigError, match="reference 'corpus' sees the golden answers"):
        run_fidelity(["bm25"], FidelityConfig(reference="corpus", **SMALL), progress=False)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="qualities"):
        FidelityConfig(qualities=["useful", "sometimes"])
    with pytest.raises(ConfigError, match="no queries"):
        FidelityConfig(question_queries=False)
    with pytest.raises(ConfigError, match="no engine"):
        run_fidelity([], FidelityConfig(**SMALL), progress=False)


def test_a_folder_resumes_after_a_failure_without_asking_twice(tmp_path):
    from zerosearch_env.simulators.registry import make_simulator

    corpus = make_simulator("corpus", world=make_world())
    config = FidelityConfig(batch_size=16, **SMALL)  # 60 queries x 2 modes = 8 calls
    flaky = CountingEngine(corpus, fail_on=4)
    flaky.name = "corpus-under-test"
    with pytest.raises(SimulatorError):
        run_fidelity([flaky], config, tmp_path / "run", progress=False)
    assert flaky.searches == 48
    again = CountingEngine(corpus)
    again.name = "corpus-under-test"
    resumed = run_fidelity([again], config, tmp_path / "run", progress=False)
    assert again.searches == 120 - 48  # only what the first run had not answered

    fresh = run_fidelity(["corpus"], config, tmp_path / "fresh", progress=False)
    a, b = resumed.engines[0], fresh.engines[0]
    for quality in ("useful", "noisy"):
        assert a.mode(quality).answer_presence == b.mode(quality).answer_presence
        assert a.mode(quality).reader_f1 == b.mode(quality).reader_f1
        assert a.mode(quality).overlap == b.mode(quality).overlap


def test_a_folder_refuses_other_settings_unless_overwritten(tmp_path):
    run_fidelity(["corpus"], FidelityConfig(**SMALL), tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"topk: 5 -> 3"):
        run_fidelity(["corpus"], FidelityConfig(topk=3, **SMALL), tmp_path, progress=False)
    result = run_fidelity(["corpus"], FidelityConfig(topk=3, **SMALL), tmp_path, overwrite=True, progress=False)
    assert result.engines[0].mode("useful").words_per_document.mean > 0
    # Another engine, or a larger --limit, joins the same folder and reuses what is there.
    run_fidelity(["corpus", "bm25"], FidelityConfig(topk=3, limit=80, bootstrap_resamples=200), tmp_path, progress=False)
    assert len(list((tmp_path / "searches").glob("*.jsonl"))) == 2


def test_the_run_folder_holds_report_json_plot_and_usage(tmp_path):
    result = run_fidelity(["corpus", "bm25"], FidelityConfig(**SMALL), tmp_path, progress=False)
    payload = json.loads((tmp_path / "fidelity.json").read_text())
    assert [e["engine"] for e in payload["engines"]] == ["corpus", "bm25"] and payload["reference"]["engine"] == "bm25"
    assert payload["queries"] == {"question": 60, "trajectory": 0, "unmatched_trajectory_searches": 0}
    report = (tmp_path / "report.md").read_text()
    assert "| corpus | " in report and "| bm25 (reference) | " in report and "leak (noisy)" in report
    assert (tmp_path / "fidelity.png").stat().st_size > 5000
    usage = json.loads((tmp_path / "sim_usage.json").read_text())
    assert usage["kind"] == "fidelity"
    assert {u["sim"]: u["searches"] for u in usage["simulators"]} == {"bm25": 60, "corpus": 120}
    assert result.engines[0].searches == 120


def test_the_same_seed_gives_the_same_scores(tmp_path):
    first = run_fidelity(["corpus", LeakingEngine()], FidelityConfig(**SMALL), tmp_path / "a", progress=False)
    second = run_fidelity(["corpus", LeakingEngine()], FidelityConfig(**SMALL), tmp_path / "b", progress=False)
    for x, y in zip(first.engines, second.engines):
        assert [m.answer_presence for m in x.modes] == [m.answer_presence for m in y.modes]
        assert [m.reader_f1 for m in x.modes] == [m.reader_f1 for m in y.modes]
    strip = lambda path: [{k: v for k, v in json.loads(line).items() if k not in ("wall_s", "latency_s")} for line in path.read_text().splitlines()]  # noqa: E731
    a_files, b_files = sorted((tmp_path / "a" / "searches").glob("*.jsonl")), sorted((tmp_path / "b" / "searches").glob("*.jsonl"))
    assert [strip(p) for p in a_files] == [strip(p) for p in b_files]


def test_trajectory_searches_are_asked_too(tmp_path):
    run_eval(ScriptedBatchAgent(), EvalConfig(limit=20, bootstrap_resamples=50), tmp_path / "eval", progress=False)
    trajectories = tmp_path / "eval" / "trajectories.jsonl"
    searches = sum(1 for line in trajectories.read_text().splitlines() for t in json.loads(line)["turns"] if t["kind"] == "search")
    result = run_fidelity(["corpus"], FidelityConfig(limit=20, queries=[str(trajectories)], bootstrap_resamples=50), tmp_path / "fid", progress=False)
    payload = json.loads((tmp_path / "fid" / "fidelity.json").read_text())
    assert payload["queries"]["question"] == 20
    assert 0 < payload["queries"]["trajectory"] <= searches  # a repeated (question, query) pair is asked once
    assert result.queries == 20 + payload["queries"]["trajectory"]
    # Trajectories of questions outside the selection are counted, not asked.
    fewer = run_fidelity(["corpus"], FidelityConfig(limit=5, queries=[str(trajectories)], bootstrap_resamples=50), progress=False)
    assert fewer.unmatched_searches > 0


def test_queries_are_matched_by_id_then_question(tmp_path):
    rows = [QARow("Who founded Acme?", ("Jane",), id="q1"), QARow("Where is Acme?", ("Paris",), id="q2")]
    path = tmp_path / "t.jsonl"
    lines = [
        {"id": "q1", "question": "Who founded Acme?", "turns": [{"kind": "search", "query": "Acme founder"}, {"kind": "answer"}]},
        {"id": "other", "question": "Where is Acme?", "turns": [{"kind": "search", "query": "Acme city"}, {"kind": "search", "query": "Acme city"}]},
        {"id": "q9", "question": "Unknown?", "turns": [{"kind": "search", "query": "x"}]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    query_set = build_queries(rows, [path], question_queries=True)
    assert [(q.row.id, q.text, q.origin) for q in query_set.queries] == [
        ("q1", "Who founded Acme?", "question"),
        ("q1", "Acme founder", "trajectory"),
        ("q2", "Where is Acme?", "question"),
        ("q2", "Acme city", "trajectory"),
    ]
    assert query_set.unmatched == 1
    path.write_text('{"question": "Who founded Acme?"}\n')
    with pytest.raises(DatasetError, match=r"t.jsonl:1 has no 'question' and 'turns'"):
        build_queries(rows, [path], question_queries=True)
    with pytest.raises(DatasetError, match="does not exist"):
        build_queries(rows, [tmp_path / "missing.jsonl"], question_queries=True)
    for turns, message in (([["search", "q"]], "turn 1 expects an object"), ([{"kind": "search", "query": 7}], "query expects a string")):
        path.write_text(json.dumps({"question": "Who founded Acme?", "turns": turns}) + "\n")
        with pytest.raises(DatasetError, match=message):
            build_queries(rows, [path], question_queries=True)


def test_context_engine_on_hotpotqa_rows_of_the_world(tmp_path):
    from zerosearch_env.worlds.synthetic import write_hotpotqa

    world = make_world()
    path = write_hotpotqa(world, tmp_path / "test_hotpotqa.json")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d.id, "contents": d.contents}) + "\n" for d in world.documents))
    config = FidelityConfig(dataset=str(path), corpus=str(corpus), **SMALL)
    context = run_fidelity(["context"], config, progress=False).engines[0]
    assert context.mode("useful").answer_presence.mean == 1.0  # the supporting paragraphs hold the answer
    assert context.mode("noisy").answer_presence.mean == 0.0  # distractors never do
    assert context.mode("noisy").reader_f1.mean < 0.3 < context.mode("useful").reader_f1.mean


def test_no_reader_leaves_reader_scores_empty():
    scores = run_fidelity(["corpus"], FidelityConfig(reader="none", **SMALL), progress=False).engines[0]
    assert math.isnan(scores.mode("useful").reader_f1.mean)
    assert scores.mode("useful").answer_presence.mean > 0.8


def test_an_llm_engine_through_the_hf_backend(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from zerosearch_env.testing import build_tiny_llama

    folder = build_tiny_llama(tmp_path / "tiny_sim")
    config = FidelityConfig(limit=6, sim_backend="hf", sim_kwargs={"max_new_tokens": 16, "batch_size": 6}, bootstrap_resamples=50)
    result = run_fidelity([str(folder)], config, tmp_path / "run", progress=False)
    tiny = result.engines[0]
    assert tiny.engine.startswith(str(folder)) and '"max_new_tokens": 16' in tiny.engine  # options that change documents are named
    useful = tiny.mode("useful")
    assert useful.searches == 6 and useful.prompt_tokens_per_search > 50 and 0 < useful.completion_tokens_per_search <= 16
    assert useful.format_valid.mean == 0.0  # random weights write no "Doc i:" reply
    record = json.loads(next((tmp_path / "run" / "searches").glob("tiny_sim*.jsonl")).read_text().splitlines()[0])
    assert record["marked_documents"] == 0 and record["completion_tokens"] > 0


def test_the_cli_prints_the_table_and_writes_the_folder(tmp_path, capsys):
    from zerosearch_env.cli import main

    code = main(["fidelity", "corpus", "bm25", "--limit", "20", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "2 engine(s) against bm25 on 20 queries" in out and "| corpus |" in out
    assert (tmp_path / "report.md").exists()
    assert main(["fidelity", "corpus", "--reference", "corpus", "--limit", "5", "--no-progress"]) == 2
    assert "sees the golden answers" in capsys.readouterr().err


def test_hotpotqa_rows_carry_supporting_and_distractor_paragraphs(tmp_path):
    from zerosearch_env.data import load_questions
    from zerosearch_env.worlds.synthetic import hotpotqa_records

    world = make_world()
    records = hotpotqa_records(world, "test")
    assert records == hotpotqa_records(world, "test")  # deterministic
    rows = load_questions(records)
    assert len(rows) == len(world.questions("test"))
    for row, question in zip(rows, world.records("test")):
        supporting = [p for p in row.context if p.supporting]
        assert 1 <= len(supporting) <= len(question.hops) and len(supporting) < len(row.context) <= len(supporting) + 8
        assert len({p.title for p in row.context}) == len(row.context)
        assert any(question.row.golden_answers[0] in p.text for p in supporting)
