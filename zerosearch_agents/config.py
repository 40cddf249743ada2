"""Training configuration: one dataclass, help on every field, checks in ``__post_init__``.

A config comes from a preset (``zerosearch_agents/configs/<name>.yaml``), a YAML file, or the
defaults, and command-line flags override any field (``--kl-coef 0.01``). The
environment's settings are the one :class:`~zerosearch_env.env_config.EnvConfig` that
``zerosearch eval`` uses too (``env`` here; flat keys such as ``sim: corpus`` in a YAML
file and ``--sim corpus`` on the command line go into it). The GPU presets follow the
reference's recipe item by item; each preset file says where it differs and why.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zerosearch_env.config_flags import add_flags, given, setting
from zerosearch_env.data import is_synthetic
from zerosearch_env.env_config import EnvConfig

PRESETS_DIR = Path(__file__).resolve().parent / "configs"
ALGOS = ("grpo", "ppo", "reinforce")
ENV_FIELDS = frozenset(f.name for f in dataclasses.fields(EnvConfig))


def training_env() -> EnvConfig:
    """The environment a run trains in unless told otherwise: the train split."""
    return EnvConfig(split="train")


@dataclass
class TrainConfig:
    """Everything one training run needs; ``zerosearch train --help`` lists the fields."""

    # -- algorithm and models
    algo: str = setting("grpo", "Policy-gradient algorithm: grpo (group-normalised advantages), ppo (critic + GAE) or reinforce.")
    policy: str = setting(
        "tiny",
        "Policy model: a hub id or local folder (e.g. Qwen/Qwen2.5-3B), a named model (smollm2-135m, see `zerosearch models list`), or 'tiny' for an in-process tiny Llama with a word-level tokenizer over the synthetic world (CPU demo).",
    )
    chat_template: str = setting(
        "auto", "Render the first prompt with the tokenizer's chat template: auto (when the tokenizer has one), on, off (base models)."
    )
    tiny_hidden_size: int = setting(64, "Width of the 'tiny' policy.")
    tiny_layers: int = setting(2, "Layers of the 'tiny' policy.")

    # -- environment (its split is the training split)
    env: EnvConfig = field(
        default_factory=training_env,
        metadata={"help": "The environment's settings (zerosearch_env.EnvConfig); its split is the training split."},
    )
    eval_split: str | None = setting("test", "Split used for the held-out evaluation (None: skip evaluation).")
    curriculum_start: float = setting(0.0, "Noise probability at step 0 (reference: 0).")
    curriculum_end: float = setting(0.5, "Noise probability from curriculum_steps on (reference: 0.5).")
    curriculum_steps: int | None = setting(None, "Steps over which the noise rises (None: the whole run).")
    curriculum_base: float = setting(4.0, "Base b of the exponential schedule; b > 1 rises slowly first (reference: 4).")

    # -- batch shape
    steps: int = setting(203, "Training steps (one rollout batch and its update each).")
    questions_per_step: int = setting(64, "Distinct questions per step over all training processes, each taking an equal share (reference: 64).")
    group_size: int = setting(5, "Rollouts per question: GRPO's group (reference: 5); 1 is usual for PPO.")
    micro_batch_size: int = setting(8, "Sequences per forward/backward; gradients accumulate up to mini_batch_size.")
    mini_batch_size: int | None = setting(
        None,
        "Trajectories per optimizer step over all training processes (None: the whole rollout batch, one step per epoch). Need not divide the rollout batch: 256 of 320 makes two steps, of 256 and 64 (the reference GRPO).",
    )
    ppo_epochs: int = setting(1, "Passes over each rollout batch.")

    # -- generation and length limits
    temperature: float = setting(1.0, "Sampling temperature of the policy during rollouts (> 0; greedy decoding is for evaluation).")
    top_p: float = setting(1.0, "Nucleus sampling of the policy during rollouts (reference: 0.95).")
    max_turn_tokens: int = setting(500, "New tokens per policy turn (reference: 500); a longer turn is cut and reported.")
    max_obs_tokens: int = setting(2048, "Tokens per observation (reference: 2048); longer documents are cut and reported.")
    max_total_tokens: int = setting(4096, "Tokens per episode, prompt included; an episode that hits it ends with reward 0.")
    rollout_backend: str = setting("hf", "Rollout generation: hf (transformers generate) or vllm (GPU; weights synced every step).")
    vllm_gpu_memory_utilization: float = setting(
        0.3, "Share of each GPU's total memory taken by the rollout vLLM engine (it must be free when the engine starts)."
    )
    vllm_sleep: bool = setting(
        True,
        "Put the vLLM engines to sleep during each update (the rollout engine, and an in-process vLLM simulator started with sim_kwargs enable_sleep_mode), so the learner has their GPU memory.",
    )
    memory_check: bool = setting(
        True, "On GPUs, refuse a configuration whose memory plan does not fit before any model is loaded (`zerosearch train --plan` prints the plan)."
    )
    sharding: str = setting(
        "none",
        "How the learner's weights, gradients and optimizer states sit on the GPUs: none (every process holds them all: data parallel) or fsdp (sharded over the processes; launch with accelerate's FSDP config, see docs/training.md).",
    )

    # -- optimisation
    lr: float = setting(1e-6, "Learning rate of the policy (reference: 1e-6).")
    lr_warmup_ratio: float = setting(
        0.0, "Share of the run's optimizer steps over which the policy's learning rate rises linearly from 0, then stays (reference: GRPO 0.95, PPO 0.285)."
    )
    critic_lr: float = setting(1e-5, "PPO: learning rate of the critic, its own parameter group (reference: 1e-5).")
    critic_lr_warmup_ratio: float = setting(0.015, "PPO: the critic's warm-up share, as lr_warmup_ratio (reference: 0.015).")
    weight_decay: float = setting(0.0, "AdamW weight decay.")
    max_grad_norm: float = setting(1.0, "Gradient clipping norm, applied to the policy and to the critic separately (0: off).")
    mixed_precision: str = setting("auto", "no, bf16, fp16, or auto (bf16 on a GPU that supports it, else no).")
    gradient_checkpointing: bool = setting(False, "Trade compute for memory in the policy's forward pass.")
    chunked_head: bool = setting(
        True,
        "Log-probs and entropy from the last hidden states, a chunk of tokens at a time, the backward recomputing each chunk: no [batch, tokens, vocabulary] logits (False: the whole logits tensor).",
    )
    lora_r: int = setting(
        0,
        "LoRA rank through peft (0: full fine-tuning). The KL reference is then the policy with its adapter off, or, after a warm start, a frozen copy of the warm start (merged).",
    )
    lora_alpha: int = setting(32, "LoRA alpha.")
    lora_dropout: float = setting(0.0, "LoRA dropout.")
    lora_target_modules: str = setting("all-linear", "LoRA target modules (peft syntax, comma-separated or all-linear).")

    # -- losses
    clip_eps: float = setting(0.2, "PPO/GRPO ratio clip.")
    clip_eps_high: float | None = setting(None, "Upper ratio clip when it differs from clip_eps (asymmetric clipping).")
    kl_coef: float = setting(0.001, "Weight of the KL to the frozen reference (reference: 0.001; 0 disables the reference model).")
    kl_in_reward: bool = setting(
        False, "Apply the KL as a per-token penalty on the reward (the reference's PPO, with kl_estimator k1) instead of a loss term (the reference's GRPO)."
    )
    kl_estimator: str = setting("low_var_kl", "KL estimator: low_var_kl (k3, reference), k1, k2/mse, abs.")
    loss_agg: str = setting(
        "token-mean",
        "Loss aggregation: token-mean (every policy token weighs the same), seq-mean-token-mean (every episode weighs the same), seq-mean-token-sum.",
    )
    entropy_coef: float = setting(0.0, "Entropy bonus weight.")
    gamma: float = setting(1.0, "PPO discount (reference: 1).")
    lam: float = setting(1.0, "PPO GAE lambda (reference: 1).")
    vf_coef: float = setting(0.5, "PPO value-loss weight.")
    value_clip_eps: float | None = setting(0.2, "PPO value clipping (None: off).")
    critic: str = setting("head", "PPO critic: head (a value head on the policy's trunk) or model (a separate copy of the policy with its own head).")
    reinforce_baseline: str = setting("group_mean", "REINFORCE baseline: none, batch_mean or group_mean (leave-one-out over the group).")
    ref_device: str = setting("same", "Where the frozen reference model runs: same (as the policy), cpu, or a device such as cuda:1.")

    # -- supervised warm start
    bc_source: str | None = setting(
        None,
        "Behaviour cloning before RL: 'scripted' (the scripted agent's trajectories on the training questions), a jsonl of {prompt, turns} trajectories, or None.",
    )
    bc_steps: int = setting(0, "Optimizer steps of behaviour cloning.")
    bc_lr: float = setting(1e-3, "Learning rate of behaviour cloning.")
    bc_batch_size: int = setting(16, "Trajectories per behaviour-cloning step.")
    bc_questions: int | None = setting(
        None, "Play the scripted demonstrations on the first N training questions only (None: every one); with an LLM simulator each costs its searches."
    )
    bc_no_search_share: float = setting(
        0.0, "Share of scripted demonstrations that answer without searching (a warm start that has not learned when to search)."
    )
    bc_keep_think: bool = setting(True, "Keep the <think> text of scripted demonstrations.")
    bc_swap_names: bool = setting(
        False,
        "Swap the synthetic world's invented names at random in each cloning batch (consistently within an episode), so the policy learns to copy names rather than memorise them.",
    )

    # -- evaluation, logging, checkpoints
    eval_every: int = setting(0, "Evaluate on held-out questions every k steps (0: only before and after).")
    eval_questions: int = setting(200, "Held-out questions per evaluation.")
    eval_difficulty: float = setting(0.0, "Noise probability during evaluation.")
    out_dir: str = setting("runs/train", "Run folder: metrics.jsonl, TensorBoard logs, checkpoints, plots.")
    checkpoint_every: int = setting(50, "Save a resumable checkpoint every k steps (0: only at the end).")
    resume: bool = setting(False, "Continue from the latest checkpoint in out_dir.")
    tensorboard: bool = setting(True, "Write TensorBoard logs to out_dir/tb.")
    wandb_project: str | None = setting(None, "Log to this Weights & Biases project (needs wandb installed).")
    seed: int = setting(0, "Seeds rollouts, questions, sampling and initialisation; same seed, same run.")
    torch_threads: int | None = setting(
        None,
        "CPU threads for torch (None: torch's default). On a 2-core machine shared with other jobs, 1 keeps a tiny model from stalling on thread contention.",
    )

    def __post_init__(self) -> None:
        def fail(message: str) -> None:
            raise ValueError(f"TrainConfig: {message}")

        if self.algo not in ALGOS:
            fail(f"algo expects one of {ALGOS}, got {self.algo!r}")
        if not isinstance(self.env, EnvConfig):
            fail(f"env expects an EnvConfig, got {type(self.env).__name__}")
        for name in ("steps", "questions_per_step", "group_size", "micro_batch_size", "ppo_epochs", "max_turn_tokens", "max_obs_tokens", "max_total_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                fail(f"{name} expects a positive int, got {value!r}")
        if self.algo == "grpo" and self.group_size < 2:
            fail("grpo normalises rewards within a group of rollouts: set group_size >= 2 (reference: 5)")
        if self.algo == "reinforce" and self.reinforce_baseline == "group_mean" and self.group_size < 2:
            fail("reinforce_baseline='group_mean' needs group_size >= 2; use 'batch_mean' or 'none' with one rollout per question")
        if self.reinforce_baseline not in ("none", "batch_mean", "group_mean"):
            fail(f"reinforce_baseline expects none, batch_mean or group_mean, got {self.reinforce_baseline!r}")
        if self.mini_batch_size is not None and (not isinstance(self.mini_batch_size, int) or self.mini_batch_size < 1):
            fail(f"mini_batch_size expects a positive int or None, got {self.mini_batch_size!r}")
        if not self.temperature > 0:
            fail(f"temperature expects a value > 0 for training rollouts, got {self.temperature!r}; greedy decoding is for evaluation (zerosearch eval)")
        if not 0.0 < self.top_p <= 1.0:
            fail(f"top_p expects a value in (0, 1], got {self.top_p!r}")
        for name in ("lr_warmup_ratio", "critic_lr_warmup_ratio"):
            if not 0.0 <= getattr(self, name) < 1.0:
                fail(f"{name} expects a share of the run in [0, 1), got {getattr(self, name)!r}")
        if not 0.0 <= self.curriculum_start <= 1.0 or not 0.0 <= self.curriculum_end <= 1.0:
            fail("curriculum_start and curriculum_end are probabilities in [0, 1]")
        if not 0.0 <= self.eval_difficulty <= 1.0 or not 0.0 <= self.bc_no_search_share <= 1.0:
            fail("eval_difficulty and bc_no_search_share are probabilities in [0, 1]")
        if self.lr <= 0 or self.bc_lr <= 0 or self.critic_lr <= 0:
            fail("lr, critic_lr and bc_lr must be positive")
        if self.kl_coef < 0:
            fail(f"kl_coef must be >= 0, got {self.kl_coef}")
        from .losses import KL_ESTIMATORS, LOSS_AGGREGATIONS

        if self.kl_estimator not in KL_ESTIMATORS:
            fail(f"kl_estimator expects one of {KL_ESTIMATORS}, got {self.kl_estimator!r}")
        if self.loss_agg not in LOSS_AGGREGATIONS:
            fail(f"loss_agg expects one of {LOSS_AGGREGATIONS}, got {self.loss_agg!r}")
        if self.chat_template not in ("auto", "on", "off"):
            fail(f"chat_template expects auto, on or off, got {self.chat_template!r}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            fail(f"mixed_precision expects auto, no, bf16 or fp16, got {self.mixed_precision!r}")
        if self.rollout_backend not in ("hf", "vllm"):
            fail(f"rollout_backend expects hf or vllm, got {self.rollout_backend!r}")
        if self.sharding not in ("none", "fsdp"):
            fail(f"sharding expects none or fsdp, got {self.sharding!r}")
        if self.sharding == "fsdp" and self.rollout_backend != "vllm":
            fail(
                "sharding='fsdp' needs rollout_backend='vllm': generating with the sharded policy itself would run a "
                "different number of forward passes on each process, and their weight gathers would wait for each other forever"
            )
        if not 0.0 < self.vllm_gpu_memory_utilization < 1.0:
            fail(f"vllm_gpu_memory_utilization expects a share in (0, 1), got {self.vllm_gpu_memory_utilization!r}")
        if self.critic not in ("head", "model"):
            fail(f"critic expects head or model, got {self.critic!r}")
        if self.bc_questions is not None and (isinstance(self.bc_questions, bool) or self.bc_questions < 1):
            fail(f"bc_questions expects a number of training questions >= 1 (None: every one), got {self.bc_questions!r}")
        if self.bc_steps and self.bc_source is None:
            fail("bc_steps > 0 needs bc_source ('scripted' or a trajectories jsonl)")
        if self.bc_swap_names and not is_synthetic(self.env.dataset):
            fail("bc_swap_names swaps the invented names of the synthetic world; set it only with dataset: synthetic")
        if self.lora_r < 0:
            fail(f"lora_r must be >= 0, got {self.lora_r}")

    @property
    def rollout_batch(self) -> int:
        """Episodes per step: questions_per_step x group_size."""
        return self.questions_per_step * self.group_size

    def process_questions(self, processes: int) -> int:
        """Questions of each of ``processes`` training processes in a step (mini-batches split the same way)."""
        for name in ("questions_per_step", "mini_batch_size"):
            value = getattr(self, name)
            if value is not None and value % processes:
                raise ValueError(f"TrainConfig: {name} ({value}) is a total over the training processes; make it a multiple of their number ({processes})")
        return self.questions_per_step // processes

    @property
    def optimizer_steps_per_step(self) -> int:
        """Optimizer steps of one training step: epochs x mini-batches (the last may be smaller)."""
        return self.ppo_epochs * -(-self.rollout_batch // (self.mini_batch_size or self.rollout_batch))

    @property
    def total_curriculum_steps(self) -> int:
        return self.curriculum_steps or self.steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_yaml(path_or_preset: str | Path) -> dict[str, Any]:
    """Fields from a YAML file, or from the preset of that name."""
    import yaml

    path = Path(path_or_preset)
    if not path.exists():
        preset = PRESETS_DIR / f"{path_or_preset}.yaml"
        if not preset.exists():
            raise ValueError(f"no config file or preset named {str(path_or_preset)!r}; presets: {', '.join(preset_names())}")
        path = preset
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expects a mapping of TrainConfig fields, got {type(data).__name__}")
    return data


def make_config(base: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A config from a preset or YAML file (or the defaults), with overrides on top.

    The environment's settings may come flat (``sim="bm25"``) or as an ``env`` mapping.

    >>> make_config("cpu-demo", steps=3).steps
    3
    >>> make_config("cpu-demo", topk=2).env.topk
    2
    """
    values: dict[str, Any] = load_yaml(base) if base is not None else {}
    env_values: dict[str, Any] = vars(training_env())
    for source in (values, overrides):
        section = source.get("env") or {}
        if isinstance(section, EnvConfig):
            section = vars(section)
        if not isinstance(section, dict):
            raise ValueError(f"env expects a mapping of environment settings, got {type(section).__name__}")
        env_values.update(section)
        env_values.update({k: v for k, v in source.items() if k in ENV_FIELDS})
    values = {k: v for k, v in {**values, **overrides}.items() if k != "env" and k not in ENV_FIELDS}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown TrainConfig fields {unknown}; see `zerosearch train --help`")
    return TrainConfig(env=EnvConfig.from_mapping(env_values, "TrainConfig.env"), **values)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field-name`` flag per TrainConfig and EnvConfig field, with its help and default."""
    add_flags(parser, TrainConfig, "training config (overrides the preset/config file)")
    add_flags(parser, EnvConfig, "environment (overrides the preset/config file; the same flags as zerosearch eval)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config named by ``--preset``/``--config`` with every given flag on top."""
    overrides = {**given(args, TrainConfig), **given(args, EnvConfig)}
    base = getattr(args, "config", None) or getattr(args, "preset", None)
    return make_config(base, **overrides)
