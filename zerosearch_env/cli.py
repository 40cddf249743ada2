"""The ``zerosearch`` command."""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 100


@dataclass
class EpisodeLog:
    """What ``demo`` prints about one episode."""

    question: str
    golden_answers: list[str]
    turns: list[tuple[str, str]] = field(default_factory=list)  # (who, text)
    f1: float = 0.0
    searches: int = 0
    noisy_searches: int = 0
    truncated: bool = False


def run_scripted_episode(env, agent, *, seed: int | None = None, index: int | None = None) -> EpisodeLog:
    """Play one episode of ``env`` with the scripted agent and log it."""
    options = {"index": index} if index is not None else None
    obs, info = env.reset(seed=seed, options=options)
    agent.reset()
    log = EpisodeLog(question=info["question"], golden_answers=info["golden_answers"])
    done = False
    while not done:
        action = agent.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        log.turns.append(("agent", action))
        if info["action"] == "search" and info["documents"] is not None:
            log.turns.append((f"search engine [{info['doc_quality']}]", "\n".join(info["documents"]) or "(no documents)"))
        elif info["action"] == "invalid" and not truncated:
            log.turns.append(("env", obs.strip()))
        done = terminated or truncated
    log.f1 = float(info["f1"] or 0.0)
    log.searches = info["searches"]
    log.noisy_searches = info["noisy_searches"]
    log.truncated = truncated
    return log


def _print_episode(log: EpisodeLog, title: str) -> None:
    print(f"\n── {title} " + "─" * max(0, WIDTH - len(title) - 4))
    print(textwrap.fill(f"Question: {log.question}", WIDTH))
    print(f"Golden answers: {log.golden_answers}")
    for who, text in log.turns:
        body = textwrap.indent("\n".join(textwrap.shorten(line, WIDTH - 4) for line in text.splitlines()), "    ")
        print(f"  {who}:\n{body}")
    print(f"  → F1 {log.f1:.2f}, {log.searches} search(es), {log.noisy_searches} noisy{' (truncated)' if log.truncated else ''}")


def cmd_demo(args: argparse.Namespace) -> int:
    import zerosearch_env  # noqa: F401  (registers the ids)
    import gymnasium as gym

    from .baselines import ScriptedAgent

    started = time.perf_counter()
    summary = []
    for difficulty in args.difficulties:
        env = gym.make("ZeroSearch-v0", split="test", difficulty=difficulty)
        agent = ScriptedAgent(seed=args.seed)
        logs = [run_scripted_episode(env, agent, seed=args.seed if i == 0 else None) for i in range(args.episodes)]
        for i, log in enumerate(logs[: args.show]):
            _print_episode(log, f"difficulty {difficulty:.2f} · episode {i + 1}")
        searches = sum(log.searches for log in logs)
        summary.append(
            (
                difficulty,
                sum(log.f1 for log in logs) / len(logs),
                searches / len(logs),
                sum(log.noisy_searches for log in logs) / max(1, searches),
            )
        )
        env.close()
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


def cmd_world(args: argparse.Namespace) -> int:
    from .worlds.synthetic import make_world

    world = make_world(seed=args.seed)
    paths = world.write(args.out)
    for path in paths:
        print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .import_utils import require

    for package in ("torch", "transformers", "accelerate"):
        require(package, "zerosearch train")
    from zerosearch_agents.config import config_from_args
    from zerosearch_agents.train import train

    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"zerosearch train: error: {error}", file=sys.stderr)
        return 2
    result = train(config)
    print(f"run folder: {result.out_dir} (metrics.jsonl, reward_curve.png, final/, checkpoints/)")
    return 0


def _agent_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for the agent the CLI builds, from its --agent-* flags."""
    options: dict = {}
    if args.agent == "openai":
        options.update(base_url=args.agent_url, model=args.agent_model, api=args.agent_api, concurrency=args.agent_concurrency)
        if args.agent_max_tokens is not None:
            options["max_tokens"] = args.agent_max_tokens
        if args.temperature is not None:
            options["temperature"] = args.temperature
    elif args.agent.startswith("hf:"):
        options["batch_size"] = args.batch_size
        if args.agent_max_tokens is not None:
            options["max_turn_tokens"] = args.agent_max_tokens
        if args.temperature is not None:
            options["temperature"] = args.temperature
    elif args.agent in ("scripted", "random"):
        options["seed"] = args.seed
    for item in args.agent_arg:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"zerosearch eval: error: --agent-arg expects key=value, got {item!r}")
        options[key] = _literal(value)
    return options


def _literal(text: str):
    """``--agent-arg`` values: JSON when they parse (numbers, true, lists), else the string."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import EvalConfig, make_agent, run_eval
    from .evaluation.report import PLOT, REPORT, format_table

    config = EvalConfig(
        dataset=args.dataset,
        split=args.split,
        sim=args.sim,
        corpus=args.corpus,
        difficulty=args.difficulty,
        max_turns=args.max_turns,
        topk=args.topk,
        limit=args.limit,
        sample=args.sample,
        seed=args.seed,
        batch_size=args.batch_size,
        sim_backend=args.sim_backend,
        prompt_template=args.prompt_template,
    )
    agent = make_agent(args.agent, **_agent_options(args))
    try:
        result = run_eval(agent, config, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    finally:
        close = getattr(agent, "close", None)
        if callable(close):
            close()
    resumed = f" ({result.resumed_episodes} resumed from {args.out})" if result.resumed_episodes else ""
    print(
        f"\n{getattr(agent, 'name', args.agent)} on {args.dataset} (sim={args.sim}, difficulty {args.difficulty}): "
        f"{len(result.records)} episodes in {result.wall_s:.1f} s{resumed}"
    )
    print(format_table(result.summaries))
    if result.out_dir is not None:
        print(f"\nwrote {result.out_dir}/trajectories.jsonl, metrics.json, {REPORT}, {PLOT}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zerosearch",
        description="ZeroSearch as a Gymnasium environment: simulators, curriculum, F1 reward.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="play a few episodes on the built-in synthetic world with the scripted agent")
    demo.add_argument("--episodes", type=int, default=40, help="episodes per difficulty for the summary (default 40)")
    demo.add_argument("--show", type=int, default=2, help="transcripts printed per difficulty (default 2)")
    demo.add_argument("--difficulties", type=float, nargs="+", default=[0.0, 0.5], help="noise probabilities to compare")
    demo.add_argument("--seed", type=int, default=0, help="seed of the first reset")
    demo.set_defaults(func=cmd_demo)

    sims = commands.add_parser("sims", help="list the simulators that sim= accepts, with size and Hugging Face id")
    sims.set_defaults(func=cmd_sims)

    world = commands.add_parser("world", help="write the synthetic world (corpus.jsonl, train.jsonl, test.jsonl) to a folder")
    world.add_argument("out", help="output folder")
    world.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
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
    evaluate.add_argument("--dataset", default="synthetic", help="a .parquet/.jsonl/.json file, a FlashRAG folder, a Hugging Face id, or synthetic (default)")
    evaluate.add_argument("--split", default=None, help="split to read (default: test for synthetic, every row of a file)")
    evaluate.add_argument("--sim", default="corpus", help="search engine: bm25 or retriever:<url> (real, answer-blind), corpus, sft-7b, ... (default corpus)")
    evaluate.add_argument("--sim-backend", default=None, help="vllm, hf or openai for LLM simulators")
    evaluate.add_argument("--corpus", default=None, help="FlashRAG jsonl corpus for --sim bm25/corpus (the synthetic world's by default)")
    evaluate.add_argument("--difficulty", type=float, default=0.0, help="noise probability of simulated searches (default 0)")
    evaluate.add_argument("--max-turns", type=int, default=5, help="search rounds per episode (default 5)")
    evaluate.add_argument("--topk", type=int, default=5, help="documents per search (default 5)")
    evaluate.add_argument("--prompt-template", default=None, help="a policy prompt with a {question} field (default: the dataset's or ZeroSearch's)")
    evaluate.add_argument("--limit", type=int, default=None, help="evaluate the first N (selected) rows")
    evaluate.add_argument("--sample", type=int, default=None, help="draw N rows at random with --seed first")
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the episodes, the sample and the intervals (default 0)")
    evaluate.add_argument("--batch-size", type=int, default=64, help="episodes played together (default 64)")
    evaluate.add_argument("--out", default=None, help="run folder: trajectories.jsonl, metrics.json, report.md, scores.png (resumable)")
    evaluate.add_argument("--overwrite", action="store_true", help="start the --out folder again instead of resuming it")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    evaluate.set_defaults(func=cmd_eval)

    from zerosearch_agents.train import build_parser as build_train_parser

    train = commands.add_parser(
        "train",
        help="train a search agent (GRPO, PPO, REINFORCE); --preset cpu-demo runs on a laptop CPU",
        description="Train a search agent. Start from --preset or --config; every field below overrides it.",
    )
    build_train_parser(train)
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import ZeroSearchError

    try:
        return args.func(args)
    except ZeroSearchError as error:
        print(f"zerosearch {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
