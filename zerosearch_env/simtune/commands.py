"""``zerosearch simtune``: the command line of simulation tuning, one sub-command per step.

:func:`add_simtune_parser` adds ``simtune`` to the ``zerosearch`` command and one
sub-command per step through its own ``add_<step>`` function (``collect``, ``label``),
each bound to a ``cmd_<step>`` function that parses nothing and calls the step's Python
API. ``train`` fine-tunes a model on the examples; ``run --preset cpu-demo`` chains every
step and measures the result. Importing this module is as light as the CLI: the steps load inside their command.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..config_flags import add_flags, given, key_values

COLLECT_SIM = "bm25"
"""The engine ``simtune collect`` plays when ``--sim`` is not given: a real one."""


def add_simtune_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``simtune`` and its steps to the ``zerosearch`` sub-commands (``commands``:
    the object ``add_subparsers`` returned)."""
    simtune = commands.add_parser(
        "simtune",
        help="tune your own simulator: collect real-search trajectories, label them useful or noisy, fine-tune, measure",
        description="Simulation tuning, the paper's first step: an agent searches a real engine (collect), each search "
        "becomes a useful or noisy example in the released simulator prompt (label), and a causal LM is fine-tuned on them.",
    )
    steps = simtune.add_subparsers(dest="simtune_command", metavar="STEP", required=True)
    add_collect(steps)
    add_label(steps)
    add_train(steps)
    add_run(steps)
    add_curve(steps)
    return simtune


# ----------------------------------------------------------------------------- collect


def add_collect(steps: Any) -> None:
    from ..env_config import EnvConfig
    from ..evaluation.config import EvalConfig

    collect = steps.add_parser(
        "collect",
        help="play an agent against a real search engine (default bm25) and keep every search's documents",
        description="zerosearch eval pointed at simulation tuning: the train split of the synthetic world (or any "
        f"question set) against a real engine (--sim {COLLECT_SIM} unless given). With --world-seeds, one synthetic world per "
        "seed, each against BM25 over its own corpus, into OUT/world-<seed>/. World seed 0's test split is the held-out "
        "evaluation set: leave it out. Resumable, like zerosearch eval --out.",
    )
    collect.add_argument("--out", required=True, help="collection folder: trajectories.jsonl, collect.json and eval's report (resumable)")
    collect.add_argument(
        "--world-seeds", type=int, nargs="+", default=None, metavar="SEED", help="collect over these synthetic worlds (e.g. 1 2 3 4 5), one sub-folder each"
    )
    _add_agent_flags(collect)
    collect.add_argument("--overwrite", action="store_true", help="start the --out folder(s) again instead of resuming")
    collect.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_flags(collect, EvalConfig, "evaluation", skip=("bootstrap_resamples",))
    add_flags(collect, EnvConfig, "environment (the same flags as zerosearch eval)")
    for action in collect._actions:
        if action.dest == "sim":
            action.help = action.help.split(" (default:")[0] + f" (default here: {COLLECT_SIM})"
    collect.set_defaults(func=cmd_collect)


def _add_agent_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", default="scripted", help="scripted (default), random, openai, hf:<model folder>, or package.module:Class")
    parser.add_argument(
        "--agent-arg", action="append", default=[], metavar="KEY=VALUE",
        help="an agent keyword argument (repeatable), e.g. base_url=http://127.0.0.1:8000/v1 model=my-model for openai",
    )  # fmt: skip


def _agent_options(args: argparse.Namespace, seed: int, batch_size: int) -> dict[str, Any]:
    """The agent's keyword arguments: the run's seed for the shipped agents, the batch for
    an ``hf:`` one, then every ``--agent-arg`` (JSON values where they parse)."""
    options: dict[str, Any] = {"seed": seed} if args.agent in ("scripted", "random") else {}
    if args.agent.startswith("hf:"):
        options["batch_size"] = batch_size
    options.update(key_values(args.agent_arg, "--agent-arg", "zerosearch simtune"))
    return options


def cmd_collect(args: argparse.Namespace) -> int:
    from ..env_config import EnvConfig
    from ..evaluation import EvalConfig, make_agent
    from .collect import collect

    env = given(args, EnvConfig)
    env.setdefault("sim", COLLECT_SIM)
    config = EvalConfig(env=EnvConfig(**env), **given(args, EvalConfig))
    agent = make_agent(args.agent, **_agent_options(args, config.seed, config.batch_size))
    try:
        result = collect(agent, config, args.out, world_seeds=args.world_seeds, overwrite=args.overwrite, progress=not args.no_progress)
    finally:
        close = getattr(agent, "close", None)
        if callable(close):
            close()
    for folder, run in zip(result.folders, result.results):
        searches = sum(int(r.get("searches", 0)) for r in run.records)
        f1 = sum(r["f1"] for r in run.records) / max(1, len(run.records))
        print(f"{folder}: {len(run.records):,} episodes, {searches:,} searches, mean F1 {f1:.3f} ({run.wall_s:.1f} s)")
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"next: zerosearch simtune label {args.out} --out {args.out}/examples.jsonl")
    return 0


# ----------------------------------------------------------------------------- label


def add_label(steps: Any) -> None:
    from .labels import LabelConfig

    label = steps.add_parser(
        "label",
        help="turn trajectories into useful/noisy SFT examples (outcome, presence or judge labels), with the label balance",
        description="One example per search with documents: the released simulator chat (empty system message, the useful "
        "or noisy prompt) and the documents as the completion, written as prompt/completion jsonl with label_report.json "
        "next to it. Prints every free labeller's balance and what is wrong with it.",
    )
    label.add_argument("trajectories", nargs="+", metavar="TRAJECTORIES", help="trajectories.jsonl files, or folders searched for them (a collect --out)")
    label.add_argument("--out", required=True, metavar="FILE.jsonl", help="the examples file; label_report.json is written beside it")
    label.add_argument("--overwrite", action="store_true", help="replace an examples file already at --out")
    add_flags(label, LabelConfig, "labelling")
    label.set_defaults(func=cmd_label)


def cmd_label(args: argparse.Namespace) -> int:
    from .labels import LabelConfig, label_files

    result = label_files(args.trajectories, args.out, LabelConfig(**given(args, LabelConfig)), overwrite=args.overwrite)
    print(result.report.summary())
    print(f"wrote {result.path} ({len(result.examples):,} examples) and {result.report_path}")
    return 0


# ----------------------------------------------------------------------------- train


def add_train(steps: Any) -> None:
    from .train import SimTuneConfig

    train = steps.add_parser(
        "train",
        help="fine-tune a causal LM on the examples (documents only), full or LoRA, into a folder sim=<folder> loads",
        description="Fine-tune on the examples written by simtune label: the loss is on the documents (and the end of "
        "the reply) only. --model tiny trains a small Llama from scratch with a tokenizer learned from the examples; "
        "any other model is fine-tuned (--lora for adapters, merged when saved). On several GPUs: accelerate launch -m "
        "zerosearch_env.cli simtune train ... . The folder gets the tokenizer with its chat template, a "
        "generation_config whose end tokens stop a reply, train_log.jsonl and a model card.",
    )
    add_flags(train, SimTuneConfig, "fine-tuning")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    import os
    from contextlib import nullcontext
    from pathlib import Path

    from ..evaluation.store import folder_lock
    from .train import SimTuneConfig, train_simulator

    cfg = SimTuneConfig(**given(args, SimTuneConfig))
    first = int(os.environ.get("RANK", "0")) == 0  # under accelerate launch every process runs this; one holds the folder
    with folder_lock(Path(cfg.out_dir), "simtune train") if first else nullcontext():
        result = train_simulator(cfg, progress=not args.no_progress)
    eval_loss = "n/a" if result.eval_loss is None else f"{result.eval_loss:.4f}"
    print(
        f"trained {result.parameters:,} parameters for {result.steps:,} steps in {result.wall_s / 60:.1f} min on {result.examples:,} "
        f"examples ({result.balance}); loss on the documents: train {result.train_loss:.4f}, held-out {eval_loss}"
    )
    print(f"wrote {result.out_dir} (README.md is its model card); measure it: zerosearch fidelity {result.out_dir} --out <folder>")
    return 0


# ----------------------------------------------------------------------------- run


def add_run(steps: Any) -> None:
    from .preset import PRESETS

    run = steps.add_parser(
        "run",
        help="every step of a preset (--preset cpu-demo: collect, label, train a small simulator, measure its fidelity)",
        description="collect -> label -> train -> measure with a preset's settings, each into a sub-folder of --out "
        "(resumable), then the tuned simulator's fidelity against bm25 on the held-out world, written into its model card.",
    )
    run.add_argument("--preset", required=True, choices=sorted(PRESETS), help="the settings of every step")
    run.add_argument("--out", default="runs/simtune-cpu", help="run folder (default runs/simtune-cpu)")
    run.add_argument("--max-minutes", type=float, default=None, help="override the preset's training time budget")
    run.add_argument("--max-steps", type=int, default=None, help="override the preset's training steps")
    run.add_argument("--world-seeds", type=int, nargs="+", default=None, metavar="SEED", help="override the preset's collection worlds")
    run.add_argument("--eval-questions", type=int, default=None, help="measure on the first N held-out questions (default: the preset's)")
    run.add_argument("--overwrite", action="store_true", help="redo every step instead of resuming")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from .preset import run_preset

    overrides = {k: v for k, v in (("max_minutes", args.max_minutes), ("max_steps", args.max_steps)) if v is not None}
    result = run_preset(
        args.preset, args.out, overwrite=args.overwrite, progress=not args.no_progress,
        world_seeds=args.world_seeds, eval_questions=args.eval_questions, **overrides,
    )  # fmt: skip
    print(f"\ntuned simulator: {result.model_dir} ({result.wall_s / 60:.1f} min in all)")
    for name, value in result.figures.items():
        print(f"  {name}: {value}")
    return 0


# ----------------------------------------------------------------------------- curve


def add_curve(steps: Any) -> None:
    curve = steps.add_parser(
        "curve",
        help="fidelity of a tuned simulator's snapshots over its training time (simtune train --snapshot-minutes)",
        description="Score every snapshot a training run saved (simtune train --snapshot-minutes 5 10 20) and the final "
        "folder against bm25 on the held-out world, then write curve.json, curve.md and curve.png: answer presence, noisy "
        "leak and separation against training minutes. Each point resumes from its own folder.",
    )
    curve.add_argument("model", help="the simulator folder simtune train wrote (its snapshots are in MODEL/snapshots/)")
    curve.add_argument("--out", required=True, help="folder of the points and the curve")
    curve.add_argument(
        "--queries",
        nargs="+",
        default=[],
        metavar="TRAJECTORIES",
        help="trajectories files whose searches are queried too (zerosearch eval's trajectories.jsonl)",
    )
    curve.add_argument("--limit", type=int, default=40, help="first N held-out questions (default 40)")
    curve.add_argument("--topk", type=int, default=1, help="documents per search (default 1)")
    curve.add_argument(
        "--sim-kwargs", type=_json_object, default={}, help="transformers backend options, a JSON object (e.g. max_new_tokens, temperature, batch_size)"
    )
    curve.add_argument("--no-progress", action="store_true", help="no progress bars")
    curve.set_defaults(func=cmd_curve)


def _json_object(text: str) -> dict[str, Any]:
    from ..config_flags import parse_value

    return parse_value(text, dict[str, Any])


def cmd_curve(args: argparse.Namespace) -> int:
    from .curve import CURVE_MD, CURVE_PNG, measure_curve, render_curve

    points = measure_curve(
        args.model, args.out, queries=args.queries, limit=args.limit, topk=args.topk, sim_kwargs=args.sim_kwargs, progress=not args.no_progress
    )
    print(render_curve(points))
    print(f"wrote {args.out}/{CURVE_MD} and {CURVE_PNG}")
    return 0
