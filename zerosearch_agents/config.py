"""Training configuration: one dataclass, help on every field, checks in ``__post_init__``.

A config comes from a preset (``zerosearch_agents/configs/<name>.yaml``), a YAML file, or the
defaults, and command-line flags override any field (``--kl-coef 0.01``). The GPU
presets follow the reference's hyper-parameters (GRPO: 5 rollouts per question, lr
1e-6, KL coef 0.001 with the low-variance estimator, 64 questions per step, 500 tokens
per turn, 2048 per observation; PPO: GAE with gamma = lambda = 1 and a critic).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRESETS_DIR = Path(__file__).resolve().parent / "configs"
ALGOS = ("grpo", "ppo", "reinforce")


def _help(default: Any, text: str) -> Any:
    """A field with its default and its help line (shown by ``zerosearch train --help``)."""
    return field(default=default, metadata={"help": text})


@dataclass
class TrainConfig:
    """Everything one training run needs; ``zerosearch train --help`` lists the fields."""

    # -- algorithm and models
    algo: str = _help("grpo", "Policy-gradient algorithm: grpo (group-normalised advantages), ppo (critic + GAE) or reinforce.")
    policy: str = _help("tiny", "Policy model: a hub id or local folder (e.g. Qwen/Qwen2.5-3B), or 'tiny' for an in-process tiny Llama with a word-level tokenizer over the synthetic world (CPU demo).")
    chat_template: str = _help("auto", "Render the first prompt with the tokenizer's chat template: auto (when the tokenizer has one), on, off (base models).")
    tiny_hidden_size: int = _help(64, "Width of the 'tiny' policy.")
    tiny_layers: int = _help(2, "Layers of the 'tiny' policy.")

    # -- environment
    sim: str = _help("corpus", "Simulator name (corpus, sft-3b, sft-7b, sft-14b, wiki-sft-7b, prompt:<model>, openai) or a model folder.")
    sim_backend: str | None = _help(None, "Simulator backend for LLM simulators: vllm, hf or openai (default: vllm with a GPU, else hf).")
    dataset: str = _help("synthetic", "Training questions: 'synthetic', a parquet/jsonl file or folder, or a Hugging Face id.")
    split: str | None = _help("train", "Split of the dataset to train on (None: every row of a file).")
    eval_split: str | None = _help("test", "Split used for the held-out evaluation (None: skip evaluation).")
    corpus: str | None = _help(None, "Corpus jsonl for sim=corpus when the dataset is not synthetic.")
    prompt_template: str | None = _help(None, "Policy prompt with a {question} field for every row (None: the dataset's prompt or the ZeroSearch template).")
    topk: int = _help(5, "Documents per search.")
    max_turns: int = _help(5, "Search rounds per episode before the answer turn is forced.")
    curriculum_start: float = _help(0.0, "Noise probability at step 0 (reference: 0).")
    curriculum_end: float = _help(0.5, "Noise probability from curriculum_steps on (reference: 0.5).")
    curriculum_steps: int | None = _help(None, "Steps over which the noise rises (None: the whole run).")
    curriculum_base: float = _help(4.0, "Base b of the exponential schedule; b > 1 rises slowly first (reference: 4).")

    # -- batch shape
    steps: int = _help(203, "Training steps (one rollout batch and its update each).")
    questions_per_step: int = _help(64, "Distinct questions per step (reference: 64).")
    group_size: int = _help(5, "Rollouts per question: GRPO's group (reference: 5); 1 is usual for PPO.")
    micro_batch_size: int = _help(8, "Sequences per forward/backward; gradients accumulate up to mini_batch_size.")
    mini_batch_size: int | None = _help(None, "Sequences per optimizer step (None: the whole rollout batch, one step per epoch).")
    ppo_epochs: int = _help(1, "Passes over each rollout batch.")

    # -- generation and length limits
    temperature: float = _help(1.0, "Sampling temperature of the policy during rollouts.")
    top_p: float = _help(1.0, "Nucleus sampling of the policy during rollouts.")
    max_turn_tokens: int = _help(500, "New tokens per policy turn (reference: 500); a longer turn is cut and reported.")
    max_obs_tokens: int = _help(2048, "Tokens per observation (reference: 2048); longer documents are cut and reported.")
    max_total_tokens: int = _help(4096, "Tokens per episode, prompt included; an episode that hits it ends with reward 0.")
    rollout_backend: str = _help("hf", "Rollout generation: hf (transformers generate) or vllm (GPU; weights synced every step).")
    vllm_gpu_memory_utilization: float = _help(0.3, "GPU memory share of the rollout vLLM engine.")

    # -- optimisation
    lr: float = _help(1e-6, "Learning rate (reference: 1e-6).")
    warmup_steps: int = _help(0, "Linear learning-rate warm-up, in optimizer steps.")
    weight_decay: float = _help(0.0, "AdamW weight decay.")
    max_grad_norm: float = _help(1.0, "Gradient clipping norm (0: off).")
    mixed_precision: str = _help("auto", "no, bf16, fp16, or auto (bf16 on a GPU that supports it, else no).")
    gradient_checkpointing: bool = _help(False, "Trade compute for memory in the policy's forward pass.")
    lora_r: int = _help(0, "LoRA rank through peft (0: full fine-tuning).")
    lora_alpha: int = _help(32, "LoRA alpha.")
    lora_dropout: float = _help(0.0, "LoRA dropout.")
    lora_target_modules: str = _help("all-linear", "LoRA target modules (peft syntax, comma-separated or all-linear).")

    # -- losses
    clip_eps: float = _help(0.2, "PPO/GRPO ratio clip.")
    clip_eps_high: float | None = _help(None, "Upper ratio clip when it differs from clip_eps (asymmetric clipping).")
    kl_coef: float = _help(0.001, "Weight of the KL to the frozen reference in the loss (reference: 0.001; 0 disables the reference model).")
    kl_estimator: str = _help("low_var_kl", "KL estimator: low_var_kl (k3, reference), k1, k2/mse, abs.")
    loss_agg: str = _help("token-mean", "Loss aggregation: token-mean (every policy token weighs the same), seq-mean-token-mean (every episode weighs the same), seq-mean-token-sum.")
    entropy_coef: float = _help(0.0, "Entropy bonus weight.")
    gamma: float = _help(1.0, "PPO discount (reference: 1).")
    lam: float = _help(1.0, "PPO GAE lambda (reference: 1).")
    vf_coef: float = _help(0.5, "PPO value-loss weight.")
    value_clip_eps: float | None = _help(0.2, "PPO value clipping (None: off).")
    critic: str = _help("head", "PPO critic: head (a value head on the policy's trunk) or model (a separate copy of the policy with its own head).")
    reinforce_baseline: str = _help("group_mean", "REINFORCE baseline: none, batch_mean or group_mean (leave-one-out over the group).")
    ref_device: str = _help("same", "Where the frozen reference model runs: same (as the policy), cpu, or a device such as cuda:1.")

    # -- supervised warm start
    bc_source: str | None = _help(None, "Behaviour cloning before RL: 'scripted' (the scripted agent's trajectories on the training questions), a jsonl of {prompt, turns} trajectories, or None.")
    bc_steps: int = _help(0, "Optimizer steps of behaviour cloning.")
    bc_lr: float = _help(1e-3, "Learning rate of behaviour cloning.")
    bc_batch_size: int = _help(16, "Trajectories per behaviour-cloning step.")
    bc_no_search_share: float = _help(0.0, "Share of scripted demonstrations that answer without searching (a warm start that has not learned when to search).")
    bc_keep_think: bool = _help(True, "Keep the <think> text of scripted demonstrations.")

    # -- evaluation, logging, checkpoints
    eval_every: int = _help(0, "Evaluate on held-out questions every k steps (0: only before and after).")
    eval_questions: int = _help(200, "Held-out questions per evaluation.")
    eval_difficulty: float = _help(0.0, "Noise probability during evaluation.")
    out_dir: str = _help("runs/train", "Run folder: metrics.jsonl, TensorBoard logs, checkpoints, plots.")
    checkpoint_every: int = _help(50, "Save a resumable checkpoint every k steps (0: only at the end).")
    resume: bool = _help(False, "Continue from the latest checkpoint in out_dir.")
    tensorboard: bool = _help(True, "Write TensorBoard logs to out_dir/tb.")
    wandb_project: str | None = _help(None, "Log to this Weights & Biases project (needs wandb installed).")
    seed: int = _help(0, "Seeds rollouts, questions, sampling and initialisation; same seed, same run.")
    torch_threads: int | None = _help(None, "CPU threads for torch (None: torch's default). On a 2-core machine shared with other jobs, 1 keeps a tiny model from stalling on thread contention.")

    def __post_init__(self) -> None:
        def fail(message: str) -> None:
            raise ValueError(f"TrainConfig: {message}")

        if self.algo not in ALGOS:
            fail(f"algo expects one of {ALGOS}, got {self.algo!r}")
        for name in ("steps", "questions_per_step", "group_size", "micro_batch_size", "ppo_epochs", "max_turn_tokens", "max_obs_tokens", "max_total_tokens", "topk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                fail(f"{name} expects a positive int, got {value!r}")
        if self.algo == "grpo" and self.group_size < 2:
            fail("grpo normalises rewards within a group of rollouts: set group_size >= 2 (reference: 5)")
        if self.algo == "reinforce" and self.reinforce_baseline == "group_mean" and self.group_size < 2:
            fail("reinforce_baseline='group_mean' needs group_size >= 2; use 'batch_mean' or 'none' with one rollout per question")
        if self.reinforce_baseline not in ("none", "batch_mean", "group_mean"):
            fail(f"reinforce_baseline expects none, batch_mean or group_mean, got {self.reinforce_baseline!r}")
        if self.mini_batch_size is not None and (self.mini_batch_size % self.micro_batch_size or self.mini_batch_size < 1):
            fail(f"mini_batch_size ({self.mini_batch_size}) must be a positive multiple of micro_batch_size ({self.micro_batch_size})")
        if self.rollout_batch % (self.mini_batch_size or self.rollout_batch):
            fail(f"the rollout batch ({self.rollout_batch} = questions_per_step x group_size) must split into mini-batches of {self.mini_batch_size}")
        if not 0.0 <= self.curriculum_start <= 1.0 or not 0.0 <= self.curriculum_end <= 1.0:
            fail("curriculum_start and curriculum_end are probabilities in [0, 1]")
        if not 0.0 <= self.eval_difficulty <= 1.0 or not 0.0 <= self.bc_no_search_share <= 1.0:
            fail("eval_difficulty and bc_no_search_share are probabilities in [0, 1]")
        if self.lr <= 0 or self.bc_lr <= 0:
            fail("lr and bc_lr must be positive")
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
        if self.critic not in ("head", "model"):
            fail(f"critic expects head or model, got {self.critic!r}")
        if self.bc_steps and self.bc_source is None:
            fail("bc_steps > 0 needs bc_source ('scripted' or a trajectories jsonl)")
        if self.lora_r < 0:
            fail(f"lora_r must be >= 0, got {self.lora_r}")

    @property
    def rollout_batch(self) -> int:
        """Episodes per step: questions_per_step x group_size."""
        return self.questions_per_step * self.group_size

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

    >>> make_config("cpu-demo", steps=3).steps
    3
    """
    values: dict[str, Any] = load_yaml(base) if base is not None else {}
    values.update(overrides)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown TrainConfig fields {unknown}; see `zerosearch train --help`")
    return TrainConfig(**values)


def _parse_value(text: str, annotation: Any) -> Any:
    """Parse one CLI value with the field's type (``None``/``null`` for optional fields)."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional and text.lower() in ("none", "null"):
        return None
    base = next((a for a in args if a is not type(None)), annotation) if args else annotation
    if base is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise argparse.ArgumentTypeError(f"expects true or false, got {text!r}")
    return base(text)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field-name`` flag per TrainConfig field, with the field's help and default."""
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("training config (overrides the preset/config file)")
    for f in dataclasses.fields(TrainConfig):
        annotation = hints[f.name]
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            default=argparse.SUPPRESS,
            type=lambda text, a=annotation: _parse_value(text, a),
            metavar=_metavar(annotation),
            help=f"{f.metadata['help']} (default: {f.default})",
        )


def _metavar(annotation: Any) -> str:
    base = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
    return getattr(base, "__name__", "VALUE").upper()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config named by ``--preset``/``--config`` with every given flag on top."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    base = getattr(args, "config", None) or getattr(args, "preset", None)
    return make_config(base, **overrides)
