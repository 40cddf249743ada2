"""``zerosearch simtune run --preset cpu-demo``: every step chained, in a shortened run."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_the_cpu_preset_collects_labels_trains_and_measures(tmp_path, capsys):
    from zerosearch_env.cli import main

    out = tmp_path / "run"
    code = main(
        ["simtune", "run", "--preset", "cpu-demo", "--out", str(out), "--world-seeds", "1", "--eval-questions", "8", "--max-steps", "3", "--no-progress"]
    )
    printed = capsys.readouterr().out
    assert code == 0 and f"tuned simulator: {out / 'model'}" in printed
    assert (out / "collect" / "world-1" / "trajectories.jsonl").exists()
    report = json.loads((out / "labels" / "label_report.json").read_text())
    assert report["labeller"] == "presence"
    figures = json.loads((out / "figures.json").read_text())
    assert {"answer presence, useful", "leak, noisy", "scripted agent F1 with it, difficulty 0 / 1"} <= set(figures)
    card = (out / "model" / "README.md").read_text()
    assert "## Fidelity" in card and "| leak, noisy |" in card and "from scratch" in card
    fidelity = json.loads((out / "fidelity" / "fidelity.json").read_text())
    assert fidelity["settings"]["topk"] == 1 and fidelity["reference"]["engine"] == "bm25"
    # A second run resumes: nothing is collected, labelled or trained again.
    mtime = (out / "model" / "model.safetensors").stat().st_mtime
    assert main(["simtune", "run", "--preset", "cpu-demo", "--out", str(out), "--world-seeds", "1", "--eval-questions", "8", "--no-progress"]) == 0
    assert (out / "model" / "model.safetensors").stat().st_mtime == mtime


def test_simtune_train_from_the_command_line(tmp_path, capsys):
    from zerosearch_env.cli import main
    from zerosearch_env.simtune import SimExample, write_examples

    examples = [SimExample(f"q{i}", f"Question {i}?", (f"A{i}",), "useful" if i % 2 else "noisy", (f"Doc text {i}.",)) for i in range(6)]
    path = write_examples(examples, tmp_path / "examples.jsonl")
    code = main(["simtune", "train", "--examples", str(path), "--out-dir", str(tmp_path / "m"), "--max-steps", "2", "--tiny-hidden-size", "32",
                 "--tiny-layers", "1", "--tiny-vocab-size", "300", "--no-progress"])  # fmt: skip
    assert code == 0 and "trained" in capsys.readouterr().out
    assert (tmp_path / "m" / "generation_config.json").exists()
    assert main(["simtune", "train", "--examples", str(tmp_path / "none.jsonl"), "--out-dir", str(tmp_path / "x"), "--no-progress"]) == 2
