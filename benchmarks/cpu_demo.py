"""Run the CPU demo (``zerosearch train --preset cpu-demo``) and put its result in the README.

    python benchmarks/cpu_demo.py

Writes ``benchmarks/results/cpu_demo.md`` (held-out scores of the warm start and of
the RL policy, wall time, update tokens/s), copies the reward curve to
``benchmarks/results/cpu_demo_curve.png``, and replaces the README section between
``<!-- cpu-demo:start -->`` and ``<!-- cpu-demo:end -->``.
"""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- cpu-demo:start -->", "<!-- cpu-demo:end -->"
ROWS = (("f1", "F1"), ("em", "strict EM"), ("cover_em", "cover-EM"), ("searches_per_episode", "searches per episode"), ("answered_rate", "answered"))


def render(result, cfg) -> str:
    before, after = result.eval_before, result.eval_after
    tokens_per_s = [h["update_tokens_per_s"] for h in result.history if "update_tokens_per_s" in h]
    rollout_s = [h["rollout_s"] for h in result.history]
    lines = [
        f"Measured on {platform.processor() or platform.machine()} ({__import__('os').cpu_count()} cores), "
        f"{cfg.eval_questions} held-out questions, greedy decoding, noise probability {cfg.eval_difficulty}:",
        "",
        "| held-out metric | warm start (behaviour cloning) | after GRPO | change |",
        "|---|---:|---:|---:|",
    ]
    for key, name in ROWS:
        if key in before and key in after:
            lines.append(f"| {name} | {before[key]:.3f} | {after[key]:.3f} | {after[key] - before[key]:+.3f} |")
    if after.get("f1"):
        lines += ["", f"GRPO's share of the final held-out F1: {(after['f1'] - before['f1']) / after['f1']:.0%} (the warm start answers without searching)."]
    lines += [
        "",
        f"Wall time {result.wall_s / 60:.1f} min for the whole run ({cfg.bc_steps:,} behaviour-cloning steps, {cfg.steps} GRPO steps of "
        f"{cfg.questions_per_step} questions x {cfg.group_size} rollouts, evaluations included); "
        f"update step {sum(tokens_per_s) / max(len(tokens_per_s), 1):,.0f} tokens/s, rollouts {sum(rollout_s) / max(len(rollout_s), 1):.1f} s per step.",
        "",
        "![cpu-demo reward curve](benchmarks/results/cpu_demo_curve.png)",
    ]
    return "\n".join(lines)


def main() -> int:
    from zerosearch_agents.config import make_config
    from zerosearch_agents.train import train

    cfg = make_config("cpu-demo", out_dir=str(ROOT / "runs" / "cpu-demo"))
    if Path(cfg.out_dir).exists():
        shutil.rmtree(cfg.out_dir)
    result = train(cfg)
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(cfg.out_dir) / "reward_curve.png", RESULTS / "cpu_demo_curve.png")
    markdown = render(result, cfg)
    (RESULTS / "cpu_demo.md").write_text(markdown + "\n")
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        readme.write_text(f"{head}{START}\n{markdown}\n{END}{rest.split(END, 1)[1]}")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
