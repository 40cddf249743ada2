"""The GPU memory plan: exact where it can be (parameters, gradients and AdamW states,
checked against real models and a real optimizer step), and the verdicts a user acts on
(does it fit, which phase overflows, what to change)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from zerosearch_agents.config import make_config, preset_names
from zerosearch_agents.memory_plan import GIB, PHASES, model_shape, plan_memory
from zerosearch_env.errors import ConfigError


def nbytes(plan, name: str) -> float:
    """An item of the plan in bytes (GiB are bytes / 2**30, exact in a float)."""
    return plan.item(name).gib * GIB


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    pytest.importorskip("transformers")
    from zerosearch_env.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("plan") / "m")


def load(path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def adamw_step(model) -> object:
    """One AdamW step on a random batch: every trainable parameter gets a gradient and its
    two moments."""
    import torch

    ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    optimizer.step()
    return optimizer


def adam_state_bytes(optimizer) -> int:
    return tensor_bytes(t for state in optimizer.state.values() for key, t in state.items() if key in ("exp_avg", "exp_avg_sq"))


# ----------------------------------------------------------------------------- exact arithmetic


def test_weights_gradients_and_adamw_states_are_those_of_a_real_optimizer_step(tiny_llama):
    model = load(tiny_llama)
    assert model_shape(tiny_llama).parameters == sum(p.numel() for p in model.parameters())
    plan = plan_memory(make_config(policy=str(tiny_llama), kl_coef=0.0))
    optimizer = adamw_step(model)
    assert nbytes(plan, "weights") == tensor_bytes(model.parameters())  # fp32
    assert nbytes(plan, "gradients") == tensor_bytes(p.grad for p in model.parameters())
    assert nbytes(plan, "AdamW states") == adam_state_bytes(optimizer)


def test_with_lora_only_the_adapters_train_and_the_frozen_base_stays_in_fp32(tiny_llama):
    pytest.importorskip("peft")
    from zerosearch_env.lora import add_lora

    model = add_lora(load(tiny_llama), r=4, target_modules="all-linear")
    trainable = [p for p in model.parameters() if p.requires_grad]
    plan = plan_memory(make_config(policy=str(tiny_llama), lora_r=4, kl_coef=0.0))
    assert model_shape(tiny_llama).lora_parameters(4) == sum(p.numel() for p in trainable)
    optimizer = adamw_step(model)
    assert nbytes(plan, "weights") == tensor_bytes(model.parameters())  # base + adapters, all fp32
    assert nbytes(plan, "gradients") == tensor_bytes(p.grad for p in trainable)
    assert nbytes(plan, "AdamW states") == adam_state_bytes(optimizer)


def _qwen2(path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    Qwen2ForCausalLM(config).save_pretrained(path)  # the model only: no Qwen tokenizer
    return 2 * (32 + 2 * 2 * 8)  # q, k, v biases of two layers (head_dim 8)


def _llama_with_head_dim(path):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
    LlamaForCausalLM(config).save_pretrained(path)
    return 0


@pytest.mark.parametrize("build", [_qwen2, _llama_with_head_dim])
def test_config_json_gives_the_exact_count_qwen2_biases_and_head_dim_included(tmp_path, build):
    pytest.importorskip("transformers")
    biases = build(tmp_path)
    shape = model_shape(tmp_path)
    assert shape.parameters == sum(p.numel() for p in load(tmp_path).parameters())
    assert shape.attention_bias == (biases > 0)  # Qwen2 has q/k/v biases without an attention_bias key
    assert replace(shape, attention_bias=False).parameters == shape.parameters - biases


@pytest.mark.parametrize(("hub_id", "expected"), [("Qwen/Qwen2.5-3B", 3.09e9), ("Qwen/Qwen2.5-7B", 7.62e9), ("Qwen/Qwen2.5-14B", 14.77e9)])
def test_the_builtin_table_matches_the_released_sizes(hub_id, expected):
    assert model_shape(hub_id).parameters == pytest.approx(expected, rel=0.01)
    assert model_shape(hub_id + "-Instruct") == model_shape(hub_id)


def test_the_simulators_have_the_shape_of_the_qwen_instruct_models():
    assert model_shape("sunhaonlp/Simulation_LLM_google_7B_V2") == model_shape("Qwen/Qwen2.5-7B-Instruct")
    assert model_shape("sunhaonlp/Simulation_LLM_wiki_14B_V2") == model_shape("Qwen/Qwen2.5-14B-Instruct")


def test_an_unknown_model_or_architecture_says_what_to_pass(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.json"):
        model_shape("someone/unknown-model-7B")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ConfigError, match="Llama, Mistral and Qwen2"):
        model_shape(tmp_path)


# ----------------------------------------------------------------------------- the plan


@pytest.mark.parametrize("gpus", [1, 8])
@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_has_a_plan_that_names_each_phase(preset, gpus):
    plan = plan_memory(make_config(preset), gpus=gpus, gpu_memory_gib=80)
    text = plan.format()
    assert all(phase in text for phase in PHASES)
    assert ("FITS" if plan.fits else "DOES NOT FIT") in text
    assert plan.peak_gib == max(plan.phases.values()) > 0
    json.dumps(plan.to_dict())


def test_the_cpu_demo_fits_easily():
    plan = plan_memory(make_config("cpu-demo"))
    assert plan.fits and plan.peak_gib < 5


def test_full_fine_tuning_of_7b_on_one_gpu_does_not_fit_and_lora_or_fsdp_is_the_advice():
    full = plan_memory(make_config("grpo_qwen7b", sharding="none"), gpus=1, gpu_memory_gib=80)
    assert not full.fits
    assert nbytes(full, "AdamW states") == 7_615_616_512 * 8
    advice = full.advice()
    assert any("lora_r" in a for a in advice[:2]) and any("fsdp" in a for a in advice[:2])  # the two largest

    lora = plan_memory(make_config("grpo_qwen7b", lora_r=64), gpus=1, gpu_memory_gib=80)
    assert nbytes(lora, "AdamW states") == 161_480_704 * 8  # peft's count for r=64 on all linears of Qwen2.5-7B
    assert lora.item("reference").gib == 0  # the policy with its adapter off
    assert full.peak_gib - lora.peak_gib > 60  # AdamW states and gradients of 7.6B parameters
    assert lora.fits  # the 1-GPU layout of the README

    fsdp = plan_memory(make_config("grpo_qwen7b", sharding="fsdp"), gpus=8, gpu_memory_gib=80)
    for name in ("weights", "gradients", "AdamW states", "reference"):
        assert fsdp.item(name).gib == pytest.approx(full.item(name).gib / 8)
    assert full.peak_gib - fsdp.peak_gib > 60  # seven eighths of the weights, gradients, AdamW states and reference
    assert fsdp.fits  # the preset's own layout


def test_engine_shares_above_95_percent_never_fit_whatever_the_learner(tiny_llama):
    def plan(rollout_share: float, sim_share: float):
        cfg = make_config(policy=str(tiny_llama), rollout_backend="vllm", vllm_gpu_memory_utilization=rollout_share,
                          sim="sft-3b", sim_backend="vllm", sim_kwargs={"gpu_memory_utilization": sim_share})  # fmt: skip
        return plan_memory(cfg, gpu_memory_gib=80)

    crowded, roomy = plan(0.5, 0.5), plan(0.3, 0.5)
    assert crowded.phases["engines start"] > 0.95 * 80 and not crowded.fits
    assert any("sim: openai" in a for a in crowded.advice())
    assert roomy.phases["engines start"] < 0.95 * 80 and roomy.fits


def test_sleeping_engines_give_their_memory_back_during_the_update():
    awake = plan_memory(make_config("grpo_qwen3b", vllm_sleep=False))
    sleeping = plan_memory(make_config("grpo_qwen3b"))  # the preset: both engines sleep
    assert awake.phases["rollout"] == sleeping.phases["rollout"]
    assert awake.phases["update"] - sleeping.phases["update"] == pytest.approx((0.25 + 0.3) * 80)
    simulator_awake = make_config("grpo_qwen3b", sim_kwargs={"gpu_memory_utilization": 0.3})
    assert any("enable_sleep_mode" in a for a in plan_memory(simulator_awake, gpus=1).advice())


@pytest.mark.parametrize(
    ("overrides", "reference_bytes"),
    [
        ({}, 3_085_938_688 * 2),  # a frozen bf16 copy
        ({"mixed_precision": "no"}, 3_085_938_688 * 4),
        ({"ref_device": "cpu"}, 0),
        ({"kl_coef": 0.0}, 0),
        ({"lora_r": 16}, 0),  # the policy with its adapter off
        ({"lora_r": 16, "bc_steps": 10, "bc_source": "scripted"}, 3_085_938_688 * 2),  # a copy of the warm start
    ],
)
def test_where_the_reference_lives(overrides, reference_bytes):
    assert nbytes(plan_memory(make_config("grpo_qwen3b", **overrides)), "reference") == reference_bytes


def test_a_ppo_critic_model_is_a_second_trained_copy_and_a_head_is_almost_free():
    n, hidden = 3_085_938_688, 2048
    model = plan_memory(make_config("ppo_qwen3b"))
    head = plan_memory(make_config("ppo_qwen3b", critic="head"))
    assert nbytes(model, "AdamW states") == (2 * n + hidden + 1) * 8
    assert nbytes(head, "AdamW states") == (n + hidden + 1) * 8
    assert nbytes(model, "activations") == 2 * nbytes(head, "activations")


@pytest.mark.parametrize("sim", ["corpus", "bm25", "openai", "retriever:http://127.0.0.1:8000/retrieve"])
def test_retrievers_and_served_simulators_cost_this_gpu_nothing(sim):
    assert plan_memory(make_config("grpo_qwen3b", sim=sim, sim_backend=None, sim_kwargs={})).item("simulator").gib == 0


def test_a_transformers_simulator_holds_bf16_weights_and_a_kv_cache_while_it_generates():
    plan = plan_memory(make_config("grpo_qwen3b", sim="sft-3b", sim_backend="hf", sim_kwargs={"batch_size": 8}))
    assert nbytes(plan, "simulator weights (hf)") == 3_085_938_688 * 2
    kv_per_token = 2 * 36 * 2 * 128 * 2  # k and v, 36 layers, 2 kv heads of 128, bf16
    assert nbytes(plan, "simulator cache (hf)") == 8 * ((200 + 600) * kv_per_token + 151_936 * 4)
    assert plan.item("simulator cache (hf)").phases == ("rollout",)


def test_checkpointing_keeps_one_hidden_state_per_layer():
    tokens, layer = 16 * 4096, 2 * (6 * 2048 + 2 * 256 + 4 * 11008)  # Qwen2.5-3B (micro-batch 16), bf16
    on = plan_memory(make_config("grpo_qwen3b"))
    off = plan_memory(make_config("grpo_qwen3b", gradient_checkpointing=False))
    assert nbytes(on, "activations") == tokens * (36 * 2048 * 2 + layer)
    assert nbytes(off, "activations") == tokens * 36 * layer
    assert nbytes(on, "logits") == 441 * 151_936 * (2 * 2 + 12) < 2 * 2**30  # one chunk of the head: never the whole [16, 4096, 151,936]


def test_largest_lists_the_biggest_items_first():
    plan = plan_memory(make_config("grpo_qwen7b"))
    top = plan.largest(3)
    assert [i.gib for i in top] == sorted((i.gib for i in plan.items), reverse=True)[:3]
    assert top[0].name == "AdamW states"


@pytest.mark.parametrize(("gpus", "memory"), [(0, 80.0), (1, 0.0), (1.5, 80.0)])
def test_gpus_and_memory_are_checked(gpus, memory):
    with pytest.raises(ConfigError):
        plan_memory(make_config("grpo_qwen3b"), gpus=gpus, gpu_memory_gib=memory)
