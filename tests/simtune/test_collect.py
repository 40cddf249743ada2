"""collect: the scripted agent against bm25 over several synthetic worlds, the warnings,
the engine read back from a folder, and the command line from collect to label."""

from __future__ import annotations

import json

import pytest

from zerosearch_env.cli import main
from zerosearch_env.env_config import EnvConfig
from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import EvalConfig, ScriptedBatchAgent
from zerosearch_env.simtune import balance, read_examples
from zerosearch_env.simtune.collect import MANIFEST, collect, collect_warnings, collected_engine, collection_legs
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.worlds.synthetic import make_world

BM25 = EvalConfig(EnvConfig(sim="bm25"), limit=6, batch_size=6)


def _records(folder):
    return [json.loads(line) for line in (folder / "trajectories.jsonl").read_text().splitlines()]


def test_collect_over_two_worlds_plays_each_train_split_against_its_own_corpus(tmp_path):
    result = collect(ScriptedBatchAgent(), BM25, tmp_path, world_seeds=[1, 2], progress=False)
    assert result.folders == [tmp_path / "world-1", tmp_path / "world-2"] and result.warnings == []
    assert result.episodes == 12 and result.searches >= 12
    for seed, folder in zip((1, 2), result.folders):
        train = {row.question for row in make_world(seed=seed).questions("train")}
        records = _records(folder)
        assert len(records) == 6 and {r["question"] for r in records} <= train
        assert all(t["documents"] for r in records for t in r["turns"] if t["kind"] == "search")
        manifest = json.loads((folder / MANIFEST).read_text())
        assert (manifest["sim"], manifest["query_only"], manifest["world_seed"], manifest["split"]) == ("bm25", True, seed, "train")
    # new worlds, new names: no question is asked in both
    assert not {r["question"] for r in _records(result.folders[0])} & {r["question"] for r in _records(result.folders[1])}
    # the engine is built again from the folder, and answers a search as it did then
    search = next(t for t in _records(result.folders[1])[0]["turns"] if t["kind"] == "search")
    engine = collected_engine(result.folders[1])
    assert list(engine.simulate([SearchRequest(search["query"], "", (), topk=5)])[0].documents) == search["documents"]
    # resumable: a second call plays nothing again
    again = collect(ScriptedBatchAgent(), BM25, tmp_path, world_seeds=[1, 2], progress=False)
    assert [r.resumed_episodes for r in again.results] == [6, 6]


def test_the_synthetic_world_is_collected_on_train_and_a_world_object_works(tmp_path):
    ((folder, leg, seed),) = collection_legs(BM25, tmp_path, None)
    assert (folder, leg.split, seed) == (tmp_path, "train", 0)
    world = make_world(seed=3)
    result = collect(ScriptedBatchAgent(), EvalConfig(EnvConfig(sim="bm25", dataset=world), limit=4), tmp_path / "w3", progress=False)
    assert {r["question"] for r in result.results[0].records} <= {row.question for row in world.questions("train")}
    assert json.loads((tmp_path / "w3" / MANIFEST).read_text())["world_seed"] == 3
    with pytest.raises(ConfigError, match=r"other settings .*world_seed: 3 -> 4"):
        collect(ScriptedBatchAgent(), EvalConfig(EnvConfig(sim="bm25", dataset=make_world(seed=4)), limit=4), tmp_path / "w3", progress=False)


def test_warnings_name_an_engine_that_sees_the_answers_and_the_held_out_world():
    (corpus,) = collect_warnings(EvalConfig(EnvConfig(sim="corpus", split="train")))
    assert "not a real search engine" in corpus and "bm25" in corpus
    (test,) = collect_warnings(EvalConfig(EnvConfig(sim="bm25", split="test")))
    assert "held-out evaluation set" in test
    (seed0,) = collect_warnings(BM25, world_seeds=[0, 1])
    assert "evaluation world" in seed0 and "seeds >= 1" in seed0
    assert collect_warnings(BM25, world_seeds=[1, 2]) == [] and collect_warnings(BM25) == []


def test_world_seeds_need_the_synthetic_dataset_and_distinct_seeds(tmp_path):
    with pytest.raises(ConfigError, match="world_seeds plays synthetic worlds"):
        collection_legs(EvalConfig(EnvConfig(sim="bm25", dataset="questions.jsonl")), tmp_path, [1])
    with pytest.raises(ConfigError, match="distinct ints"):
        collection_legs(BM25, tmp_path, [1, 1])


def test_the_command_line_collects_then_labels_with_mixing(tmp_path, capsys):
    out = tmp_path / "collect"
    argv = ["simtune", "collect", "--out", str(out), "--world-seeds", "1", "2", "--limit", "8", "--topk", "1", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{out}/world-1: 8 episodes" in printed and "next: zerosearch simtune label" in printed
    assert json.loads((out / "world-2" / MANIFEST).read_text())["topk"] == 1

    examples = tmp_path / "labels" / "examples.jsonl"
    assert main(["simtune", "label", str(out), "--out", str(examples), "--labeller", "presence", "--noisy-share", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "outcome" in printed and "presence" in printed and f"wrote {examples}" in printed
    written = read_examples(examples)
    report = json.loads((examples.parent / "label_report.json").read_text())
    assert balance(written) == report["examples"] and report["mixed"]["made"] > 0
    assert report["engines"] == ["bm25"] and len(report["files"]) == 2
    assert abs(report["noisy_share"] - 0.5) < 0.05 or report["mixed"]["made"] == report["mixed"]["wanted"]
    assert {e.label for e in written} == {"presence", "mixed"} and all(len(e.documents) == 1 for e in written)


def test_the_command_line_reports_bad_labelling_settings(tmp_path, capsys):
    assert main(["simtune", "label", str(tmp_path), "--out", str(tmp_path / "e.jsonl"), "--labeller", "vibes"]) == 2
    assert "labeller expects" in capsys.readouterr().err
