"""Two training processes on CPU (torchrun, gloo), as ``accelerate launch`` runs them on GPUs:
one run folder, written once; a batch that does not divide over them is refused. (How the
step's questions are dealt out is checked in ``train.draw_step``'s doctest.)"""

from __future__ import annotations

import json

import pytest

from zerosearch_env.evaluation.cost import read_sim_usage

from .conftest import TINY_RUN_FLAGS, train_on_two_processes

pytest.importorskip("torch")
pytest.importorskip("accelerate")


def train(out_dir, *flags):
    return train_on_two_processes(out_dir, "--eval-questions", "4", "--steps", "2", *flags)


def test_two_processes_train_together_and_write_one_run_folder(tmp_path):
    done = train(tmp_path / "run", "--questions-per-step", "4", "--bc-source", "scripted", "--bc-steps", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1]  # logged once, by the main process
    assert all(r["episodes"] == 4 * 2 for r in records)  # the curves cover both processes' episodes, not process 0's 4
    kind, usage = read_sim_usage(tmp_path / "run")  # written by the main process, summed over both
    assert kind == "train" and usage[0].searches == sum(r["sim_searches"] for r in records)
    warm = next(u for u in usage if u.sim == "corpus (warm-start demonstrations)")
    assert warm.searches == 2 * _scripted_demonstration_searches()  # each process played every demonstration
    assert (tmp_path / "run" / "final" / "config.json").exists()
    assert done.stdout.count("run folder:") == 1


def _scripted_demonstration_searches() -> int:
    """The searches of the scripted warm start of the tiny run, in one process."""
    from zerosearch_agents.config import config_from_args
    from zerosearch_agents.train import build_parser
    from zerosearch_agents.warm_start import scripted_demonstrations

    cfg = config_from_args(build_parser().parse_args([*TINY_RUN_FLAGS, "--bc-source", "scripted", "--bc-steps", "1"]))
    played = []
    scripted_demonstrations(cfg.env.env_kwargs(difficulty=cfg.curriculum_start), no_search_share=cfg.bc_no_search_share,
                            seed=cfg.seed, on_played=played.append)  # fmt: skip
    return played[0].sim_requests


def test_questions_that_do_not_divide_over_the_processes_are_refused(tmp_path):
    done = train(tmp_path / "run", "--questions-per-step", "3")
    assert done.returncode != 0
    assert "questions_per_step (3) is a total over the training processes; make it a multiple of their number (2)" in done.stderr


def test_two_processes_train_a_lora_policy_with_a_kl_term(tmp_path):
    """The KL reference of a LoRA policy is the policy with its adapter off; under data
    parallel the model is wrapped, and the adapter must be switched off on the model inside."""
    done = train(tmp_path / "run", "--questions-per-step", "2", "--lora-r", "4", "--kl-coef", "0.01", "--bc-steps", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1] and all("kl" in r for r in records)
