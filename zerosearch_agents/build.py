"""Building a run's parts: the learner (policy, LoRA, reference, critic, optimizer and
schedule, on accelerate) and the engine that generates its rollouts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import TrainConfig

if TYPE_CHECKING:
    from .generation import HFGenerator
    from .update import Learner
    from .vllm_generation import VLLMGenerator


def build_learner(cfg: TrainConfig, policy_path: str, accelerator: Any) -> tuple[Learner, Any]:
    """Policy (with LoRA if asked), reference, critic, optimizer and scheduler, from the
    policy's folder or hub id; returns ``(learner, tokenizer)``."""
    import torch

    from .policy import load_policy

    # Trainable weights in fp32 whatever the checkpoint's dtype (transformers keeps a bf16
    # checkpoint in bf16, where AdamW steps of lr 1e-6 round to nothing); mixed precision
    # casts the compute.
    model, tokenizer = load_policy(policy_path, dtype=torch.float32)
    return assemble_learner(cfg, model, accelerator), tokenizer


def assemble_learner(cfg: TrainConfig, model: Any, accelerator: Any) -> Learner:
    """The learner around a policy already in memory (fp32): reference, LoRA, critic,
    optimizer and scheduler, prepared by ``accelerator``."""
    import torch

    from .policy import Critic, ValueHead
    from .update import Learner

    critic_trunk = copy.deepcopy(model) if cfg.algo == "ppo" and cfg.critic == "model" else None
    if cfg.gradient_checkpointing:  # renamed activation checkpointing in newer transformers
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    ref_model: Any = None
    if cfg.kl_coef > 0 and cfg.lora_r and not cfg.bc_steps:
        ref_model = "adapter-off"  # the reference is the base model: the policy with its adapter off
    elif cfg.kl_coef > 0:
        # A frozen copy, taken before LoRA wraps the model; after a warm start it is given
        # the warm start's (merged) weights (see warm_start.warm_start). Frozen, so it may
        # stay in the compute dtype.
        ref_dtype = torch.bfloat16 if accelerator.mixed_precision == "bf16" else torch.float32
        ref_model = copy.deepcopy(model).to(ref_dtype).eval().requires_grad_(False)
    if cfg.lora_r:
        from zerosearch_env.lora import add_lora

        targets = cfg.lora_target_modules if cfg.lora_target_modules == "all-linear" else cfg.lora_target_modules.split(",")
        model = add_lora(model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets)
    value_head = critic = None
    if cfg.algo == "ppo":
        if cfg.critic == "head":
            value_head = ValueHead(model.config.hidden_size)
        else:
            critic = Critic(critic_trunk)
    modules = [m for m in (model, value_head, critic) if m is not None]
    optimizer, scheduler = make_optimizer(cfg, model, value_head or critic, fused=accelerator.device.type == "cuda")
    prepared = accelerator.prepare(*modules, optimizer, scheduler)
    model, *rest = prepared
    value_head = rest.pop(0) if value_head is not None else None
    critic = rest.pop(0) if critic is not None else None
    optimizer, scheduler = rest
    if isinstance(ref_model, torch.nn.Module):
        device = accelerator.device if cfg.ref_device == "same" else torch.device(cfg.ref_device)
        ref_model = ref_model.to(device)  # saved by checkpoints.save_checkpoint: after a warm start it is not the initial model
        if cfg.sharding == "fsdp" and cfg.ref_device == "same" and accelerator.num_processes > 1:
            ref_model = shard_reference(ref_model)
    return Learner(cfg, model, optimizer, scheduler, ref_model, value_head, critic, accelerator)


def make_optimizer(cfg: TrainConfig, policy: Any, critic: Any = None, *, fused: bool = False) -> tuple[Any, Any]:
    """AdamW with the policy and the critic (value head or critic model) as separate
    parameter groups, each with its own learning rate and linear warm-up, then constant
    (the reference's schedule: the learning rate is 0 on the first warm-up step).

    ``fused`` (on GPUs) steps every tensor in one kernel: no temporary the size of the
    optimizer's state, which the default multi-tensor step allocates (28 GiB at 7B)."""
    import torch

    groups = [{"params": [p for p in policy.parameters() if p.requires_grad], "lr": cfg.lr}]
    ratios = [cfg.lr_warmup_ratio]
    if critic is not None:
        groups.append({"params": [p for p in critic.parameters() if p.requires_grad], "lr": cfg.critic_lr})
        ratios.append(cfg.critic_lr_warmup_ratio)
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay, fused=fused or None)
    total = cfg.steps * cfg.optimizer_steps_per_step
    schedules = [warmup_then_constant(int(ratio * total)) for ratio in ratios]
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedules)


def warmup_then_constant(warmup_steps: int) -> Callable[[int], float]:
    """The learning-rate factor at optimizer step ``s``: ``s / warmup_steps``, then 1.

    >>> [warmup_then_constant(4)(s) for s in range(6)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    >>> warmup_then_constant(0)(0)
    1.0
    """
    return lambda step: min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0


def make_generator(cfg: TrainConfig, learner: Any, tokenizer: Any, policy_path: str) -> HFGenerator | VLLMGenerator:
    """The rollout engine: the learner's own model (hf), or a vLLM engine on this
    process's GPU whose context is the episode token limit (vllm)."""
    if cfg.rollout_backend == "vllm":
        from zerosearch_env.vllm_engine import Placement

        from .vllm_generation import VLLMGenerator

        accelerator = learner.accelerator
        placement = Placement(accelerator.process_index, accelerator.local_process_index, accelerator.num_processes)
        return VLLMGenerator(
            policy_path,
            tokenizer,
            placement=placement,
            gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            max_model_len=cfg.max_total_tokens,
            sleep_mode=cfg.vllm_sleep,
            seed=cfg.seed,
        )
    from .generation import HFGenerator

    return HFGenerator(learner.accelerator.unwrap_model(learner.model), tokenizer)


def shard_reference(ref_model: Any) -> Any:
    """The frozen reference sharded over the processes with FSDP2, one group per decoder
    layer as the policy's: each GPU holds 1/N of it, and its forward gathers a layer at a
    time (5.7 GiB a GPU at 3B unsharded, 14.2 at 7B). Its parameters shard as the
    policy's do, so the warm start's weights load into it shard by shard."""
    from torch.distributed.fsdp import fully_shard

    from .head_logprobs import causal_lm

    lm: Any = causal_lm(ref_model)
    for layer in getattr(lm, lm.base_model_prefix).layers:
        fully_shard(layer, reshard_after_forward=True)
    fully_shard(ref_model, reshard_after_forward=True)
    return ref_model
