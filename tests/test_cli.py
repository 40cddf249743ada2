import subprocess
import sys

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


def test_world_writes_files(tmp_path, capsys):
    assert main(["world", str(tmp_path / "w")]) == 0
    names = sorted(p.name for p in (tmp_path / "w").iterdir())
    assert names == ["corpus.jsonl", "test.jsonl", "train.jsonl"]


def test_bad_input_is_reported_without_traceback(capsys):
    assert main(["demo", "--episodes", "1", "--difficulties", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "zerosearch demo: error: noise_prob expects a probability in [0, 1], got 1.5" in err
    assert "Traceback" not in err
