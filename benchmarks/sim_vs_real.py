"""The paper's simulator-vs-real-search table in miniature, on the CPU demo.

ZeroSearch trains one policy against several search engines (Google, prompt-based
simulators, fine-tuned simulators) and evaluates every trained policy against real
search. This script does the same at CPU scale. The CPU-demo preset (a tiny Llama,
behaviour-cloning warm start, 60 GRPO steps) is trained with the same settings and seed
against each engine; only the training engine changes (``env.sim``, and for an LLM its
backend and options). The scripted demonstrations of the warm start are played against
that engine too, as in every run of the preset. Each final policy then plays the
synthetic world's held-out questions against ``bm25``, which sees only the query, with
the settings of the CPU demo's evaluation (greedy, top-1, 3 turns, 24 tokens a turn).
``zerosearch fidelity`` scores each engine against bm25 on the same questions and on
the scripted agent's searches of them, at top-1.

    python benchmarks/sim_vs_real.py                                  # (a), (b) and the untrained tiny LLM
    python benchmarks/sim_vs_real.py --tuned runs/simtune-cpu/model   # adds (c); saved rows are reused
    python benchmarks/sim_vs_real.py --quick --out-dir .ci-runs/sim-vs-real   # CI: 2 steps, 16 questions
    python benchmarks/sim_vs_real.py --short --prompt-model smollm2-135m --tuned runs/simtune-smol5/model   # real models

``--short`` is the miniature for simulators a CPU cannot afford 16,000 searches of (a real
instruct model answers about 2 searches a second on 2 cores): the preset cut to 12 GRPO
steps of 16 questions x 8 rollouts and demonstrations on the first 512 training questions
(:data:`SHORT`), every engine retrained on that shortening, bm25 included, and fidelity
on the first 40 held-out questions. It keeps its own table (``sim_vs_real_short.*``
and the section of ``docs/sim-vs-real.md`` between ``<!-- sim-vs-real-short:start -->`` and ``<!-- sim-vs-real-short:end -->``).

The engines (``--engines`` picks some):
- ``bm25`` (a): the real engine. It has no noisy mode, so the curriculum changes nothing.
- ``corpus`` (b): the corpus simulator with the preset's curriculum (noise 0 -> 0.5).
- ``tuned`` (c): ``--tuned FOLDER``, a simulator tuned from real-search trajectories
  (``zerosearch simtune``), on the transformers backend (:data:`TUNED_KWARGS`; give
  ``--llm-kwargs`` with ``--engines tuned`` to change them without retraining the random-init row).
- ``random-llm``: a random-init tiny Llama in the same place: what an LLM simulator gives
  before any tuning, and what a transformers simulator in the loop costs in time.
- ``prompt`` (d): an untuned instruct model in the prompt-based role (``--prompt-model``).
  Not run unless a model is given: see :data:`PROMPT_NOT_RUN`.

Every row is saved in the JSON with the settings it ran under. A later call trains only
the engines that are missing or whose settings changed (``--force`` retrains the asked
ones), so adding (c) does not retrain (a) and (b). The full mode writes
``benchmarks/results/sim_vs_real.{md,json}`` and the section of ``docs/sim-vs-real.md`` between
``<!-- sim-vs-real:start -->`` and ``<!-- sim-vs-real:end -->``; ``--quick`` writes
beside its runs only.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- sim-vs-real:start -->", "<!-- sim-vs-real:end -->"
SHORT_MARKERS = ("<!-- sim-vs-real-short:start -->", "<!-- sim-vs-real-short:end -->")
PRESET = "cpu-demo"
ORDER = ("bm25", "corpus", "tuned", "random-llm", "prompt")
#: How the quick mode shortens the preset (the CI line of the CPU demo does the same).
QUICK = {"steps": 2, "questions_per_step": 8, "bc_steps": 20, "eval_questions": 16, "eval_every": 0}
#: How the short mode shortens it, for real-model simulators (2,250 searches in the tuned row's run).
SHORT = {"steps": 12, "questions_per_step": 16, "group_size": 8, "bc_questions": 512, "eval_questions": 50, "eval_every": 0}
QUESTIONS = {"full": 200, "quick": 16, "short": 200}  # held-out questions of the bm25 evaluation
FIDELITY_QUESTIONS = {"full": 200, "quick": 16, "short": 40}  # held-out questions of fidelity (and the scripted agent's searches of them)
#: The prompt-based row's prompt (``--prompt-mode``): the small-model prompt measures better on SmolLM2-135M.
PROMPT_MODE = "prompt-small"
#: The transformers simulators' options: one top-1 document fits in 64 new tokens; a tuned
#: simulator gets 128, as ``zerosearch simtune run --preset cpu-demo`` measures it (it stops at its end token).
LLM_KWARGS = {"max_new_tokens": 64, "batch_size": 64, "temperature": 0.8}
TUNED_KWARGS = {"max_new_tokens": 128, "batch_size": 64, "temperature": 0.8}
QUICK_LLM_KWARGS = {"max_new_tokens": 16, "batch_size": 256, "temperature": 0.8}
TUNED_NOT_RUN = "not run yet: `python benchmarks/sim_vs_real.py --tuned <zerosearch simtune model folder>` trains it and keeps the rows above."
PROMPT_NOT_RUN = (
    "not run in this table: at about 2 searches/s on 2 cores a real instruct model cannot afford the preset's 16,000-odd "
    "searches (over 2 hours). The short table below retrains every engine on a shortening of the preset, (d) included."
)
SHORT_PROMPT_NOT_RUN = (
    "not run yet: `python benchmarks/sim_vs_real.py --short --prompt-model smollm2-135m --engines prompt` trains it "
    "(about 2,250 searches of the real model, as the tuned row made in 53 minutes beside other jobs)."
)
#: The paper's comparison of training engines: average EM over its QA benchmarks (the
#: reference's EM, which is cover-EM), every policy evaluated against real search.
PAPER = (
    ("Google search (the real engine)", "32.81"),
    ("prompt-based simulator, 3B / 7B / 14B", "29.44 / 31.39 / 31.50"),
    ("fine-tuned (SFT) simulator, 3B / 7B / 14B", "30.47 / 33.53 / 34.47"),
)


@dataclass
class EngineSpec:
    """One training engine: a ``sim=`` and, for an LLM, its backend and options."""

    key: str
    label: str
    sim: str
    sim_backend: str | None = None
    sim_kwargs: dict[str, Any] = field(default_factory=dict)
    describe: dict[str, Any] = field(default_factory=dict)  # what names the engine in a row's identity (a folder's contents)

    def overrides(self) -> dict[str, Any]:
        return {"sim": self.sim, "sim_backend": self.sim_backend, "sim_kwargs": dict(self.sim_kwargs)}

    def identity(self) -> dict[str, Any]:
        return {"sim": self.describe.get("sim", self.sim), "sim_backend": self.sim_backend, "sim_kwargs": self.sim_kwargs, **self.describe}


def folder_digest(path: Path) -> str:
    """A digest of a model folder's files (names and bytes), less its model card (``*.md``,
    rewritten when its fidelity is measured): a retrained folder is a new engine."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".md"):
        digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def engine_specs(args: argparse.Namespace, out_dir: Path) -> list[EngineSpec]:
    """The engines this call may train, in table order."""
    from zerosearch_env.testing import build_tiny_llama

    given = json.loads(args.llm_kwargs) if args.llm_kwargs else None
    llm_kwargs = given or (QUICK_LLM_KWARGS if args.quick else LLM_KWARGS)
    tuned_kwargs = given or (QUICK_LLM_KWARGS if args.quick else TUNED_KWARGS)
    specs = [
        EngineSpec("bm25", "(a) bm25, the real engine", "bm25"),
        EngineSpec("corpus", "(b) corpus simulator, curriculum 0 -> 0.5", "corpus"),
    ]
    if args.tuned:
        tuned = Path(args.tuned)
        if not (tuned / "config.json").is_file():
            raise SystemExit(f"--tuned expects a model folder (config.json, weights, tokenizer), got {tuned}")
        name = f"{tuned.parent.name}/{tuned.name}" if tuned.name == "model" else tuned.name  # simtune's model folders are all called model
        named = {"sim": f"model folder {tuned.name}", "folder_sha256": folder_digest(tuned)}  # its contents, wherever it lies
        specs.append(EngineSpec("tuned", f"(c) tuned simulator `{name}`", str(tuned), "hf", tuned_kwargs, named))
    random_llm = out_dir / "random-llm-sim"
    if not (random_llm / "config.json").is_file():
        build_tiny_llama(random_llm, seed=0)
    named = {"sim": "random-init tiny Llama (zerosearch_env.testing.build_tiny_llama, seed 0)"}
    specs.append(EngineSpec("random-llm", "random-init tiny Llama (no tuning)", str(random_llm), "hf", llm_kwargs, named))
    if args.prompt_model:
        prompt_kwargs = {**llm_kwargs, "mode": args.prompt_mode}
        specs.append(EngineSpec("prompt", f"(d) prompt-based `{args.prompt_model}` ({args.prompt_mode})", f"prompt:{args.prompt_model}", "hf", prompt_kwargs))
    return specs


# ----------------------------------------------------------------------------- one engine


def real_env(cfg: Any) -> Any:
    """The evaluation's environment: the training env's settings, against bm25, on the test split."""
    return dataclasses.replace(cfg.env, sim="bm25", sim_backend=None, sim_kwargs={}, split=None)


def train_and_evaluate(spec: EngineSpec, settings: dict[str, Any], out_dir: Path, *, progress: bool) -> dict[str, Any]:
    """Train the preset against ``spec``, evaluate the final policy against bm25; the row."""
    from zerosearch_agents.config import make_config
    from zerosearch_agents.train import train
    from zerosearch_env.evaluation import EvalConfig, make_agent, run_eval

    run_dir = out_dir / spec.key
    cfg = make_config(PRESET, out_dir=str(run_dir), **spec.overrides(), **settings["overrides"])
    if run_dir.exists():  # a fresh run, not a resume of an older one
        shutil.rmtree(run_dir)
    load_before = os.getloadavg()[0]
    result = train(cfg, progress=progress)
    usage = {u["sim"]: u for u in json.loads((run_dir / "sim_usage.json").read_text())["simulators"]}

    agent = make_agent(f"hf:{run_dir / 'final'}", max_turn_tokens=cfg.max_turn_tokens, max_total_tokens=cfg.max_total_tokens)
    evaluation = run_eval(
        agent, EvalConfig(real_env(cfg), limit=settings["questions"], seed=cfg.seed), run_dir / "eval-bm25", overwrite=True, progress=progress
    )
    overall = evaluation.summaries[-1]
    steps = result.history
    return {
        "key": spec.key,
        "label": spec.label,
        "engine": spec.overrides(),
        "identity": {"engine": spec.identity(), **settings},
        "eval_bm25": {
            **{k: [getattr(overall, k).mean, getattr(overall, k).low, getattr(overall, k).high] for k in ("f1", "em", "cover_em")},
            "episodes": overall.episodes,
            "searches_per_episode": overall.searches_per_episode,
            "invalid_action_rate": overall.invalid_action_rate,
            "truncation_rate": overall.truncation_rate,
            "wall_s": evaluation.wall_s,
        },
        "per_question": {k: [float(r[k]) for r in sorted(evaluation.records, key=lambda r: r["index"])] for k in ("f1", "em", "cover_em")},
        "own_engine": {"before_rl": result.eval_before, "after_rl": result.eval_after},
        "train_wall_s": result.wall_s,
        "sim_usage": usage,
        "rollout_s_per_step": sum(h["rollout_s"] for h in steps) / max(1, len(steps)),
        "sim_s_per_step": sum(h["sim_wall_s"] for h in steps) / max(1, len(steps)),
        "train_searches_per_episode_last10": sum(h["searches_per_episode"] for h in steps[-10:]) / max(1, len(steps[-10:])),
        "load_average": [load_before, os.getloadavg()[0]],
    }


def scripted_queries(cfg_env: Any, questions: int, out_dir: Path, *, progress: bool) -> Path:
    """The scripted agent's searches of the held-out questions against bm25 (fidelity's
    queries besides the questions): what a policy cloned from it asks."""
    from zerosearch_env.evaluation import EvalConfig, make_agent, run_eval

    folder = out_dir / "scripted-bm25"
    run_eval(make_agent("scripted"), EvalConfig(cfg_env, limit=questions), folder, overwrite=True, progress=progress)
    return folder / "trajectories.jsonl"


def fidelity_scores(spec: EngineSpec, queries: Path, questions: int, out_dir: Path, *, progress: bool) -> dict[str, Any]:
    """``zerosearch fidelity`` of one engine against bm25 at top-1: the scores the table shows."""
    from zerosearch_env.evaluation import Engine, FidelityConfig, run_fidelity

    config = FidelityConfig(topk=1, limit=questions, queries=[str(queries)])
    result = run_fidelity([Engine(spec.sim, spec.sim_backend, dict(spec.sim_kwargs))], config, out_dir / "fidelity", progress=progress)
    scores = result.engines[0]
    useful = scores.mode("useful") or scores.mode("any")
    noisy = scores.mode("noisy")

    def interval(value: Any) -> list[float] | None:
        return None if value is None else [value.mean, value.low, value.high]

    return {
        "searches": scores.searches,
        "format_valid": interval(useful.format_valid),
        "presence_useful": interval(useful.answer_presence),
        "leak_noisy": interval(noisy.answer_presence) if noisy else None,
        "separation": interval(scores.separation) if noisy else None,
        "overlap": interval(useful.overlap),
        "reader_f1_useful": interval(useful.reader_f1),
        "reader_f1_noisy": interval(noisy.reader_f1) if noisy else None,
        "reference_reader_f1": interval(useful.reference_reader_f1),
    }


# ----------------------------------------------------------------------------- the table


def paired_difference(row: dict[str, Any], base: dict[str, Any], key: str = "f1", seed: int = 0) -> list[float] | None:
    """``row``'s per-question ``key`` minus ``base``'s on the same questions, with a 95%
    paired bootstrap interval; None when the two rows were not played on the same questions.

    >>> paired_difference({"per_question": {"f1": [1.0, 1.0, 0.0]}}, {"per_question": {"f1": [0.0, 1.0, 0.0]}})[0]
    0.3333333333333333
    """
    from zerosearch_env.evaluation import bootstrap_interval

    ours, theirs = row["per_question"][key], base["per_question"][key]
    if len(ours) != len(theirs) or not ours:
        return None
    interval = bootstrap_interval([a - b for a, b in zip(ours, theirs)], seed=seed)
    return [interval.mean, interval.low, interval.high]


def _iv(values: list[float] | None, digits: int = 3) -> str:
    if values is None:
        return "—"
    mean, low, high = values
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _signed(values: list[float] | None) -> str:
    return "—" if values is None else f"{values[0]:+.3f} [{values[1]:+.3f}, {values[2]:+.3f}]"


def _tokens(usage: dict[str, Any]) -> tuple[int, int, int, float]:
    searches = sum(u["searches"] for u in usage.values())
    prompt = sum(u["prompt_tokens"] for u in usage.values())
    completion = sum(u["completion_tokens"] for u in usage.values())
    return searches, prompt, completion, sum(u["sim_wall_s"] for u in usage.values())


def render(rows: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown of the page section: the table, the fidelity scores, the paper's anchor."""
    ordered = [rows[k] for k in ORDER if k in rows] + [rows[k] for k in rows if k not in ORDER]
    base = rows.get("bm25")
    lines = [
        (
            f"Measured on {meta['machine']}: the `{PRESET}` preset ({meta['overrides_text']}), seed {meta['seed']}, "
            f"each policy evaluated greedily on the first {meta['questions']} held-out questions against `bm25` "
            "(top-1, 3 turns), 95% bootstrap intervals; the F1 difference to the bm25-trained policy is paired by question."
        ),
        "",
        "| trained against | F1 on bm25 | cover-EM on bm25 | strict EM | F1 − (a), paired | searches/episode | F1 on its own engine | training wall time | simulator searches | simulator tokens (prompt + completion) | time in the simulator |",  # noqa: RUF001 - a typographic minus in the table heading
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in ordered:
        ev = row["eval_bm25"]
        searches, prompt, completion, sim_s = _tokens(row["sim_usage"])
        diff = "—" if base is None or row is base else _signed(paired_difference(row, base))
        own = row["own_engine"].get("after_rl", {}).get("f1")
        lines.append(
            f"| {row['label']} | {_iv(ev['f1'])} | {_iv(ev['cover_em'])} | {ev['em'][0]:.3f} | {diff} | {ev['searches_per_episode']:.2f} | "
            f"{'—' if own is None else f'{own:.3f}'} | {row['train_wall_s'] / 60:.1f} min | {searches:,} | {prompt:,} + {completion:,} | {sim_s:.0f} s |"
        )
    notes = []
    if "tuned" not in rows:
        lines.append("| (c) tuned simulator | not run yet (see below) | | | | | | | | | |")
        notes.append(f"(c) {TUNED_NOT_RUN}")
    if "prompt" not in rows:
        lines.append("| (d) untuned LLM, prompt-based | not run (see below) | | | | | | | | | |")
        notes.append(f"(d) {SHORT_PROMPT_NOT_RUN if meta.get('mode') == 'short' else PROMPT_NOT_RUN}")
    lines += ["", *(f"- {note}" for note in notes), ""]
    lines += [part for line in slowdown_lines(rows) for part in (line, "")]
    lines += [
        (
            f"Fidelity of each training engine against bm25 (`zerosearch fidelity`, top-1, the first {meta.get('fidelity_questions', meta['questions'])} questions "
            "and the scripted agent's searches of them, scripted reader):"
        ),
        "",
    ]
    lines += [
        "| engine | format valid | answer presence (useful) | leak (noisy) | separation | overlap with bm25 | reader F1 (useful) | reader F1 (noisy) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in ordered:
        f = row.get("fidelity")
        if f:
            lines.append(
                f"| {row['label']} | {_iv(f['format_valid'])} | {_iv(f['presence_useful'])} | {_iv(f['leak_noisy'])} | {_iv(f['separation'])} | "
                f"{_iv(f['overlap'])} | {_iv(f['reader_f1_useful'])} | {_iv(f['reader_f1_noisy'])} |"
            )
    lines += [
        "",
        "The paper's anchor: average EM of policies trained against each engine, every one evaluated against real search (the reference's EM, i.e. cover-EM, in %):",
        "",
        "| training engine | average EM |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in PAPER),
    ]
    return "\n".join(lines)


def slowdown_lines(rows: dict[str, dict[str, Any]]) -> list[str]:
    """What a transformers simulator in the loop costs, against the corpus simulator's run.

    Whole-run wall times mislead: a policy that learns to stop searching (as one trained
    against a useless engine does) makes fewer searches. So the cost is given per search,
    then projected onto the corpus run's searches."""
    corpus = rows.get("corpus")
    if corpus is None:
        return []
    base_searches, _, _, base_s = _tokens(corpus["sim_usage"])
    base_wall = corpus["train_wall_s"]
    out = []
    for key in ("tuned", "random-llm", "prompt"):
        row = rows.get(key)
        if row is None:
            continue
        searches, _, completion, sim_s = _tokens(row["sim_usage"])
        per_search = sim_s / max(searches, 1)
        added = base_searches * (per_search - base_s / max(base_searches, 1))
        out.append(
            f"A transformers simulator in the loop ({row['label']}, `{json.dumps(row['engine']['sim_kwargs'])}`) answered "
            f"{searches:,} searches in {sim_s:.0f} s: {per_search * 1000:.1f} ms a search ({completion / max(searches, 1):.0f} new tokens each), "
            f"against {base_s / max(base_searches, 1) * 1000:.2f} ms for `corpus`. At the corpus run's {base_searches:,} searches that adds "
            f"{added / 60:.1f} min to its {base_wall / 60:.1f} min (x{(base_wall + added) / base_wall:.2f}). Its own run took "
            f"{row['train_wall_s'] / 60:.1f} min, with {row['train_searches_per_episode_last10']:.2f} searches per training episode "
            f"over the last 10 steps against {corpus['train_searches_per_episode_last10']:.2f} for `corpus`."
        )
    loads = [f"{row['key']} {row['load_average'][0]:.1f} -> {row['load_average'][1]:.1f}" for row in rows.values() if "load_average" in row]
    if loads:
        out.append(
            "Wall times are of a 2-core machine shared with other jobs (1-minute load average at the start and end of each "
            f"training: {', '.join(loads)}), so they vary by a minute or two from run to run."
        )
    return out


# ----------------------------------------------------------------------------- files


def engines_to_train(
    specs: list[EngineSpec], rows: dict[str, dict[str, Any]], asked: list[str], settings: dict[str, Any], *, force: bool = False
) -> list[EngineSpec]:
    """The asked engines without a saved row of the same settings (all asked ones with ``force``)."""

    def saved(spec: EngineSpec) -> bool:
        row = rows.get(spec.key)
        return row is not None and row["identity"] == json.loads(json.dumps({"engine": spec.identity(), **settings}))

    return [spec for spec in specs if spec.key in asked and (force or not saved(spec))]


def load_rows(path: Path) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text())["rows"] if path.is_file() else {}


def write_json(path: Path, rows: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    """The whole file, written to a temporary one and renamed over it (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    os.replace(partial, path)


def replace_readme_section(markdown: str, readme: Path = ROOT / "docs" / "sim-vs-real.md", markers: tuple[str, str] = (START, END)) -> bool:
    """Put ``markdown`` between the markers (re-read just before writing); False without them."""
    start, end = markers
    text = readme.read_text()
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    partial = readme.with_suffix(".md.partial")
    partial.write_text(f"{head}{start}\n{markdown}\n{end}{rest.split(end, 1)[1]}")
    os.replace(partial, readme)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tuned", help="a tuned simulator folder (zerosearch simtune's model): row (c)")
    parser.add_argument("--prompt-model", help="an instruct model folder or cached hub id for the prompt-based row (d)")
    parser.add_argument("--engines", help=f"comma-separated engines to train ({', '.join(ORDER)}); default: every configured one")
    parser.add_argument("--force", action="store_true", help="retrain the asked engines even if a saved row has the same settings")
    parser.add_argument(
        "--llm-kwargs", help=f"JSON options of every transformers simulator (default {json.dumps(LLM_KWARGS)}; the tuned one {json.dumps(TUNED_KWARGS)})"
    )
    parser.add_argument("--prompt-mode", default=PROMPT_MODE, help=f"the prompt-based row's prompt: prompt or prompt-small (default {PROMPT_MODE})")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--quick", action="store_true", help=f"a shortened run for CI ({QUICK}, {QUESTIONS['quick']} questions); writes beside its runs only")
    modes.add_argument("--short", action="store_true", help=f"the preset shortened for real-model simulators ({SHORT}); its own table and page section")
    parser.add_argument("--out-dir", help="run folders (default runs/sim-vs-real, runs/sim-vs-real-quick with --quick, runs/sim-vs-real-short with --short)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "short" if args.short else "full"
    out_dir = Path(args.out_dir or ROOT / "runs" / {"quick": "sim-vs-real-quick", "short": "sim-vs-real-short", "full": "sim-vs-real"}[mode])
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir if args.quick else RESULTS
    stem = "sim_vs_real_short" if args.short else "sim_vs_real"
    json_path = results / f"{stem}.json"
    specs = engine_specs(args, out_dir)
    asked = args.engines.split(",") if args.engines else [s.key for s in specs]
    unknown = sorted(set(asked) - {s.key for s in specs})
    if unknown:
        raise SystemExit(
            f"--engines: {unknown} are not configured here (tuned needs --tuned, prompt needs --prompt-model); configured: {[s.key for s in specs]}"
        )

    from zerosearch_agents.config import make_config

    overrides = {"quick": QUICK, "short": SHORT, "full": {}}[mode]
    cfg = make_config(PRESET, **overrides)
    settings = {"preset": PRESET, "mode": mode, "overrides": overrides, "questions": QUESTIONS[mode], "seed": cfg.seed}
    if mode == "short":  # (the other modes' rows were saved without it: their identity stays the same)
        settings["fidelity_questions"] = FIDELITY_QUESTIONS[mode]
    fidelity_questions = FIDELITY_QUESTIONS[mode]
    progress = not args.no_progress
    rows = load_rows(json_path)
    queries = scripted_queries(real_env(cfg), fidelity_questions, out_dir, progress=progress)
    for spec in engines_to_train(specs, rows, asked, settings, force=args.force):
        print(f"== {spec.label}: training against {spec.sim}", flush=True)
        started = time.perf_counter()
        row = train_and_evaluate(spec, settings, out_dir, progress=progress)
        row["fidelity"] = fidelity_scores(spec, queries, fidelity_questions, out_dir / spec.key, progress=progress)
        rows = {**load_rows(json_path), spec.key: row}  # re-read: another call may have saved rows meanwhile
        meta = {
            "mode": mode,
            "machine": f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)",
            "seed": cfg.seed,
            "questions": settings["questions"],
            "fidelity_questions": fidelity_questions,
            "overrides_text": ", ".join(f"{k} {v}" for k, v in overrides.items()) or "as it is",
        }
        write_json(json_path, rows, meta)  # after every engine: a killed call keeps the rows it finished
        ev = row["eval_bm25"]
        minutes = (time.perf_counter() - started) / 60
        print(f"== {spec.label}: F1 on bm25 {_iv(ev['f1'])}, {ev['searches_per_episode']:.2f} searches/episode, {minutes:.1f} min", flush=True)

    meta = json.loads(json_path.read_text())["meta"] if json_path.is_file() else None
    if meta is None:
        print("no rows yet")
        return 1
    meta["mode"] = mode
    rows = load_rows(json_path)  # every saved row, this call's and any other's
    markdown = render(rows, meta)
    (results / f"{stem}.md").write_text(markdown + "\n")
    markers = SHORT_MARKERS if args.short else (START, END)
    if not args.quick and not replace_readme_section(markdown, markers=markers):
        print(f"docs/sim-vs-real.md has no {markers[0]} ... {markers[1]} section; the table is in {results / f'{stem}.md'}")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
