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
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zerosearch_env.process_group import leave_process_group

from .build import build_learner, make_generator
from .checkpoints import checkpoint_to_resume, load_checkpoint, save_checkpoint
from .config import TrainConfig, add_config_arguments, config_from_args, preset_names
from .launch import check_launch, gpu_memory_gib, print_plan, refuse_unfit_plan
from .run_log import RunLogger, plot_curve, read_history
from .sim_usage import RunUsage


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
    usage: RunUsage | None = None  # the simulator's usage, kept in the trainer state (see train)

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
        """The held-out scores of the policy as it is now (see :func:`evaluate`); its
        searches count in the run's simulator usage."""
        cfg = self.cfg
        self.ready_generator()
        before = self.eval_envs.total_stats
        scores = evaluate(self.eval_envs, self.generator, self.tokenizer, cfg, chat=self.chat, count=cfg.eval_questions, seed=cfg.seed)
        if self.usage is not None:
            self.usage.add("eval", self.eval_envs.total_stats - before, self.accelerator)
        return scores


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
        refuse_unfit_plan(cfg, accelerator.num_processes, gpu_memory_gib(accelerator.device))
    set_seed(cfg.seed)
    resume_from = checkpoint_to_resume(out_dir, cfg.resume)
    if accelerator.is_main_process:  # the run folder is written once, then every process reads it
        if resume_from is None:  # a fresh run: no stale lines or totals
            (out_dir / "metrics.jsonl").unlink(missing_ok=True)
            (out_dir / "sim_usage.json").unlink(missing_ok=True)
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        _policy_path(cfg, out_dir)
    accelerator.wait_for_everyone()

    policy_path = _policy_path(cfg, out_dir)
    learner, tokenizer = build_learner(cfg, policy_path, accelerator)
    chat = use_chat_template(tokenizer, cfg.chat_template)
    generator = make_generator(cfg, learner, tokenizer, policy_path)
    envs, eval_envs = make_envs(cfg, accelerator.num_processes)
    return Run(cfg, out_dir, accelerator, learner, tokenizer, chat, generator, envs, eval_envs, resume_from)


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
    state: dict[str, Any] = load_checkpoint(run.learner, run.resume_from) if run.resume_from is not None else {"step": 0, "eval_before": {}}
    usage = run.usage = RunUsage(run.envs.simulator.name, state, run.out_dir if run.main else None)  # totals continue from the checkpoint's
    if run.resume_from is None:
        if cfg.bc_steps:
            state["bc_final_nll"] = warm_start(
                cfg, run.learner, run.tokenizer, chat=run.chat, progress=progress and run.main,
                on_played=lambda stats: usage.add("warm_start", stats, run.accelerator),
            )  # fmt: skip
            run.weights_changed()
        state["eval_before"] = evaluate_before_rl(run)
    result.eval_before = state.get("eval_before", {})

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

    assert run.usage is not None  # train() sets it before the first step

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
        sim_before = envs.total_stats
        batch = collect_rollouts(
            envs,
            generator,
            tokenizer,
            indices=indices,
            groups=groups,
            limits=limits,
            sampling=Sampling(cfg.temperature, cfg.top_p),
            chat=run.chat,
            seed=step_seed,
        )
        rollout_s = time.perf_counter() - t0
        sim = run.usage.add("train", envs.total_stats - sim_before, accelerator)  # every process's searches of the step
        with run.engines_asleep():
            metrics = update(run.learner, batch.tensors(tokenizer.pad_token_id))
        run.weights_changed()
        record = {"step": step, "noise_prob": envs.noise_prob, **step_metrics(accelerator, batch, metrics), "rollout_s": rollout_s,
                  "sim_searches": sim.searches, "sim_wall_s": sim.sim_wall_s}  # fmt: skip
        if run.eval_envs is not None and cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            scores = run.evaluate()
            record.update({f"eval_{k}": v for k, v in scores.items() if k in ("f1", "em", "cover_em", "searches_per_episode")})
        history.append(record)
        logger.log(record)
        bar.set_postfix(reward=f"{record['reward']:.3f}", searches=f"{record['searches_per_episode']:.2f}", kl=f"{record.get('kl', 0.0):.4f}")
        state["step"] = step + 1
        if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0 and state["step"] < cfg.steps:
            save_checkpoint(run.learner, run.out_dir, state["step"], state)
    return history


def step_metrics(accelerator: Any, batch: Any, update_metrics: dict[str, float]) -> dict[str, float]:
    """The step's curves over every process: episode statistics from the episodes of all
    of them (their sums reduced, then divided), the update's figures averaged over them
    (the throughput summed). One process: its own figures."""
    from .rollout import batch_metrics

    totals = batch.totals()
    if accelerator.num_processes == 1:
        return {**batch_metrics(totals), **update_metrics}
    import torch

    def reduced(values: dict[str, float], how: str) -> dict[str, float]:
        tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=accelerator.device)
        return dict(zip(values, accelerator.reduce(tensor, reduction=how).tolist()))

    update_means = reduced(update_metrics, "mean")
    if "update_tokens_per_s" in update_metrics:
        update_means["update_tokens_per_s"] *= accelerator.num_processes  # the run's throughput: every process's tokens
    return {**batch_metrics(reduced(totals, "sum")), **update_means}


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
    save_checkpoint(run.learner, run.out_dir, state["step"], state)
    weights = run.accelerator.get_state_dict(run.learner.model)  # every process takes part: FSDP gathers its shards
    if not run.main:
        return
    out_dir = run.out_dir
    run.accelerator.unwrap_model(run.learner.model).save_pretrained(out_dir / "final", state_dict=weights)
    run.tokenizer.save_pretrained(out_dir / "final")
    from .policy import write_policy_card

    cfg = run.cfg
    write_policy_card(
        out_dir / "final", chat=run.chat, prompt_template=cfg.env.prompt_template, max_turn_tokens=cfg.max_turn_tokens, max_total_tokens=cfg.max_total_tokens
    )
    result.history = read_history(out_dir / "metrics.jsonl")
    if result.history:
        try:
            plot_curve(result.history, out_dir / "reward_curve.png", result.eval_before, result.eval_after)
        except ImportError:
            print("no plot: pip install matplotlib")


def peak_rss_gib() -> float | None:
    """This process's peak resident memory so far (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(kib / (2**30 if sys.platform == "darwin" else 2**20), 2)


def write_summary(run: Run, result: RunResult) -> None:
    """summary.json (held-out scores, wall time, steps), the result's line and the run folder
    (main process); sim_usage.json is already there (see :mod:`.sim_usage`)."""
    if not run.main:
        return
    summary = {"eval_before": result.eval_before, "eval_after": result.eval_after, "wall_s": result.wall_s, "steps": run.cfg.steps,
               "peak_rss_gib": peak_rss_gib()}  # fmt: skip
    (run.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if result.eval_before and result.eval_after:
        print(f"held-out F1: {result.eval_before['f1']:.3f} before RL -> {result.eval_after['f1']:.3f} after ({result.wall_s / 60:.1f} min)")
    print(f"run folder: {run.out_dir} (metrics.jsonl, sim_usage.json, reward_curve.png, final/, checkpoints/)")


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
        train(cfg)
    except ConfigError as error:  # found once the launch is known (processes, GPUs): before any model loads
        print(f"zerosearch train: error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m zerosearch_agents.train`` (and ``accelerate launch -m zerosearch_agents.train``)."""
    code = run_from_args(build_parser().parse_args(argv))
    if code == 0:
        leave_process_group()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
