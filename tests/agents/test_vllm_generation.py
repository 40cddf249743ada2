"""Rollouts on vLLM: engine arguments per rank, LoRA weight sync, a sync before every
evaluation, sleep around every update. On CPU against a recording stand-in for vLLM that
generates with transformers (``tests/fake_vllm.py``); the last test runs the real engine
on a GPU machine."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from zerosearch_agents.config import make_config
from zerosearch_agents.generation import HFGenerator, Sampling
from zerosearch_agents.policy import build_tiny_policy, load_policy
from zerosearch_agents.vllm_generation import VLLMGenerator
from zerosearch_env.import_utils import cuda_device_count, is_vllm_available
from zerosearch_env.vllm_engine import Placement

from .conftest import SMALL_RUN

SMALL = dict(SMALL_RUN, lr=1e-2, checkpoint_every=0)


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    return build_tiny_policy(tmp_path_factory.mktemp("policy") / "tiny", hidden_size=16, layers=1)


def perturbed(model, seed=1):
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


def contexts(tokenizer):
    return [tokenizer(f"Question : Who founded company {i} ?")["input_ids"] for i in range(3)]


def test_the_rollout_engine_is_placed_per_rank_with_the_episode_limit_as_context(fake_vllm, tiny_policy):
    _model, tokenizer = load_policy(tiny_policy)
    VLLMGenerator(str(tiny_policy), tokenizer, placement=Placement(1, 1, 2), max_model_len=400, sleep_mode=True, seed=3)
    (engine,) = fake_vllm.engines
    assert engine.kwargs["distributed_executor_backend"] == "external_launcher" and engine.kwargs["seed"] == 4
    assert engine.kwargs["max_model_len"] == 400 and engine.kwargs["enable_sleep_mode"] is True
    assert engine.kwargs["logprobs_mode"] == "processed_logprobs"  # after temperature, as the learner recomputes


def test_synced_weights_give_the_transformers_generators_greedy_turns(fake_vllm, tiny_policy):
    model, tokenizer = load_policy(tiny_policy, dtype=torch.float32)
    perturbed(model)
    vllm = VLLMGenerator(str(tiny_policy), tokenizer)
    vllm.sync_weights(model)
    expected = HFGenerator(model, tokenizer).generate(contexts(tokenizer), [10, 10, 3], Sampling(0.0))
    turns = vllm.generate(contexts(tokenizer), [10, 10, 3], Sampling(0.0))
    assert [t.token_ids for t in turns] == [t.token_ids for t in expected]
    assert [t.stop for t in turns] == [t.stop for t in expected] and turns[2].stop == "length"
    for turn, twin in zip(turns, expected):
        assert turn.logprobs == pytest.approx(twin.logprobs)


def test_a_lora_policy_is_loaded_merged_under_the_base_models_names(fake_vllm, tiny_policy):
    pytest.importorskip("peft")
    from zerosearch_env.lora import add_lora

    model, tokenizer = load_policy(tiny_policy, dtype=torch.float32)
    base_names = set(model.state_dict())
    policy = add_lora(model, r=4, target_modules="all-linear", init_lora_weights=False)
    ids = torch.tensor(contexts(tokenizer)[:1])
    before = policy(input_ids=ids).logits
    vllm = VLLMGenerator(str(tiny_policy), tokenizer)
    vllm.sync_weights(policy)
    engine = fake_vllm.engines[0]
    assert set(engine.engine_model.loaded) == base_names  # no base_model.* prefix, no lora_ tensors
    expected = _merged_copy(policy)
    for name, tensor in engine.model.state_dict().items():
        assert torch.allclose(tensor, expected[name], atol=1e-6), name
    assert torch.allclose(policy(input_ids=ids).logits, before, atol=1e-5)  # unmerged again after the copy


def _merged_copy(policy):
    """peft's own merge, on a copy (the policy stays a peft model)."""
    import copy

    return copy.deepcopy(policy).merge_and_unload().state_dict()


def test_training_syncs_before_every_evaluation_and_sleeps_through_every_update(fake_vllm, tmp_path, monkeypatch):
    import zerosearch_agents.train as train_module

    runs, checks = [], []
    set_up, evaluate = train_module.set_up, train_module.evaluate
    monkeypatch.setattr(train_module, "set_up", lambda cfg: runs.append(set_up(cfg)) or runs[-1])

    def checked_evaluate(envs, generator, *args, **kwargs):
        learner_weights = runs[0].accelerator.unwrap_model(runs[0].learner.model).state_dict()
        engine_weights = generator.engine.model.state_dict()
        checks.append(all(torch.equal(engine_weights[name], tensor) for name, tensor in learner_weights.items()))
        return evaluate(envs, generator, *args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", checked_evaluate)
    cfg = make_config(**SMALL, steps=3, eval_every=1, bc_source="scripted", bc_steps=2, bc_batch_size=4, rollout_backend="vllm", out_dir=str(tmp_path / "run"))
    train_module.train(cfg, progress=False)
    assert checks == [True] * 4  # before RL (after the warm start), after steps 1 and 2, after the last step
    (engine,) = fake_vllm.engines
    sleeps = [call for call in engine.calls if call[0] in ("sleep", "wake_up")]
    assert sleeps == [("sleep", 2), ("wake_up", None)] * 3  # level 2: the next sync reloads every weight
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2]


@pytest.mark.skipif(not (is_vllm_available() and cuda_device_count() > 0), reason="needs the vllm package and a CUDA GPU")
def test_real_vllm_engine_matches_transformers_greedy_turns_after_a_sync(tmp_path):
    """GPU only: the real engine, a tiny Llama with head size 64, perturbed weights synced."""
    from zerosearch_env.testing import build_tiny_llama

    path = build_tiny_llama(tmp_path / "policy", hidden_size=256)
    model, tokenizer = load_policy(path, dtype=torch.float32)
    perturbed(model, seed=2)
    vllm = VLLMGenerator(str(path), tokenizer, gpu_memory_utilization=0.2, max_model_len=1024, dtype="float32")
    vllm.sync_weights(model)
    model = model.cuda()
    expected = HFGenerator(model, tokenizer).generate(contexts(tokenizer), [24, 24, 24], Sampling(0.0))
    turns = vllm.generate(contexts(tokenizer), [24, 24, 24], Sampling(0.0))
    assert [t.token_ids for t in turns] == [t.token_ids for t in expected]


def test_the_evaluation_env_shares_the_training_simulators_engine(fake_vllm, tmp_path):
    from zerosearch_agents.train import set_up
    from zerosearch_env.testing import build_tiny_llama

    simulator = build_tiny_llama(tmp_path / "sim")
    run = set_up(make_config(**SMALL, sim=str(simulator), sim_backend="vllm", sim_kwargs={"gpu_memory_utilization": 0.4}, out_dir=str(tmp_path / "run")))
    assert run.eval_envs is not None and run.eval_envs.simulator is run.envs.simulator
    (engine,) = fake_vllm.engines  # one simulator engine, not one per environment
    assert engine.kwargs["gpu_memory_utilization"] == 0.4  # sim_kwargs reach it from the training config
