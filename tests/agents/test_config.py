"""TrainConfig: presets, YAML files, command-line overrides and the checks that say how to fix a config."""

from __future__ import annotations

import argparse

import pytest

from zerosearch_agents.config import TrainConfig, add_config_arguments, config_from_args, make_config, preset_names


def test_every_preset_loads_and_the_gpu_presets_match_the_reference():
    assert set(preset_names()) >= {"cpu-demo", "cpu-smol-policy", "grpo_qwen3b", "grpo_qwen7b", "ppo_qwen3b", "ppo_qwen7b"}
    for name in preset_names():
        make_config(name)
    for size in ("3b", "7b"):
        grpo = make_config(f"grpo_qwen{size}")
        assert (grpo.group_size, grpo.lr, grpo.kl_coef, grpo.kl_estimator, grpo.kl_in_reward) == (5, 1e-6, 0.001, "low_var_kl", False)
        assert (grpo.questions_per_step, grpo.max_turn_tokens, grpo.max_obs_tokens) == (64, 500, 2048)
        assert (grpo.curriculum_start, grpo.curriculum_end, grpo.curriculum_base) == (0.0, 0.5, 4.0)
        assert (grpo.lr_warmup_ratio, grpo.top_p, grpo.entropy_coef) == (0.95, 0.95, 0.001)
        assert (grpo.rollout_batch, grpo.mini_batch_size, grpo.optimizer_steps_per_step) == (320, 256, 2)
        ppo = make_config(f"ppo_qwen{size}")
        assert (ppo.algo, ppo.gamma, ppo.lam, ppo.critic, ppo.group_size) == ("ppo", 1.0, 1.0, "model", 5)
        assert (ppo.kl_in_reward, ppo.kl_estimator, ppo.kl_coef, ppo.value_clip_eps) == (True, "k1", 0.001, 0.5)
        assert (ppo.lr, ppo.lr_warmup_ratio, ppo.critic_lr, ppo.critic_lr_warmup_ratio, ppo.top_p) == (1e-6, 0.285, 1e-5, 0.015, 0.95)
    assert make_config("reinforce_qwen3b").reinforce_baseline == "none"
    assert make_config("ppo_qwen7b").policy == "Qwen/Qwen2.5-7B"


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("algo: reinforce\nreinforce_baseline: batch_mean\ngroup_size: 1\nsteps: 7\n")
    cfg = make_config(path, steps=9)
    assert (cfg.algo, cfg.steps, cfg.group_size) == ("reinforce", 9, 1)


def test_command_line_flags_parse_with_the_field_types():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset")
    add_config_arguments(parser)
    args = parser.parse_args(
        ["--preset", "cpu-demo", "--kl-coef", "0.01", "--tensorboard", "false", "--sim-backend", "none", "--steps", "3",
         "--sim-kwargs", '{"base_urls": ["http://gpu1:6001/v1"]}']
    )  # fmt: skip
    cfg = config_from_args(args)
    assert (cfg.kl_coef, cfg.tensorboard, cfg.env.sim_backend, cfg.steps, cfg.policy) == (0.01, False, None, 3, "tiny")
    assert cfg.env.sim_kwargs == {"base_urls": ["http://gpu1:6001/v1"]}
    assert (cfg.env.topk, cfg.env.max_turns, cfg.env.split) == (1, 3, "train")  # the preset's, untouched by absent flags


def test_environment_settings_are_one_env_config_given_flat_or_as_a_section(tmp_path):
    from zerosearch_env.env_config import EnvConfig

    flat = tmp_path / "flat.yaml"
    flat.write_text("sim: bm25\ntopk: 3\nsteps: 2\n")
    nested = tmp_path / "nested.yaml"
    nested.write_text("env:\n  sim: bm25\n  topk: 3\nsteps: 2\n")
    assert make_config(flat).env == make_config(nested).env == EnvConfig(sim="bm25", topk=3, split="train")
    assert make_config(nested, topk=4).env.topk == 4  # a flat override wins over the file's section
    with pytest.raises(ValueError, match="unknown environment settings"):
        make_config(env={"simulator": "bm25"})


def test_every_field_has_help():
    import dataclasses

    assert all(f.metadata.get("help") for f in dataclasses.fields(TrainConfig))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"algo": "dqn"}, "algo expects one of"),
        ({"algo": "grpo", "group_size": 1}, "group_size >= 2"),
        ({"steps": 0}, "steps expects a positive int"),
        ({"kl_estimator": "k9"}, "kl_estimator expects one of"),
        ({"loss_agg": "sum"}, "loss_agg expects one of"),
        ({"mini_batch_size": 0}, "mini_batch_size expects a positive int"),
        ({"bc_steps": 10}, "needs bc_source"),
        ({"curriculum_end": 1.5}, "probabilities in [0, 1]"),
        ({"nonsense": 1}, "unknown TrainConfig fields"),
        ({"topk": 0}, "EnvConfig.topk expects an int >= 1"),
        ({"temperature": 0.0}, "temperature expects a value > 0 for training rollouts"),
        ({"lr_warmup_ratio": 1.0}, "lr_warmup_ratio expects a share of the run"),
        ({"bc_swap_names": True, "dataset": "questions.jsonl"}, "set it only with dataset: synthetic"),
    ],
)
def test_bad_configs_say_what_to_fix(overrides, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_config(**overrides)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match=r"presets: .*cpu-demo"):
        make_config("no-such-preset")
