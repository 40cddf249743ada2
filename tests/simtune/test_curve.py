"""Snapshots during ``simtune train`` and ``zerosearch simtune curve``: fidelity over training time."""

import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_env.cli import main
from zerosearch_env.errors import ConfigError
from zerosearch_env.simtune import write_examples
from zerosearch_env.simtune.curve import curve_folders, measure_curve
from zerosearch_env.simtune.train import SimTuneConfig, train_simulator
from zerosearch_env.testing import simtune_examples

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def snapshotted(tmp_path_factory):
    """A small simulator trained 40 steps with two snapshots, both due at once (the first step)."""
    folder = tmp_path_factory.mktemp("curve")
    examples = write_examples(simtune_examples() * 4, folder / "examples.jsonl")
    cfg = SimTuneConfig(
        examples=str(examples), out_dir=str(folder / "model"), model="tiny", tiny_hidden_size=32, tiny_layers=1, tiny_vocab_size=400,
        max_steps=40, learning_rate=3e-3, batch_size=8, eval_share=0, torch_threads=1, snapshot_minutes=[1e-4, 1e-6],
    )  # fmt: skip
    return train_simulator(cfg, progress=False)


def test_snapshots_are_loadable_folders_taken_in_order_while_training_goes_on(snapshotted):
    import torch
    from transformers import AutoModelForCausalLM

    points = curve_folders(snapshotted.out_dir)
    assert [name for name, *_ in points] == ["00-min-1e-06", "01-min-0.0001", "final"]  # sorted by minutes, the final folder last
    steps = [step for *_, step in points]
    assert steps[0] <= steps[1] < steps[2] == 40
    first = AutoModelForCausalLM.from_pretrained(points[0][1]).state_dict()
    final = AutoModelForCausalLM.from_pretrained(snapshotted.out_dir).state_dict()
    assert any(not torch.equal(first[name], final[name]) for name in final)  # training went on after the snapshot
    info = json.loads((points[0][1] / "snapshot.json").read_text())
    assert info["due_minutes"] == 1e-6 and info["step"] == steps[0]
    assert (points[0][1] / "generation_config.json").is_file() and (points[0][1] / "chat_template.jinja").is_file()


def test_the_curve_scores_every_point_and_a_second_call_resumes(snapshotted, tmp_path):
    kwargs = {"max_new_tokens": 40, "temperature": 0.0}
    points = measure_curve(snapshotted.out_dir, tmp_path, limit=3, sim_kwargs=kwargs, progress=False)
    assert [p.name for p in points] == ["00-min-1e-06", "01-min-0.0001", "final"]
    assert all(p.searches == 6 and 0 <= p.leak[0] <= 1 and p.presence[1] <= p.presence[0] <= p.presence[2] for p in points)
    saved = json.loads((tmp_path / "curve.json").read_text())
    assert [p["name"] for p in saved["points"]] == ["00-min-1e-06", "01-min-0.0001", "final"] and saved["settings"]["sim_kwargs"] == kwargs
    assert (tmp_path / "curve.png").stat().st_size > 1000 and "| final |" in (tmp_path / "curve.md").read_text()
    searches = sorted((tmp_path / "points").rglob("searches/*.jsonl"))
    before = [f.read_text() for f in searches]
    assert (
        main(["simtune", "curve", str(snapshotted.out_dir), "--out", str(tmp_path), "--limit", "3", "--sim-kwargs", json.dumps(kwargs), "--no-progress"]) == 0
    )
    assert [f.read_text() for f in searches] == before  # every search was kept: nothing asked again


def test_bad_curve_inputs_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="simulator folder written by zerosearch simtune train"):
        curve_folders(tmp_path)
    with pytest.raises(ConfigError, match="snapshot_minutes expects minutes of training > 0"):
        SimTuneConfig(snapshot_minutes=[0])
