"""Run a CPU training preset and put its result in the documentation.

    python benchmarks/cpu_demo.py                              # zerosearch train --preset cpu-demo
    python benchmarks/cpu_demo.py --preset cpu-smol-policy     # SmolLM2-135M-Instruct as the policy (about 35 min)
    python benchmarks/cpu_demo.py --preset cpu-smol-policy --from-run runs/cpu-smol-policy   # render a finished run

Writes ``benchmarks/results/<preset>.md`` (held-out scores of the warm start and of the
RL policy, the held-out F1 along the way, wall time, update tokens/s, peak memory),
copies the reward curve to ``docs/assets/<preset>_curve.png``, and replaces the section
between ``<!-- <preset>:start -->`` and ``<!-- <preset>:end -->`` of the page that holds
it (the README for cpu-demo, ``docs/training.md`` for cpu-smol-policy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "docs" / "assets"  # the plots the README and the documentation show
PRESETS = ("cpu-demo", "cpu-smol-policy")
ROWS = (
    ("f1", "F1"), ("em", "strict EM"), ("cover_em", "cover-EM"), ("searches_per_episode", "searches per episode"),
    ("answered_rate", "answered"), ("invalid_turn_rate", "invalid turns"),
)  # fmt: skip


def section_page(marker: str) -> Path | None:
    """The README or documentation page that holds ``marker``, if any."""
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        if marker in page.read_text():
            return page
    return None


def render(preset: str, cfg, before: dict, after: dict, history: list[dict], wall_s: float, peak_rss_gib: float | None) -> str:
    """The section's markdown, the reward curve's line apart (its path depends on the page)."""
    tokens_per_s = [h["update_tokens_per_s"] for h in history if "update_tokens_per_s" in h]
    rollout_s = [h["rollout_s"] for h in history]
    lines = [
        f"Measured on {platform.processor() or platform.machine()} ({os.cpu_count()} cores), "
        f"{cfg.eval_questions} held-out questions, greedy decoding, noise probability {cfg.eval_difficulty}:",
        "",
        "| held-out metric | warm start (behaviour cloning) | after GRPO | change |",
        "|---|---:|---:|---:|",
    ]
    for key, name in ROWS:
        if key in before and key in after:
            lines.append(f"| {name} | {before[key]:.3f} | {after[key]:.3f} | {after[key] - before[key]:+.3f} |")
    if after.get("f1"):
        share = (after["f1"] - before["f1"]) / after["f1"]
        searched = "searches" if before.get("searches_per_episode", 0) >= 0.5 else "answers without searching"
        lines += ["", f"GRPO's share of the final held-out F1: {share:.0%} (the warm start {searched})."]
    along = [(h["step"] + 1, h["eval_f1"]) for h in history if "eval_f1" in h]
    if along:
        points = ", ".join([f"{before['f1']:.3f} before RL", *(f"{f1:.3f} after {step} steps" for step, f1 in along), f"{after['f1']:.3f} at the end"])
        lines += ["", f"Held-out F1 along the way: {points}."]
    memory = f", peak resident memory {peak_rss_gib:.1f} GiB" if peak_rss_gib else ""
    lines += [
        "",
        f"Wall time {wall_s / 60:.1f} min for the whole run ({cfg.bc_steps:,} behaviour-cloning steps, {cfg.steps} GRPO steps of "
        f"{cfg.questions_per_step} questions x {cfg.group_size} rollouts, evaluations included); "
        f"update step {sum(tokens_per_s) / max(len(tokens_per_s), 1):,.0f} tokens/s, rollouts {sum(rollout_s) / max(len(rollout_s), 1):.1f} s per step{memory}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="cpu-demo")
    parser.add_argument("--from-run", help="render a finished run folder of the preset instead of training")
    args = parser.parse_args(argv)

    from zerosearch_agents.config import make_config
    from zerosearch_agents.train import read_history, train

    if args.from_run:
        out_dir = Path(args.from_run)
    else:
        out_dir = ROOT / "runs" / args.preset
        if out_dir.exists():
            shutil.rmtree(out_dir)
        train(make_config(args.preset, out_dir=str(out_dir)))
    cfg = make_config(**json.loads((out_dir / "config.json").read_text()))  # the run's own settings, overrides included
    summary = json.loads((out_dir / "summary.json").read_text())
    history = read_history(out_dir / "metrics.jsonl")
    stem = args.preset.replace("-", "_")
    RESULTS.mkdir(parents=True, exist_ok=True)
    curve = ASSETS / f"{stem}_curve.png"
    shutil.copy(out_dir / "reward_curve.png", curve)
    table = render(args.preset, cfg, summary["eval_before"], summary["eval_after"], history, summary["wall_s"], summary.get("peak_rss_gib"))

    def markdown(folder: Path) -> str:  # the curve's path is relative to the file the section goes in
        return f"{table}\n\n![{args.preset} reward curve]({os.path.relpath(curve, folder)})"

    (RESULTS / f"{stem}.md").write_text(markdown(RESULTS) + "\n")
    start, end = f"<!-- {args.preset}:start -->", f"<!-- {args.preset}:end -->"
    page = section_page(start)
    if page is not None:
        head, rest = page.read_text().split(start, 1)
        page.write_text(f"{head}{start}\n{markdown(page.parent)}\n{end}{rest.split(end, 1)[1]}")
    print(markdown(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
