"""The training loop: warm start, then rollout -> update -> log -> checkpoint, on accelerate.

    zerosearch train --preset cpu-demo                          # the embedded default, CPU
    zerosearch train --algo grpo --policy Qwen/Qwen2.5-3B --sim sft-7b --dataset ZeroSearch_dataset/train.parquet
    accelerate launch -m zerosearch_agents.train --preset grpo_qwen3b      # several GPUs, same code

Every step draws its questions and sampling seed from ``(seed, step)``, so a run
resumed from a checkpoint (model, optimizer, scheduler, step; the curriculum follows
the step) continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import TrainConfig, add_config_arguments, config_from_args, preset_names

CHECKPOINTS = "checkpoints"


@dataclass
class RunResult:
    """What a run produced: where, the held-out scores before and after RL, the per-step logs."""

    out_dir: Path
    eval_before: dict[str, float] = field(default_factory=dict)
    eval_after: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


# ----------------------------------------------------------------------------- set-up


def _mixed_precision(setting: str) -> str:
    import torch

    if setting != "auto":
        return setting
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _policy_path(cfg: TrainConfig, out_dir: Path) -> str:
    """The model folder to start from; ``tiny`` is built once per run folder."""
    if cfg.policy != "tiny":
        return cfg.policy
    from .policy import build_tiny_policy

    path = out_dir / "tiny-init"
    if not (path / "config.json").exists():
        build_tiny_policy(path, hidden_size=cfg.tiny_hidden_size, layers=cfg.tiny_layers, seed=cfg.seed)
    return str(path)


def build_learner(cfg: TrainConfig, policy_path: str, accelerator: Any):
    """Policy (with LoRA if asked), reference, critic, optimizer and scheduler."""
    import torch
    from transformers import get_constant_schedule_with_warmup

    from .policy import Critic, ValueHead, load_policy
    from .update import Learner

    model, tokenizer = load_policy(policy_path)
    if cfg.gradient_checkpointing:  # renamed activation checkpointing in newer transformers
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    ref_model: Any = None
    if cfg.lora_r:
        from zerosearch_env.import_utils import require

        require("peft", "LoRA (lora_r > 0)")
        from peft import LoraConfig, get_peft_model

        targets = cfg.lora_target_modules if cfg.lora_target_modules == "all-linear" else cfg.lora_target_modules.split(",")
        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets))
        ref_model = "adapter-off" if cfg.kl_coef > 0 else None
    elif cfg.kl_coef > 0:
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    value_head = critic = None
    if cfg.algo == "ppo":
        if cfg.critic == "head":
            value_head = ValueHead(model.config.hidden_size)
        else:
            critic = Critic(load_policy(policy_path)[0])
    modules = [m for m in (model, value_head, critic) if m is not None]
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_constant_schedule_with_warmup(optimizer, cfg.warmup_steps)
    prepared = accelerator.prepare(*modules, optimizer, scheduler)
    model, *rest = prepared
    value_head = rest.pop(0) if value_head is not None else None
    critic = rest.pop(0) if critic is not None else None
    optimizer, scheduler = rest
    if isinstance(ref_model, torch.nn.Module):
        device = accelerator.device if cfg.ref_device == "same" else torch.device(cfg.ref_device)
        ref_model = ref_model.to(device)
        accelerator.register_for_checkpointing(ref_model)  # after a warm start the reference is not the initial model
    learner = Learner(cfg, model, optimizer, scheduler, ref_model, value_head, critic, accelerator)
    return learner, tokenizer


def make_generator(cfg: TrainConfig, learner: Any, tokenizer: Any, policy_path: str):
    if cfg.rollout_backend == "vllm":
        from .generation import VLLMGenerator

        return VLLMGenerator(policy_path, tokenizer, gpu_memory_utilization=cfg.vllm_gpu_memory_utilization, seed=cfg.seed)
    from .generation import HFGenerator

    return HFGenerator(learner.accelerator.unwrap_model(learner.model), tokenizer)


# ----------------------------------------------------------------------------- evaluation


def evaluate(envs: Any, generator: Any, tokenizer: Any, cfg: TrainConfig, *, chat: bool, count: int, seed: int) -> dict[str, float]:
    """Greedy episodes on the first ``count`` held-out questions (the same ones every time)."""
    from .generation import Sampling
    from .rollout import RolloutBatch, RolloutLimits, collect_rollouts

    limits = RolloutLimits(cfg.max_turn_tokens, cfg.max_obs_tokens, cfg.max_total_tokens)
    episodes = []
    rows = min(count, len(envs.rows))
    for start in range(0, rows, envs.num_envs):
        indices = [min(start + i, rows - 1) for i in range(envs.num_envs)]
        batch = collect_rollouts(envs, generator, tokenizer, indices=indices, limits=limits, sampling=Sampling(0.0), chat=chat, seed=seed)
        episodes += batch.episodes[: rows - start]
    return RolloutBatch(episodes).metrics()


# ----------------------------------------------------------------------------- logging


class RunLogger:
    """Per-step metrics to metrics.jsonl, TensorBoard and (if asked) Weights & Biases."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, enabled: bool):
        self.path = out_dir / "metrics.jsonl"
        self.enabled = enabled
        self.tb = self.wandb = None
        if not enabled:
            return
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tb"))
            except ImportError:
                print("TensorBoard logging is off: pip install tensorboard")
        if cfg.wandb_project:
            from zerosearch_env.import_utils import require

            require("wandb", "Weights & Biases logging (wandb_project)")
            import wandb

            self.wandb = wandb.init(project=cfg.wandb_project, config=cfg.to_dict(), dir=str(out_dir))

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        step = record.get("step", 0)
        for key, value in record.items():
            if isinstance(value, (int, float)) and key != "step":
                if self.tb is not None:
                    self.tb.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(record, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def plot_curve(history: list[dict[str, Any]], path: Path, eval_before: dict[str, float], eval_after: dict[str, float]) -> None:
    """Training reward and F1 per step, with the held-out F1 before and after RL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [h["reward"] for h in history], label="training reward (mean per step)")
    ax.plot(steps, [h["noise_prob"] for h in history], "--", color="gray", label="noise probability (curriculum)")
    ax.plot(steps, [min(h["searches_per_episode"], 1.0) for h in history], ":", color="tab:green", label="searches per episode (capped at 1)")
    evals = [(h["step"], h["eval_f1"]) for h in history if "eval_f1" in h]
    if eval_before:
        evals = [(-1, eval_before["f1"])] + evals
    if eval_after:
        evals = evals + [(steps[-1] + 1, eval_after["f1"])]
    if evals:
        ax.plot(*zip(*evals), "o-", color="tab:red", label="held-out F1 (greedy)")
    ax.set_xlabel("training step")
    ax.set_ylabel("F1 / probability")
    ax.set_ylim(0, 1)
    title = "ZeroSearch training"
    if eval_before and eval_after:
        title += f": held-out F1 {eval_before['f1']:.3f} -> {eval_after['f1']:.3f}"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- checkpoints


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted((out_dir / CHECKPOINTS).glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return found[-1] if found else None


def save_checkpoint(accelerator: Any, out_dir: Path, step: int, state: dict[str, Any]) -> Path:
    path = out_dir / CHECKPOINTS / f"step_{step:06d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps(state, indent=2))
    return path


# ----------------------------------------------------------------------------- the loop


def train(cfg: TrainConfig, *, progress: bool = True) -> RunResult:
    """Run ``cfg`` to the end (or resume it); returns the held-out scores and the logs."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from .generation import Sampling
    from .rollout import RolloutLimits, collect_rollouts, use_chat_template
    from .update import update
    from .warm_start import behaviour_cloning, load_demonstrations, scripted_demonstrations, tokenize_demonstration

    started = time.perf_counter()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(mixed_precision=_mixed_precision(cfg.mixed_precision))
    main = accelerator.is_main_process
    set_seed(cfg.seed)
    resume_from = latest_checkpoint(out_dir) if cfg.resume else None
    if cfg.resume and resume_from is None:
        print(f"resume: no checkpoint in {out_dir / CHECKPOINTS}; starting from scratch")
    if not resume_from and (out_dir / "metrics.jsonl").exists() and main:
        (out_dir / "metrics.jsonl").unlink()  # a fresh run: no stale lines
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))

    policy_path = _policy_path(cfg, out_dir)
    learner, tokenizer = build_learner(cfg, policy_path, accelerator)
    chat = use_chat_template(tokenizer, cfg.chat_template)
    generator = make_generator(cfg, learner, tokenizer, policy_path)
    limits = RolloutLimits(cfg.max_turn_tokens, cfg.max_obs_tokens, cfg.max_total_tokens)
    curriculum = {"start": cfg.curriculum_start, "end": cfg.curriculum_end, "total_steps": cfg.total_curriculum_steps, "base": cfg.curriculum_base}
    envs = cfg.env.make_vec(cfg.rollout_batch, curriculum=curriculum)
    eval_envs = None
    if cfg.eval_split is not None:
        eval_envs = cfg.env.make_vec(min(cfg.eval_questions, 128), difficulty=cfg.eval_difficulty, split=cfg.eval_split)
    rows = len(envs.rows)
    if cfg.questions_per_step > rows:
        raise ValueError(f"questions_per_step ({cfg.questions_per_step}) exceeds the {rows} rows of the training split")

    result = RunResult(out_dir)
    state: dict[str, Any] = {"step": 0, "eval_before": {}}
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = json.loads((resume_from / "trainer_state.json").read_text())
        result.eval_before = state.get("eval_before", {})
        if main:
            print(f"resumed from {resume_from} at step {state['step']}")
    else:
        if cfg.bc_steps:
            if cfg.bc_source == "scripted":
                demos = scripted_demonstrations(
                    cfg.env.env_kwargs(difficulty=cfg.curriculum_start),
                    no_search_share=cfg.bc_no_search_share,
                    keep_think=cfg.bc_keep_think,
                    seed=cfg.seed,
                )
            else:
                demos = load_demonstrations(cfg.bc_source)
            episodes = [tokenize_demonstration(d, tokenizer, chat=chat, max_total_tokens=cfg.max_total_tokens) for d in demos]
            bc_losses = behaviour_cloning(
                accelerator.unwrap_model(learner.model), episodes, steps=cfg.bc_steps, lr=cfg.bc_lr, batch_size=cfg.bc_batch_size,
                pad_id=tokenizer.pad_token_id, seed=cfg.seed, progress=progress and main,
            )
            state["bc_final_nll"] = float(np.mean(bc_losses[-10:]))
            if isinstance(learner.ref_model, torch.nn.Module):  # the reference is the warm start, not the random init
                learner.ref_model.load_state_dict(accelerator.unwrap_model(learner.model).state_dict())
        if eval_envs is not None:
            result.eval_before = evaluate(eval_envs, generator, tokenizer, cfg, chat=chat, count=cfg.eval_questions, seed=cfg.seed)
            state["eval_before"] = result.eval_before
            if main:
                print(f"held-out before RL: F1 {result.eval_before['f1']:.3f}, searches/episode {result.eval_before['searches_per_episode']:.2f}")

    logger = RunLogger(cfg, out_dir, enabled=main)
    bar = tqdm(range(state["step"], cfg.steps), initial=state["step"], total=cfg.steps, desc=f"{cfg.algo} training", disable=not (progress and main))
    for step in bar:
        envs.set_training_step(step)
        rng = np.random.default_rng([cfg.seed, step, accelerator.process_index])
        questions = rng.choice(rows, size=cfg.questions_per_step, replace=False)
        indices = np.repeat(questions, cfg.group_size).tolist()
        groups = np.repeat(np.arange(cfg.questions_per_step), cfg.group_size).tolist()
        step_seed = int(rng.integers(2**31 - 1))

        t0 = time.perf_counter()
        if hasattr(generator, "sync_weights"):
            generator.sync_weights(accelerator.unwrap_model(learner.model))
        batch = collect_rollouts(
            envs, generator, tokenizer, indices=indices, groups=groups, limits=limits,
            sampling=Sampling(cfg.temperature, cfg.top_p), chat=chat, seed=step_seed,
        )
        rollout_s = time.perf_counter() - t0
        metrics = update(learner, batch.tensors(tokenizer.pad_token_id))
        record = {"step": step, "noise_prob": envs.call("noise_prob")[0], **batch.metrics(), **metrics, "rollout_s": rollout_s}
        if eval_envs is not None and cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            scores = evaluate(eval_envs, generator, tokenizer, cfg, chat=chat, count=cfg.eval_questions, seed=cfg.seed)
            record.update({f"eval_{k}": v for k, v in scores.items() if k in ("f1", "em", "cover_em", "searches_per_episode")})
        result.history.append(record)
        logger.log(record)
        bar.set_postfix(reward=f"{record['reward']:.3f}", searches=f"{record['searches_per_episode']:.2f}", kl=f"{record.get('kl', 0.0):.4f}")
        state["step"] = step + 1
        if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0 and state["step"] < cfg.steps:
            save_checkpoint(accelerator, out_dir, state["step"], state)

    if eval_envs is not None:
        result.eval_after = evaluate(eval_envs, generator, tokenizer, cfg, chat=chat, count=cfg.eval_questions, seed=cfg.seed)
    state["eval_after"] = result.eval_after
    save_checkpoint(accelerator, out_dir, state["step"], state)
    if main:
        accelerator.unwrap_model(learner.model).save_pretrained(out_dir / "final")
        tokenizer.save_pretrained(out_dir / "final")
        result.history = _read_history(out_dir / "metrics.jsonl")
        if result.history:
            try:
                plot_curve(result.history, out_dir / "reward_curve.png", result.eval_before, result.eval_after)
            except ImportError:
                print("no plot: pip install matplotlib")
    logger.close()
    result.wall_s = time.perf_counter() - started
    if main:
        (out_dir / "summary.json").write_text(
            json.dumps({"eval_before": result.eval_before, "eval_after": result.eval_after, "wall_s": result.wall_s, "steps": cfg.steps}, indent=2)
        )
        if result.eval_before and result.eval_after:
            print(f"held-out F1: {result.eval_before['f1']:.3f} before RL -> {result.eval_after['f1']:.3f} after ({result.wall_s / 60:.1f} min)")
    return result


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- command line


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="zerosearch_agents.train", description="Train a search agent with GRPO, PPO or REINFORCE.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", help=f"a ready config: {', '.join(preset_names())}")
    source.add_argument("--config", help="a YAML file of TrainConfig fields")
    add_config_arguments(parser)
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """``zerosearch train``: the config named by the flags, trained to the end."""
    try:
        cfg = config_from_args(args)
    except ValueError as error:
        print(f"zerosearch train: error: {error}", file=sys.stderr)
        return 2
    result = train(cfg)
    print(f"run folder: {result.out_dir} (metrics.jsonl, reward_curve.png, final/, checkpoints/)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m zerosearch_agents.train`` (and ``accelerate launch -m zerosearch_agents.train``)."""
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
