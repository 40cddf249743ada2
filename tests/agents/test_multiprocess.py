"""Two training processes on CPU (torchrun, gloo), as ``accelerate launch`` runs them on GPUs:
one run folder, written once; a batch that does not divide over them is refused. (How the
step's questions are dealt out is checked in ``train.draw_step``'s doctest.)"""

from __future__ import annotations

import json

import pytest

from .conftest import train_on_two_processes

pytest.importorskip("torch")
pytest.importorskip("accelerate")


def train(out_dir, *flags):
    return train_on_two_processes(out_dir, "--eval-questions", "4", "--steps", "2", *flags)


def test_two_processes_train_together_and_write_one_run_folder(tmp_path):
    done = train(tmp_path / "run", "--questions-per-step", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1]  # logged once, by the main process
    assert (tmp_path / "run" / "final" / "config.json").exists()
    assert done.stdout.count("run folder:") == 1


def test_questions_that_do_not_divide_over_the_processes_are_refused(tmp_path):
    done = train(tmp_path / "run", "--questions-per-step", "3")
    assert done.returncode != 0
    assert "questions_per_step (3) is a total over the training processes; make it a multiple of their number (2)" in done.stderr
