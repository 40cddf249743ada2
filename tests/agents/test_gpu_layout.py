"""The GPU layout of a run, decided on CPU: `zerosearch train --plan`, the refusal of a plan
that cannot fit, FSDP's launch and its gathered weights for the rollout engine."""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from zerosearch_agents.config import PRESETS_DIR, make_config, preset_names
from zerosearch_agents.train import check_launch, main, refuse_unfit_plan
from zerosearch_env.errors import ConfigError

from .conftest import two_processes

GPU_PRESETS = [name for name in preset_names() if not name.startswith("cpu-")]


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_every_gpu_preset_fits_its_layout_of_eight_80_gb_gpus(preset, capsys):
    assert main(["--plan", "--preset", preset, "--gpus", "8", "--gpu-memory", "80"]) == 0
    out = capsys.readouterr().out
    assert "8 x 80 GiB, sharding fsdp" in out and "FITS: peak" in out


def test_a_plan_that_cannot_fit_exits_1_with_the_largest_items_and_the_fixes(capsys):
    assert main(["--plan", "--preset", "grpo_qwen7b", "--sharding", "none", "--gpus", "1", "--gpu-memory", "80"]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out and "AdamW states" in out and "lora_r: 64" in out and "sharding: fsdp" in out


def test_training_refuses_a_plan_that_cannot_fit_before_loading_any_model():
    with pytest.raises(ConfigError, match=r"does not fit 1 x 80 GiB \(memory_check: false runs it anyway\)(.|\n)*lora_r: 64"):
        refuse_unfit_plan(make_config("grpo_qwen7b", sharding="none"), gpus=1, gpu_memory_gib=80)
    refuse_unfit_plan(make_config("grpo_qwen7b", sharding="none", lora_r=64), gpus=1, gpu_memory_gib=80)  # fits: no error


def test_a_model_the_planner_cannot_size_is_let_through_with_a_note(capsys):
    refuse_unfit_plan(make_config(policy="someone/unknown-model"), gpus=1, gpu_memory_gib=80)
    assert "no memory plan: no shape for model 'someone/unknown-model'" in capsys.readouterr().err


def test_fsdp_needs_vllm_rollouts_and_an_fsdp_launch():
    from accelerate import Accelerator

    with pytest.raises(ValueError, match="sharding='fsdp' needs rollout_backend='vllm'"):
        make_config(sharding="fsdp", rollout_backend="hf")
    with pytest.raises(ConfigError, match=r"accelerate launch --config_file \S+fsdp.yaml"):
        check_launch(make_config(sharding="fsdp", rollout_backend="vllm"), Accelerator(cpu=True))


def test_the_shipped_fsdp_config_is_an_accelerate_fsdp2_config():
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(PRESETS_DIR / "accelerate" / "fsdp.yaml"))
    assert config.distributed_type == "FSDP" and config.fsdp_config["fsdp_version"] == 2


SHARDED_SYNC = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from zerosearch_agents.policy import load_policy
    from zerosearch_agents.vllm_generation import merged_weights

    dist.init_process_group("gloo")
    model, _ = load_policy(sys.argv[1], dtype=torch.float32)
    whole = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    assert any(hasattr(t, "full_tensor") for t in model.state_dict().values())  # sharded now
    with merged_weights(model) as weights:
        gathered = dict(weights)
    assert gathered.keys() == whole.keys(), sorted(set(gathered) ^ set(whole))
    assert all(torch.equal(gathered[name], whole[name]) for name in whole)
    print("gathered", len(gathered), "tensors on rank", dist.get_rank(), flush=True)
    dist.destroy_process_group()
    import os
    os._exit(0)  # skip interpreter teardown, where gloo's threads can abort a finished process
    """
)


def test_fsdp_sharded_weights_reach_the_rollout_engine_whole(tmp_path):
    """Two CPU processes shard the policy with FSDP2 (gloo); each gathers every tensor whole,
    as the vLLM weight sync does on GPUs."""
    from zerosearch_agents.policy import build_tiny_policy

    policy = build_tiny_policy(tmp_path / "policy", hidden_size=16, layers=2)
    script = tmp_path / "sharded_sync.py"
    script.write_text(SHARDED_SYNC)
    done = two_processes(str(script), str(policy))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("gathered") == 2
