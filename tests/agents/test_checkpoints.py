"""Checkpoints hold no pickle: tensors in safetensors, everything else in JSON, and resuming
reads nothing else, so a checkpoint folder from someone else cannot run code; resume stays exact."""

from __future__ import annotations

import json
import random
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from zerosearch_agents.checkpoints import latest_checkpoint
from zerosearch_agents.config import make_config
from zerosearch_agents.train import train

from .conftest import SMALL_RUN, train_on_two_processes, two_processes

SMALL = dict(SMALL_RUN, eval_split=None)
WARM = dict(bc_source="scripted", bc_steps=2, bc_batch_size=4)  # the reference becomes the warm start: it is saved

#: Every learner part a checkpoint can hold: the frozen reference copy (after a warm start,
#: with and without LoRA; LoRA without one uses its adapter-off base), PPO's value head and
#: critic model, the LoRA adapter.
LEARNERS = {
    "grpo-reference": dict(algo="grpo", kl_coef=0.01, **WARM),
    "ppo-value-head": dict(algo="ppo", critic="head", kl_coef=0.01),
    "ppo-critic-model": dict(algo="ppo", critic="model", kl_coef=0.0),
    "lora-reference": dict(algo="grpo", lora_r=4, kl_coef=0.01, **WARM),
    "lora-adapter-off": dict(algo="grpo", lora_r=4, kl_coef=0.01),
}
#: The module files of each: the policy's and these.
PARTS = {
    "grpo-reference": {"reference"},
    "ppo-value-head": {"reference", "value_head"},
    "ppo-critic-model": {"critic"},
    "lora-reference": {"reference"},
    "lora-adapter-off": set(),
}


class _Planted:
    """A pickle that, once unpickled, writes ``marker``: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('unpickled')",))


def _weights(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def _needs(learner):
    if learner.get("lora_r"):
        pytest.importorskip("peft")


@pytest.mark.parametrize("learner", sorted(LEARNERS))
def test_a_checkpoint_folder_holds_only_safetensors_and_json(tmp_path, learner):
    from safetensors import safe_open

    _needs(LEARNERS[learner])
    run = tmp_path / "run"
    train(make_config(**SMALL, **LEARNERS[learner], steps=2, checkpoint_every=1, out_dir=str(run)), progress=False)
    folders = sorted((run / "checkpoints").iterdir())
    assert [f.name for f in folders] == ["step_000001", "step_000002"]  # no partial folder left behind
    for folder in folders:
        files = sorted(folder.iterdir())
        assert files and all(f.suffix in (".safetensors", ".json") for f in files), [f.name for f in files]
        for f in files:
            if f.suffix == ".json":
                json.loads(f.read_text())
            else:
                with safe_open(str(f), framework="pt") as opened:
                    assert list(opened.keys()) or f.name.startswith("optimizer")
        modules = {f"{part}.safetensors" for part in PARTS[learner] | {"policy"}}
        rest = {"optimizer.safetensors", "optimizer.json", "scheduler.json", "rng.rank0.json", "trainer_state.json", "checkpoint.json"}
        assert {f.name for f in files} == modules | rest


def test_a_planted_pickle_is_never_unpickled_on_resume(tmp_path):
    """A pickle where accelerate's format kept the reference (read with weights_only=False)
    and the RNG states: resuming must not unpickle it, and must still resume."""
    run, marker = tmp_path / "run", tmp_path / "marker"
    cfg = dict(**SMALL, **LEARNERS["grpo-reference"], checkpoint_every=1, out_dir=str(run))
    train(make_config(**cfg, steps=1), progress=False)
    checkpoint = latest_checkpoint(run)
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl"):
        torch.save(_Planted(marker), checkpoint / name)
    try:
        train(make_config(**cfg, steps=2, resume=True), progress=False)
    finally:  # checked first, whether or not the resume then failed
        assert not marker.exists(), "resuming unpickled a file of the checkpoint folder"
    assert latest_checkpoint(run).name == "step_000002"


@pytest.mark.parametrize("learner", ["ppo-value-head", "ppo-critic-model", "lora-reference"])
def test_resume_is_exact_with_every_learner_part(tmp_path, learner):
    """Bit-identical policy weights after 1 + 1 steps and after 2 straight steps: the critic,
    the optimizer's moments of both parameter groups, the schedule and the reference came back."""
    _needs(LEARNERS[learner])
    legs = dict(**SMALL, **LEARNERS[learner], checkpoint_every=0, entropy_coef=0.01)
    train(make_config(**legs, steps=2, out_dir=str(tmp_path / "straight")), progress=False)
    train(make_config(**legs, steps=1, out_dir=str(tmp_path / "resumed")), progress=False)
    train(make_config(**legs, steps=2, resume=True, out_dir=str(tmp_path / "resumed")), progress=False)
    straight, resumed = _weights(tmp_path / "straight" / "final"), _weights(tmp_path / "resumed" / "final")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_resume_is_exact_when_the_update_draws_from_the_global_rng(tmp_path):
    """LoRA dropout draws from torch's global RNG during the update: without the RNG states
    of the checkpoint, the resumed step would drop other activations."""
    pytest.importorskip("peft")
    legs = dict(**SMALL, algo="grpo", lora_r=4, lora_dropout=0.5, kl_coef=0.01, entropy_coef=0.01, checkpoint_every=0)
    train(make_config(**legs, steps=2, out_dir=str(tmp_path / "straight")), progress=False)
    train(make_config(**legs, steps=1, out_dir=str(tmp_path / "resumed")), progress=False)
    train(make_config(**legs, steps=2, resume=True, out_dir=str(tmp_path / "resumed")), progress=False)
    straight, resumed = _weights(tmp_path / "straight" / "final"), _weights(tmp_path / "resumed" / "final")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_an_older_pickled_checkpoint_is_refused_unread(tmp_path):
    from zerosearch_agents.checkpoints import CheckpointError

    run, marker = tmp_path / "run", tmp_path / "marker"
    old = run / "checkpoints" / "step_000001"  # accelerate's save_state layout
    old.mkdir(parents=True)
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin"):
        torch.save(_Planted(marker), old / name)
    (old / "trainer_state.json").write_text(json.dumps({"step": 1, "eval_before": {}}))
    with pytest.raises(CheckpointError, match=r"has no checkpoint\.json.*pickles.*new --out-dir"):
        train(make_config(**SMALL, steps=2, resume=True, out_dir=str(run)), progress=False)
    assert not marker.exists()


def test_a_checkpoint_of_other_learner_parts_is_refused(tmp_path):
    from zerosearch_agents.checkpoints import CheckpointError

    cfg = dict(**SMALL, algo="ppo", kl_coef=0.0, out_dir=str(tmp_path / "run"))
    train(make_config(**cfg, critic="head", steps=1), progress=False)
    with pytest.raises(CheckpointError, match=r"holds the parts \['policy', 'value_head'\], this run has \['critic', 'policy'\]"):
        train(make_config(**cfg, critic="model", steps=2, resume=True), progress=False)


@pytest.fixture
def learner(tmp_path):
    from accelerate import Accelerator

    from zerosearch_agents.build import build_learner
    from zerosearch_agents.policy import build_tiny_policy

    path = build_tiny_policy(tmp_path / "policy", hidden_size=16, layers=1)
    built, _ = build_learner(make_config(**SMALL, algo="ppo", kl_coef=0.01), str(path), Accelerator(mixed_precision="no", cpu=True))
    return built


def test_the_rng_states_come_back(tmp_path, learner):
    from zerosearch_agents.checkpoints import load_checkpoint, save_checkpoint

    path = save_checkpoint(learner, tmp_path, 3, {"step": 3})
    draws = (random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist())
    assert load_checkpoint(learner, path) == {"step": 3}
    assert (random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()) == draws


def test_a_run_killed_while_saving_leaves_the_previous_checkpoint_the_latest(tmp_path, learner, monkeypatch):
    from zerosearch_agents import checkpoints

    checkpoints.save_checkpoint(learner, tmp_path, 1, {"step": 1})
    real = checkpoints._write_json

    def killed(path, values, indent=1):
        if path.name == checkpoints.MANIFEST:
            raise KeyboardInterrupt
        real(path, values, indent)

    monkeypatch.setattr(checkpoints, "_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_checkpoint(learner, tmp_path, 2, {"step": 2})
    assert latest_checkpoint(tmp_path).name == "step_000001"
    monkeypatch.setattr(checkpoints, "_write_json", real)
    checkpoints.save_checkpoint(learner, tmp_path, 2, {"step": 2})  # the partial folder is replaced
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_000001", "step_000002"]


SHARDED_RESUME = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from accelerate import Accelerator
    from torch.distributed.fsdp import fully_shard
    from zerosearch_agents.checkpoints import load_checkpoint, save_checkpoint
    from zerosearch_agents.config import make_config
    from zerosearch_agents.policy import forward_logprobs, load_policy
    from zerosearch_agents.update import Learner

    policy, out = sys.argv[1], Path(sys.argv[2])
    accelerator = Accelerator(cpu=True)  # gloo, one process group for fully_shard

    def sharded_learner():
        model, _ = load_policy(policy, dtype=torch.float32)
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 4))
        return Learner(make_config(), model, optimizer, scheduler, accelerator=accelerator)

    def step(learner):
        ids = torch.arange(2, 12).reshape(2, 5) + accelerator.process_index
        loss = -forward_logprobs(learner.model, ids, torch.ones_like(ids))["logprobs"].mean()
        loss.backward()
        learner.optimizer.step()
        learner.scheduler.step()
        learner.optimizer.zero_grad()

    def shards(learner):
        named = list(learner.model.named_parameters())
        assert all(hasattr(p, "full_tensor") for _, p in named)  # sharded
        state = learner.optimizer.state
        return [p.to_local().detach().clone() for _, p in named] + [state[p][k].to_local().clone() for _, p in named for k in ("exp_avg", "exp_avg_sq")]

    def same(a, b):
        return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))

    learner = sharded_learner()
    step(learner)
    saved = shards(learner)
    save_checkpoint(learner, out, 1, {"step": 1})
    step(learner)
    continued = shards(learner)
    fresh = sharded_learner()
    load_checkpoint(fresh, out / "checkpoints" / "step_000001")
    assert same(shards(fresh), saved)
    step(fresh)
    assert same(shards(fresh), continued)
    print("resumed its shards exactly on rank", accelerator.process_index, flush=True)
    import os
    os._exit(0)  # skip interpreter teardown, where gloo's threads can abort a finished process
    """
)


def _sharded_run(tmp_path, script_text: str):
    """Run ``script_text`` on two CPU processes with a tiny policy folder and a run folder
    (its arguments); the finished process and the checkpoint folder it saved at step 1."""
    from zerosearch_agents.policy import build_tiny_policy

    policy = build_tiny_policy(tmp_path / "policy", hidden_size=16, layers=2)
    script = tmp_path / "script.py"
    script.write_text(script_text)
    done = two_processes(str(script), str(policy), str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-3000:]
    return done, tmp_path / "run" / "checkpoints" / "step_000001"


def test_fsdp_shards_are_saved_per_process_and_resume_exactly(tmp_path):
    """Two CPU processes shard the policy with FSDP2 (gloo): each writes and reads back its
    own shard of the weights and of AdamW's moments; the next step equals the uninterrupted one."""
    done, folder = _sharded_run(tmp_path, SHARDED_RESUME)
    assert done.stdout.count("resumed its shards exactly") == 2
    assert {"policy.rank0.safetensors", "policy.rank1.safetensors", "optimizer.rank0.safetensors", "optimizer.rank1.safetensors"} <= {
        p.name for p in folder.iterdir()
    }
    assert sorted(json.loads((folder / "checkpoint.json").read_text())["sharded"]) == ["optimizer", "policy"]


def _torchrun(out_dir, *flags):
    done = train_on_two_processes(out_dir, "--questions-per-step", "4", "--eval-questions", "2", "--entropy-coef", "0.01", "--lr", "1e-3", *flags)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_data_parallel_processes_resume_exactly(tmp_path):
    """The main process writes the shared files once, each process its RNG states."""
    _torchrun(tmp_path / "straight", "--steps", "2")
    _torchrun(tmp_path / "resumed", "--steps", "1")
    folder = tmp_path / "resumed" / "checkpoints" / "step_000001"
    assert sorted(p.name for p in folder.glob("*.rank*")) == ["rng.rank0.json", "rng.rank1.json"]
    _torchrun(tmp_path / "resumed", "--steps", "2", "--resume", "true")
    straight, resumed = _weights(tmp_path / "straight" / "final"), _weights(tmp_path / "resumed" / "final")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


SHARDED_REFERENCE = textwrap.dedent(
    """
    import copy, sys
    from pathlib import Path
    import torch
    from accelerate import Accelerator
    from torch.distributed.fsdp import fully_shard
    from zerosearch_agents.build import shard_reference
    from zerosearch_agents.checkpoints import load_checkpoint, save_checkpoint
    from zerosearch_agents.config import make_config
    from zerosearch_agents.policy import forward_logprobs, load_policy
    from zerosearch_agents.update import Learner

    policy, out = sys.argv[1], Path(sys.argv[2])
    accelerator = Accelerator(cpu=True)
    model, _ = load_policy(policy, dtype=torch.float32)
    whole = copy.deepcopy(model).requires_grad_(False)
    ids = torch.arange(2, 12).reshape(2, 5)
    expected = forward_logprobs(whole, ids, torch.ones_like(ids))["logprobs"]

    reference = shard_reference(copy.deepcopy(whole))
    local = sum(p.to_local().numel() for p in reference.parameters())
    assert 0.4 < local / sum(p.numel() for p in whole.parameters()) < 0.6, local  # half of it on each of the 2 processes
    assert torch.allclose(forward_logprobs(reference, ids, torch.ones_like(ids))["logprobs"], expected, atol=1e-6)

    for layer in model.model.layers:  # the policy, sharded as FSDP2 shards it
        fully_shard(layer)
    fully_shard(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    reference.load_state_dict(model.state_dict())  # the warm start's weights reach the reference shard by shard
    trained = forward_logprobs(model, ids, torch.ones_like(ids))["logprobs"]
    assert torch.allclose(forward_logprobs(reference, ids, torch.ones_like(ids))["logprobs"], trained, atol=1e-6)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    learner = Learner(make_config(kl_coef=0.01), model, optimizer, ref_model=reference, accelerator=accelerator)
    save_checkpoint(learner, out, 1, {"step": 1})
    fresh = shard_reference(copy.deepcopy(whole))
    load_checkpoint(Learner(make_config(kl_coef=0.01), model, optimizer, ref_model=fresh, accelerator=accelerator), out / "checkpoints" / "step_000001")
    assert torch.allclose(forward_logprobs(fresh, ids, torch.ones_like(ids))["logprobs"], trained, atol=1e-6)
    print("sharded reference ok on rank", accelerator.process_index, flush=True)
    import os
    os._exit(0)
    """
)


def test_the_frozen_reference_is_sharded_loads_the_warm_start_and_resumes(tmp_path):
    """Under sharding: fsdp the KL reference is sharded over the processes (FSDP2, one
    group per layer): half of it on each of two CPU processes, the same log-probs as the
    whole model, the policy's sharded weights load into it, and a checkpoint restores it."""
    done, folder = _sharded_run(tmp_path, SHARDED_REFERENCE)
    assert done.stdout.count("sharded reference ok") == 2
    assert {"reference.rank0.safetensors", "reference.rank1.safetensors"} <= {p.name for p in folder.iterdir()}
