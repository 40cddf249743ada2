"""The zerosearch command: demo, sims, world, eval (train has its own tests in tests/agents)."""

import json
import subprocess
import sys

import pytest

from zerosearch_env.cli import build_parser, main


def test_help_lists_every_subcommand_with_one_line():
    text = build_parser().format_help()
    for command in ("demo", "sims", "world"):
        assert f"    {command} " in text


def test_demo_runs_and_prints_summary(capsys):
    assert main(["demo", "--episodes", "6", "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "Question:" in out and "search engine [" in out
    assert "mean F1" in out and "0.00" in out and "0.50" in out


def test_console_script_demo_exits_zero():
    # The installed entry point, as a user runs it.
    out = subprocess.run([sys.executable, "-m", "zerosearch_env.cli", "demo", "--episodes", "3"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "noisy share" in out.stdout


def test_sims_lists_names_with_size_and_id(capsys):
    assert main(["sims"]) == 0
    out = capsys.readouterr().out
    assert "sft-7b" in out and "7B" in out and "sunhaonlp/Simulation_LLM_google_7B_V2" in out
    assert "wiki-sft-14b" in out and "prompt:<model>" in out and "openai" in out and "corpus" in out


def test_world_writes_the_frameworks_parquet(tmp_path, capsys):
    import pyarrow.parquet as pq

    from zerosearch_env.data import load_questions
    from zerosearch_env.worlds.synthetic import make_world

    assert main(["world", str(tmp_path / "w"), "--parquet"]) == 0
    for split, loop in (("train", "zerosearch"), ("test", "zerosearch_eval")):
        path = tmp_path / "w" / f"{split}.parquet"
        row = pq.read_table(path).slice(0, 1).to_pylist()[0]
        assert (row["agent_name"], row["env_class"], row["extra_info"]) == (loop, "zerosearch", {"index": 0, "split": split})
        assert row["reward_model"] == {"style": "rule", "ground_truth": {"target": row["golden_answers"]}}
        assert row["prompt"][0]["content"].endswith(f"Question: {row['question']}\n")
        assert [(q.question, q.golden_answers) for q in load_questions(path)] == [(q.question, q.golden_answers) for q in make_world().questions(split)]


def test_world_writes_files(tmp_path, capsys):
    assert main(["world", str(tmp_path / "w")]) == 0
    names = sorted(p.name for p in (tmp_path / "w").iterdir() if not p.name.startswith("."))  # .zerosearch.lock: the writer's lock
    assert names == ["corpus.jsonl", "test.jsonl", "train.jsonl"]


def test_a_world_is_never_written_over_another_unasked_nor_mixed_with_it(tmp_path, capsys):
    folder = tmp_path / "w"
    assert main(["world", str(folder), "--parquet", "--hotpotqa"]) == 0
    before = (folder / "test.jsonl").read_bytes()
    assert main(["world", str(folder), "--seed", "1"]) == 2
    assert "holds a world already" in capsys.readouterr().err and (folder / "test.jsonl").read_bytes() == before
    assert main(["world", str(folder), "--seed", "1", "--overwrite"]) == 0
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["corpus.jsonl", "test.jsonl", "train.jsonl"]  # no seed-0 parquet left
    assert (folder / "test.jsonl").read_bytes() != before


def test_bad_input_is_reported_without_traceback(capsys):
    assert main(["demo", "--episodes", "1", "--difficulties", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "zerosearch demo: error: noise_prob expects a probability in [0, 1], got 1.5" in err
    assert "Traceback" not in err


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


def test_the_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    import zerosearch_env
    from zerosearch_env.cli import main

    assert zerosearch_env.__version__ == version("zerosearch-env") != "0.0.0+unknown"
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"zerosearch-env {zerosearch_env.__version__}"
