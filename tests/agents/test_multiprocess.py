"""Two training processes on CPU (torchrun, gloo), as ``accelerate launch`` runs them on GPUs:
the step's questions are dealt out between them, gradients are averaged, one run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

TINY = (
    "--policy tiny --tiny-hidden-size 16 --tiny-layers 1 --group-size 2 --micro-batch-size 4 --max-turns 1 --topk 2 "
    "--max-turn-tokens 12 --max-obs-tokens 120 --max-total-tokens 400 --eval-questions 4 --tensorboard false "
    "--checkpoint-every 0 --steps 2"
).split()


def torchrun(out_dir, *flags):
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "zerosearch_agents.train", *TINY, "--out-dir", str(out_dir), *flags]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_share_the_steps_questions_and_write_one_run_folder(tmp_path):
    done = torchrun(tmp_path / "run", "--questions-per-step", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1]  # logged once, by the main process
    assert (tmp_path / "run" / "final" / "config.json").exists()
    assert done.stdout.count("run folder:") == 1


def test_questions_that_do_not_divide_over_the_processes_are_refused(tmp_path):
    done = torchrun(tmp_path / "run", "--questions-per-step", "3")
    assert done.returncode != 0
    assert "questions_per_step (3) is a total over the training processes; make it a multiple of their number (2)" in done.stderr
