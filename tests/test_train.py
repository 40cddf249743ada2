"""The training loop end to end on the synthetic world: warm start, RL steps, logs,
checkpoints, exact resume, and the command line."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from zerosearch_agents.config import make_config  # noqa: E402
from zerosearch_agents.train import latest_checkpoint, train  # noqa: E402

SMALL = dict(
    policy="tiny", tiny_hidden_size=16, tiny_layers=1, questions_per_step=2, group_size=2, micro_batch_size=4,
    max_turns=1, topk=2, max_turn_tokens=12, max_obs_tokens=120, max_total_tokens=400, lr=1e-3,
    eval_questions=4, tensorboard=False, curriculum_steps=4,
)


def _weights(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def test_a_short_grpo_run_writes_logs_checkpoints_and_a_plot(tmp_path):
    cfg = make_config(**SMALL, steps=2, bc_source="scripted", bc_steps=2, bc_batch_size=4, checkpoint_every=1, out_dir=str(tmp_path / "run"))
    result = train(cfg, progress=False)
    run = tmp_path / "run"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 1]
    for key in ("reward", "f1", "em", "searches_per_episode", "noisy_share", "kl", "entropy", "clip_frac",
                "policy_tokens_per_episode", "update_tokens_per_s", "sim_prompt_tokens", "noise_prob"):
        assert key in lines[0], key
    assert (run / "reward_curve.png").exists() and (run / "final" / "config.json").exists()
    assert latest_checkpoint(run).name == "step_000002"
    assert set(result.eval_before) >= {"f1", "searches_per_episode"} and set(result.eval_after) >= {"f1"}


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = make_config(**SMALL, steps=4, eval_split=None, checkpoint_every=0, out_dir=str(tmp_path / "straight"))
    train(straight, progress=False)
    first_leg = make_config(**SMALL, steps=2, eval_split=None, checkpoint_every=0, out_dir=str(tmp_path / "resumed"))
    train(first_leg, progress=False)
    second_leg = make_config(**SMALL, steps=4, eval_split=None, checkpoint_every=0, resume=True, out_dir=str(tmp_path / "resumed"))
    train(second_leg, progress=False)
    a, b = _weights(tmp_path / "straight" / "final"), _weights(tmp_path / "resumed" / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3]


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_other_algorithms_run(tmp_path, algo):
    cfg = make_config(**{**SMALL, "group_size": 2}, algo=algo, steps=1, eval_split=None, out_dir=str(tmp_path / algo))
    result = train(cfg, progress=False)
    assert result.history and "loss" in result.history[0]


def test_cli_train_with_overrides(tmp_path, capsys):
    from zerosearch_env.cli import main

    args = ["train", "--preset", "cpu-demo", "--steps", "1", "--bc-steps", "1", "--questions-per-step", "2", "--group-size", "2",
            "--eval-questions", "2", "--tiny-hidden-size", "16", "--tiny-layers", "1", "--tensorboard", "false",
            "--out-dir", str(tmp_path / "cli")]
    assert main(args) == 0
    saved = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert saved["steps"] == 1 and saved["algo"] == "grpo" and saved["tensorboard"] is False
    assert "run folder" in capsys.readouterr().out


def test_cli_rejects_a_bad_config(capsys):
    from zerosearch_env.cli import main

    assert main(["train", "--algo", "grpo", "--group-size", "1"]) == 2
    assert "group_size >= 2" in capsys.readouterr().err


def test_lora_with_gradient_checkpointing_trains_only_the_adapter(tmp_path):
    pytest.importorskip("peft")
    cfg = make_config(**SMALL, steps=1, eval_split=None, lora_r=4, gradient_checkpointing=True, kl_coef=0.01,
                      out_dir=str(tmp_path / "lora"))
    result = train(cfg, progress=False)
    assert "kl" in result.history[0]  # the reference is the policy with its adapter switched off
    saved = {p.name for p in (tmp_path / "lora" / "final").iterdir()}
    assert "adapter_config.json" in saved
