"""The training loop end to end on the synthetic world: warm start, RL steps, logs,
checkpoints, exact resume, and the command line."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from zerosearch_agents.checkpoints import latest_checkpoint
from zerosearch_agents.config import make_config
from zerosearch_agents.train import train

from .conftest import SMALL_RUN

SMALL = dict(SMALL_RUN)


def _weights(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def test_a_short_grpo_run_writes_logs_checkpoints_and_a_plot(tmp_path):
    cfg = make_config(**SMALL, steps=2, bc_source="scripted", bc_steps=2, bc_batch_size=4, checkpoint_every=1, out_dir=str(tmp_path / "run"))
    result = train(cfg, progress=False)
    run = tmp_path / "run"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 1]
    for key in (
        "reward",
        "f1",
        "em",
        "searches_per_episode",
        "noisy_share",
        "kl",
        "entropy",
        "clip_frac",
        "policy_tokens_per_episode",
        "update_tokens_per_s",
        "sim_prompt_tokens",
        "noise_prob",
    ):
        assert key in lines[0], key
    assert (run / "reward_curve.png").exists() and (run / "final" / "config.json").exists()
    assert json.loads((run / "final" / "zerosearch_policy.json").read_text())["chat_template"] == "off"  # the tiny tokenizer has none
    assert latest_checkpoint(run).name == "step_000002"
    assert set(result.eval_before) >= {"f1", "searches_per_episode"} and set(result.eval_after) >= {"f1"}


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    # entropy_coef: a gradient on every step even when no episode earns a reward, so the second
    # step depends on the first one's weights, optimizer moments and KL reference
    legs = dict(**SMALL, eval_split=None, checkpoint_every=0, entropy_coef=0.01)
    train(make_config(**legs, steps=2, out_dir=str(tmp_path / "straight")), progress=False)
    run = tmp_path / "resumed"
    train(make_config(**legs, steps=1, out_dir=str(run)), progress=False)
    first_log, after_one = (run / "metrics.jsonl").read_text(), _weights(run / "final")
    train(make_config(**legs, steps=2, resume=True, out_dir=str(run)), progress=False)
    straight, after_two = _weights(tmp_path / "straight" / "final"), _weights(run / "final")
    assert all(torch.equal(straight[k], after_two[k]) for k in straight)
    initial = _weights(run / "tiny-init")
    assert not all(torch.equal(initial[k], after_one[k]) for k in initial), "the first step left the weights as they were"
    assert not all(torch.equal(after_one[k], after_two[k]) for k in after_one), "the resumed step left the weights as they were"
    log = (run / "metrics.jsonl").read_text()
    assert log.startswith(first_log), "the resumed run rewrote the first leg's log: it started from scratch"
    assert [json.loads(line)["step"] for line in log.splitlines()] == [0, 1]


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_other_algorithms_run(tmp_path, algo):
    cfg = make_config(**{**SMALL, "group_size": 2}, algo=algo, steps=1, eval_split=None, out_dir=str(tmp_path / algo))
    result = train(cfg, progress=False)
    assert result.history and "loss" in result.history[0]


def test_cli_train_with_overrides(tmp_path, capsys):
    from zerosearch_env.cli import main

    args = [
        "train",
        "--preset",
        "cpu-demo",
        "--steps",
        "1",
        "--bc-steps",
        "1",
        "--questions-per-step",
        "2",
        "--group-size",
        "2",
        "--eval-questions",
        "2",
        "--tiny-hidden-size",
        "16",
        "--tiny-layers",
        "1",
        "--tensorboard",
        "false",
        "--out-dir",
        str(tmp_path / "cli"),
    ]
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
    cfg = make_config(**SMALL, steps=1, eval_split=None, lora_r=4, gradient_checkpointing=True, kl_coef=0.01, out_dir=str(tmp_path / "lora"))
    result = train(cfg, progress=False)
    assert "kl" in result.history[0]  # the reference is the policy with its adapter switched off
    saved = {p.name for p in (tmp_path / "lora" / "final").iterdir()}
    assert "adapter_config.json" in saved


def test_a_run_killed_between_a_logged_step_and_its_checkpoint_resumes_without_duplicates(tmp_path):
    run = tmp_path / "run"
    cfg = dict(**SMALL, eval_split=None, out_dir=str(run))
    train(make_config(**cfg, steps=3, checkpoint_every=2), progress=False)
    # Killed after logging step 2 and before the checkpoint of step 3: the latest checkpoint is step 2.
    import shutil

    shutil.rmtree(run / "checkpoints" / "step_000003")
    with (run / "metrics.jsonl").open("a") as log:
        log.write('{"step": 3, "rew')  # and a line cut short by the kill
    train(make_config(**cfg, steps=4, checkpoint_every=2, resume=True), progress=False)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3]


def test_a_bf16_checkpoint_trains_in_fp32(tmp_path):
    """transformers keeps a checkpoint's dtype; AdamW steps of lr 1e-6 vanish in bf16."""
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM

    from zerosearch_agents.build import build_learner
    from zerosearch_agents.policy import build_tiny_policy

    path = build_tiny_policy(tmp_path / "fp32", hidden_size=16, layers=1)
    AutoModelForCausalLM.from_pretrained(path).to(torch.bfloat16).save_pretrained(path)
    assert AutoModelForCausalLM.from_pretrained(path).dtype == torch.bfloat16
    cfg = make_config(**SMALL, algo="ppo", critic="model", kl_coef=0.001)
    learner, _ = build_learner(cfg, str(path), Accelerator(mixed_precision="no", cpu=True))
    trainable = learner.policy_parameters() + learner.critic_parameters()
    assert trainable and all(p.dtype == torch.float32 for p in trainable)


def test_with_lora_the_reference_is_the_warm_start_not_the_base_model(tmp_path):
    pytest.importorskip("peft")
    from accelerate import Accelerator

    from zerosearch_agents.build import build_learner
    from zerosearch_agents.policy import build_tiny_policy, forward_logprobs
    from zerosearch_agents.warm_start import warm_start

    path = build_tiny_policy(tmp_path / "policy", hidden_size=16, layers=1)
    cfg = make_config(**SMALL, lora_r=4, kl_coef=0.01, bc_source="scripted", bc_steps=3, bc_lr=1e-1, bc_batch_size=4)
    learner, tokenizer = build_learner(cfg, str(path), Accelerator(mixed_precision="no", cpu=True))
    assert isinstance(learner.ref_model, torch.nn.Module)
    warm_start(cfg, learner, tokenizer, chat=False, progress=False)
    ids = torch.tensor([tokenizer("Question: Who founded Karvex Mills ?")["input_ids"]])
    attention = torch.ones_like(ids)
    with torch.no_grad():
        policy = forward_logprobs(learner.model, ids, attention)["logprobs"]
        reference = forward_logprobs(learner.ref_model, ids, attention)["logprobs"]
        with learner.model.disable_adapter():
            base = forward_logprobs(learner.model, ids, attention)["logprobs"]
    assert torch.allclose(reference, policy, atol=1e-5)  # the KL starts at 0 after the warm start
    assert not torch.allclose(reference, base, atol=1e-3)  # the adapter-off base is not the reference
