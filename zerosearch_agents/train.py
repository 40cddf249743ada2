"""The training run: set up, warm start, held-out evaluation, rollout -> update -> log ->
checkpoint for every step, evaluation again, save; on accelerate.

    zerosearch train --preset cpu-demo                          # the embedded default, CPU
    zerosearch train --algo grpo --policy Qwen/Qwen2.5-3B --sim sft-7b --dataset ZeroSearch_dataset/train.parquet
    accelerate launch -m zerosearch_agents.train --preset grpo_qwen3b      # several GPUs, same code

Every step draws its questions and sampling seed from ``(seed, step)``, so a run
resumed from a checkpoint (model, optimizer, scheduler, step; the curriculum follows
the step) continues exactly as the uninterrupted run would have.

This module builds the run's parts and strings the stages together (:func:`train`);
the stages' own concepts live next to it: :mod:`.warm_start` (behaviour cloning),
:mod:`.rollout` (episodes to tokens), :mod:`.update` (one learner update),
:mod:`.checkpoints` (save, find, resume) and :mod:`.run_log` (metrics.jsonl,
TensorBoard, W&B, the reward curve).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import checkpoint_to_resume, load_checkpoint, save_checkpoint
from .config import PRESETS_DIR, TrainConfig, add_config_arguments, config_from_args, preset_names
from .run_log import RunLogger, plot_curve, read_history


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

    from .policy import Critic, ValueHead, load_policy
    from .update import Learner

    # Trainable weights in fp32 whatever the checkpoint's dtype (transformers keeps a bf16
    # checkpoint in bf16, where AdamW steps of lr 1e-6 round to nothing); mixed precision
    # casts the compute.
    model, tokenizer = load_policy(policy_path, dtype=torch.float32)
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
        from zerosearch_env.import_utils import require

        require("peft", "LoRA (lora_r > 0)")
        from peft import LoraConfig, get_peft_model

        targets = cfg.lora_target_modules if cfg.lora_target_modules == "all-linear" else cfg.lora_target_modules.split(",")
        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets))
    value_head = critic = None
    if cfg.algo == "ppo":
        if cfg.critic == "head":
            value_head = ValueHead(model.config.hidden_size)
        else:
            critic = Critic(load_policy(policy_path, dtype=torch.float32)[0])
    modules = [m for m in (model, value_head, critic) if m is not None]
    optimizer, scheduler = make_optimizer(cfg, model, value_head or critic, fused=accelerator.device.type == "cuda")
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


def warmup_then_constant(warmup_steps: int):
    """The learning-rate factor at optimizer step ``s``: ``s / warmup_steps``, then 1.

    >>> [warmup_then_constant(4)(s) for s in range(6)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    >>> warmup_then_constant(0)(0)
    1.0
    """
    return lambda step: min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0


def make_generator(cfg: TrainConfig, learner: Any, tokenizer: Any, policy_path: str):
    """The rollout engine: the learner's own model (hf), or a vLLM engine on this
    process's GPU whose context is the episode token limit (vllm)."""
    if cfg.rollout_backend == "vllm":
        from zerosearch_env.vllm_engine import Placement

        from .vllm_generation import VLLMGenerator

        accelerator = learner.accelerator
        placement = Placement(accelerator.process_index, accelerator.local_process_index, accelerator.num_processes)
        return VLLMGenerator(
            policy_path, tokenizer, placement=placement, gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            max_model_len=cfg.max_total_tokens, sleep_mode=cfg.vllm_sleep, seed=cfg.seed,
        )
    from .generation import HFGenerator

    return HFGenerator(learner.accelerator.unwrap_model(learner.model), tokenizer)


@dataclass
class Run:
    """The parts of a run that its stages share, built once by :func:`set_up`."""

    cfg: TrainConfig
    out_dir: Path
    accelerator: Any
    learner: Any
    tokenizer: Any
    chat: bool  # prompts go through the tokenizer's chat template
    generator: Any
    envs: Any  # the training vector env, with the noise curriculum
    eval_envs: Any  # the held-out vector env; None without an eval_split
    resume_from: Path | None  # the checkpoint to continue from; None for a fresh run
    weights_version: int = 0  # counts the changes of the policy's weights (warm start, updates)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    def weights_changed(self) -> None:
        self.weights_version += 1

    def ready_generator(self) -> None:
        """Give a separate rollout engine (vLLM) the policy's current weights, if it lacks them."""
        if hasattr(self.generator, "sync_weights"):
            self.generator.sync_weights(self.accelerator.unwrap_model(self.learner.model), self.weights_version)

    @contextmanager
    def engines_asleep(self) -> Iterator[None]:
        """The vLLM engines (rollouts, simulator) free their GPU memory while the block runs
        (``vllm_sleep``; each engine decides whether it can)."""
        engines = [e for e in (self.generator, self.envs.simulator) if hasattr(e, "sleep")] if self.cfg.vllm_sleep else []
        for engine in engines:
            engine.sleep()
        try:
            yield
        finally:
            for engine in engines:
                engine.wake_up()

    def evaluate(self) -> dict[str, float]:
        """The held-out scores of the policy as it is now (see :func:`evaluate`)."""
        cfg = self.cfg
        self.ready_generator()
        return evaluate(self.eval_envs, self.generator, self.tokenizer, cfg, chat=self.chat, count=cfg.eval_questions, seed=cfg.seed)


def set_up(cfg: TrainConfig) -> Run:
    """Seed, the run folder, the learner and its generator, the environments, in this order."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from .rollout import use_chat_template

    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(mixed_precision=_mixed_precision(cfg.mixed_precision))
    check_launch(cfg, accelerator)
    if cfg.memory_check and accelerator.device.type == "cuda":
        refuse_unfit_plan(cfg, accelerator.num_processes, torch.cuda.get_device_properties(accelerator.device).total_memory / 2**30)
    set_seed(cfg.seed)
    resume_from = checkpoint_to_resume(out_dir, cfg.resume)
    if accelerator.is_main_process:  # the run folder is written once, then every process reads it
        if resume_from is None and (out_dir / "metrics.jsonl").exists():
            (out_dir / "metrics.jsonl").unlink()  # a fresh run: no stale lines
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        _policy_path(cfg, out_dir)
    accelerator.wait_for_everyone()

    policy_path = _policy_path(cfg, out_dir)
    learner, tokenizer = build_learner(cfg, policy_path, accelerator)
    chat = use_chat_template(tokenizer, cfg.chat_template)
    generator = make_generator(cfg, learner, tokenizer, policy_path)
    envs, eval_envs = make_envs(cfg, accelerator.num_processes)
    return Run(cfg, out_dir, accelerator, learner, tokenizer, chat, generator, envs, eval_envs, resume_from)


def check_launch(cfg: TrainConfig, accelerator: Any) -> None:
    """The config and the launch agree: the step's questions divide over the processes, and
    ``sharding: fsdp`` goes with an FSDP launch (the memory plan assumes what the config says)."""
    from accelerate.utils import DistributedType

    from zerosearch_env.errors import ConfigError

    try:
        cfg.process_questions(accelerator.num_processes)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    fsdp = accelerator.distributed_type == DistributedType.FSDP
    if cfg.sharding == "fsdp" and not fsdp:
        raise ConfigError(
            "sharding: fsdp needs an FSDP launch: accelerate launch --config_file "
            f"{PRESETS_DIR / 'accelerate' / 'fsdp.yaml'} -m zerosearch_agents.train ... (see the README, 'GPU memory')"
        )
    if fsdp and cfg.sharding != "fsdp":
        raise ConfigError("launched with FSDP: set sharding: fsdp (--sharding fsdp), so the memory plan and the rollouts know")


def refuse_unfit_plan(cfg: TrainConfig, gpus: int, gpu_memory_gib: float) -> None:
    """Stop before any model is loaded when the memory plan does not fit these GPUs
    (a model the planner cannot size is let through, with a note)."""
    from zerosearch_env.errors import ConfigError

    from .memory_plan import plan_memory

    try:
        plan = plan_memory(cfg, gpus=gpus, gpu_memory_gib=gpu_memory_gib)
    except ConfigError as error:
        print(f"no memory plan: {error}", file=sys.stderr)
        return
    if not plan.fits:
        raise ConfigError(f"this configuration does not fit {gpus} x {gpu_memory_gib:.0f} GiB (memory_check: false runs it anyway)\n\n{plan.format()}")


def make_envs(cfg: TrainConfig, processes: int = 1) -> tuple[Any, Any]:
    """This process's training vector env (its share of the step's episodes, on the noise
    curriculum) and the held-out one (None without ``eval_split``)."""
    curriculum = {"start": cfg.curriculum_start, "end": cfg.curriculum_end, "total_steps": cfg.total_curriculum_steps, "base": cfg.curriculum_base}
    envs = cfg.env.make_vec(cfg.process_questions(processes) * cfg.group_size, curriculum=curriculum)
    eval_envs = None
    if cfg.eval_split is not None:  # on the training simulator: one engine, not two
        eval_envs = cfg.env.make_vec(min(cfg.eval_questions, 128), difficulty=cfg.eval_difficulty, split=cfg.eval_split, sim=envs.simulator)
    rows = len(envs.rows)
    if cfg.questions_per_step > rows:
        raise ValueError(f"questions_per_step ({cfg.questions_per_step}) exceeds the {rows} rows of the training split")
    return envs, eval_envs


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


def evaluate_before_rl(run: Run) -> dict[str, float]:
    """The held-out scores of the (warm-started) policy before any RL step; {} without an eval split."""
    if run.eval_envs is None:
        return {}
    scores = run.evaluate()
    if run.main:
        print(f"held-out before RL: F1 {scores['f1']:.3f}, searches/episode {scores['searches_per_episode']:.2f}")
    return scores


def evaluate_after_rl(run: Run) -> dict[str, float]:
    """The held-out scores after the last step; {} without an eval split."""
    return run.evaluate() if run.eval_envs is not None else {}


# ----------------------------------------------------------------------------- the loop


def train(cfg: TrainConfig, *, progress: bool = True) -> RunResult:
    """Run ``cfg`` to the end (or resume it); returns the held-out scores and the logs."""
    from .warm_start import warm_start

    started = time.perf_counter()
    run = set_up(cfg)
    result = RunResult(run.out_dir)
    if run.resume_from is not None:
        state = load_checkpoint(run.accelerator, run.resume_from)
        result.eval_before = state.get("eval_before", {})
    else:
        state = {"step": 0, "eval_before": {}}
        if cfg.bc_steps:
            state["bc_final_nll"] = warm_start(cfg, run.learner, run.tokenizer, chat=run.chat, progress=progress and run.main)
            run.weights_changed()
        result.eval_before = state["eval_before"] = evaluate_before_rl(run)

    logger = RunLogger(cfg, run.out_dir, enabled=run.main, resume_step=state["step"] if run.resume_from else None)
    result.history = run_steps(run, state, logger, progress=progress)
    result.eval_after = state["eval_after"] = evaluate_after_rl(run)
    save_final(run, state, result)
    logger.close()
    result.wall_s = time.perf_counter() - started
    write_summary(run, result)
    return result


def run_steps(run: Run, state: dict[str, Any], logger: RunLogger, *, progress: bool = True) -> list[dict[str, Any]]:
    """RL steps from ``state["step"]`` to ``cfg.steps``: rollout -> update -> log -> checkpoint.

    ``state["step"]`` follows the steps done; returns their records."""
    from tqdm.auto import tqdm

    from .generation import Sampling
    from .rollout import RolloutLimits, collect_rollouts
    from .update import update

    cfg, accelerator, envs, generator, tokenizer = run.cfg, run.accelerator, run.envs, run.generator, run.tokenizer
    limits = RolloutLimits(cfg.max_turn_tokens, cfg.max_obs_tokens, cfg.max_total_tokens)
    rows = len(envs.rows)
    history: list[dict[str, Any]] = []
    bar = tqdm(range(state["step"], cfg.steps), initial=state["step"], total=cfg.steps, desc=f"{cfg.algo} training", disable=not (progress and run.main))
    for step in bar:
        envs.set_training_step(step)
        indices, groups, step_seed = draw_step(cfg, step, accelerator.process_index, rows, accelerator.num_processes)

        t0 = time.perf_counter()
        run.ready_generator()
        batch = collect_rollouts(
            envs, generator, tokenizer, indices=indices, groups=groups, limits=limits,
            sampling=Sampling(cfg.temperature, cfg.top_p), chat=run.chat, seed=step_seed,
        )
        rollout_s = time.perf_counter() - t0
        with run.engines_asleep():
            metrics = update(run.learner, batch.tensors(tokenizer.pad_token_id))
        run.weights_changed()
        record = {"step": step, "noise_prob": envs.noise_prob, **batch.metrics(), **metrics, "rollout_s": rollout_s}
        if run.eval_envs is not None and cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            scores = run.evaluate()
            record.update({f"eval_{k}": v for k, v in scores.items() if k in ("f1", "em", "cover_em", "searches_per_episode")})
        history.append(record)
        logger.log(record)
        bar.set_postfix(reward=f"{record['reward']:.3f}", searches=f"{record['searches_per_episode']:.2f}", kl=f"{record.get('kl', 0.0):.4f}")
        state["step"] = step + 1
        if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0 and state["step"] < cfg.steps:
            save_checkpoint(accelerator, run.out_dir, state["step"], state)
    return history


def draw_step(cfg: TrainConfig, step: int, process_index: int, rows: int, processes: int = 1) -> tuple[list[int], list[int], int]:
    """This process's episodes of a step, from ``(seed, step)`` alone: row indices (each
    question ``group_size`` times), their group ids, and its sampling seed.

    The step's ``questions_per_step`` questions are drawn once and dealt out, an equal
    share per process, so every process count trains on the same questions.

    >>> from zerosearch_agents.config import make_config
    >>> cfg = make_config(questions_per_step=2, group_size=3)
    >>> indices, groups, seed = draw_step(cfg, step=7, process_index=0, rows=100)
    >>> groups
    [0, 0, 0, 1, 1, 1]
    >>> len(set(indices)) == 2 and draw_step(cfg, step=7, process_index=0, rows=100) == (indices, groups, seed)
    True
    >>> halves = [draw_step(cfg, step=7, process_index=p, rows=100, processes=2)[0] for p in (0, 1)]
    >>> sorted(halves[0] + halves[1]) == sorted(indices)
    True
    """
    share = cfg.process_questions(processes)
    rng = np.random.default_rng([cfg.seed, step, 0])
    questions = rng.choice(rows, size=cfg.questions_per_step, replace=False)[process_index * share : (process_index + 1) * share]
    indices = np.repeat(questions, cfg.group_size).tolist()
    groups = np.repeat(np.arange(share), cfg.group_size).tolist()
    step_seed = int(rng.integers(2**31 - 1, size=processes)[process_index])
    return indices, groups, step_seed


# ----------------------------------------------------------------------------- the end of a run


def save_final(run: Run, state: dict[str, Any], result: RunResult) -> None:
    """The last checkpoint, then (main process) the final model and tokenizer, the history
    read back from metrics.jsonl (all legs of a resumed run) and the reward curve."""
    save_checkpoint(run.accelerator, run.out_dir, state["step"], state)
    weights = run.accelerator.get_state_dict(run.learner.model)  # every process takes part: FSDP gathers its shards
    if not run.main:
        return
    out_dir = run.out_dir
    run.accelerator.unwrap_model(run.learner.model).save_pretrained(out_dir / "final", state_dict=weights)
    run.tokenizer.save_pretrained(out_dir / "final")
    result.history = read_history(out_dir / "metrics.jsonl")
    if result.history:
        try:
            plot_curve(result.history, out_dir / "reward_curve.png", result.eval_before, result.eval_after)
        except ImportError:
            print("no plot: pip install matplotlib")


def write_summary(run: Run, result: RunResult) -> None:
    """summary.json (held-out scores, wall time, steps) and the one line of the result (main process)."""
    if not run.main:
        return
    (run.out_dir / "summary.json").write_text(
        json.dumps({"eval_before": result.eval_before, "eval_after": result.eval_after, "wall_s": result.wall_s, "steps": run.cfg.steps}, indent=2)
    )
    if result.eval_before and result.eval_after:
        print(f"held-out F1: {result.eval_before['f1']:.3f} before RL -> {result.eval_after['f1']:.3f} after ({result.wall_s / 60:.1f} min)")


# ----------------------------------------------------------------------------- command line


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="zerosearch_agents.train", description="Train a search agent with GRPO, PPO or REINFORCE.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", help=f"a ready config: {', '.join(preset_names())}")
    source.add_argument("--config", help="a YAML file of TrainConfig fields")
    plan = parser.add_argument_group("memory plan")
    plan.add_argument("--plan", action="store_true", help="Print the GPU memory plan of the configuration and exit (no model is loaded).")
    plan.add_argument("--gpus", type=int, help="GPUs of the plan, one training process each (default: the visible GPUs, else 1).")
    plan.add_argument("--gpu-memory", type=float, metavar="GIB", help="Memory per GPU in GiB (default: the visible GPU's, else 80).")
    add_config_arguments(parser)
    return parser


def print_plan(cfg: TrainConfig, gpus: int | None, gpu_memory: float | None) -> int:
    """``zerosearch train --plan``: the plan on the given (or visible) GPUs; exit 1 when it does not fit."""
    from zerosearch_env.import_utils import cuda_device_count

    from .memory_plan import plan_memory

    visible = cuda_device_count()
    if gpu_memory is None and visible:
        import torch

        gpu_memory = torch.cuda.get_device_properties(0).total_memory / 2**30
    plan = plan_memory(cfg, gpus=gpus or visible or 1, gpu_memory_gib=gpu_memory or 80.0)
    print(plan.format())
    return 0 if plan.fits else 1


def run_from_args(args: argparse.Namespace) -> int:
    """``zerosearch train``: the config named by the flags, trained to the end."""
    from zerosearch_env.errors import ConfigError

    try:
        cfg = config_from_args(args)
        if args.plan:
            return print_plan(cfg, args.gpus, args.gpu_memory)
    except (ValueError, ConfigError) as error:
        print(f"zerosearch train: error: {error}", file=sys.stderr)
        return 2
    try:
        result = train(cfg)
    except ConfigError as error:  # found once the launch is known (processes, GPUs): before any model loads
        print(f"zerosearch train: error: {error}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {result.out_dir} (metrics.jsonl, reward_curve.png, final/, checkpoints/)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m zerosearch_agents.train`` (and ``accelerate launch -m zerosearch_agents.train``)."""
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
