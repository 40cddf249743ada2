"""Run the benchmark suite once and write the results the README shows.

    python benchmarks/report.py            # full run (about 4 minutes on a 2-core CPU)

Writes ``benchmarks/results/results.json`` (pytest-benchmark's raw output),
``benchmarks/results/RESULTS.md`` (the targets with their measured figures, the vector
env table and the machine), ``docs/assets/vector_throughput.png`` (steps/s
against the number of sub-envs) and replaces the README section between
``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` with the same markdown.
Every ratio comes from one run, so machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
VECTOR_SIMS = ("fixed", "corpus", "tiny-llm")


@dataclass(frozen=True)
class Target:
    """One line of the targets table: what was asked, what was measured, and whether it holds."""

    what: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def run_suite(json_path: Path, extra_args: list[str]) -> int:
    """pytest-benchmark over benchmarks/, raw numbers to ``json_path``; returns pytest's exit code
    (a missed target fails its test, and the report still shows the figure)."""
    command = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:randomly", f"--benchmark-json={json_path}", *extra_args]
    print("$", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT)


def compact(json_path: Path) -> None:
    """Drop pytest-benchmark's per-round timings from ``json_path``: rows run for a fixed
    time, so a 1-sub-env row has thousands of rounds; the summary statistics stay."""
    data = json.loads(json_path.read_text())
    for bench in data["benchmarks"]:
        bench["stats"].pop("data", None)
    json_path.write_text(json.dumps(data, indent=1) + "\n")


def _by_name(data: dict) -> dict[str, dict]:
    return {b["name"]: b for b in data["benchmarks"]}


def _mean(benches: dict[str, dict], name: str) -> float | None:
    bench = benches.get(name)
    return None if bench is None else bench["stats"]["mean"]


def _vector_table(benches: dict[str, dict]) -> tuple[str, dict[tuple[str, str, int], float]]:
    """Markdown table of steps/s, native and sync, per simulator and number of sub-envs:
    from the median round (the steps dict) and from the fastest round."""
    steps: dict[tuple[str, str, int], float] = {}
    best: dict[tuple[str, str, int], float] = {}
    rounds: dict[tuple[str, str, int], int] = {}
    for bench in benches.values():
        extra = bench.get("extra_info", {})
        if "steps_per_round" in extra:
            key = (extra["sim"], extra["mode"], extra["num_envs"])
            steps[key] = extra["steps_per_round"] / bench["stats"]["median"]
            best[key] = extra["steps_per_round"] / bench["stats"]["min"]
            rounds[key] = bench["stats"]["rounds"]
    sizes = sorted({n for (_, _, n) in steps})
    lines = [
        "| simulator | sub-envs | native steps/s, median (best) | SyncVectorEnv steps/s, median (best) | native / sync, median (best) | rounds (native, sync) | episodes/s (native, median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for sim in VECTOR_SIMS:
        for n in sizes:
            key, sync_key = (sim, "native", n), (sim, "sync", n)
            if key not in steps:
                continue
            native, sync = steps[key], steps.get(sync_key)
            native_cell = f"{native:,.1f} ({best[key]:,.1f})"
            sync_cell = f"{sync:,.1f} ({best[sync_key]:,.1f})" if sync else "n/a"
            ratio = f"{native / sync:.1f}x ({best[key] / best[sync_key]:.1f}x)" if sync else "n/a"
            counts = f"{rounds[key]}, {rounds.get(sync_key, 0)}"
            # A cycle is 4 steps and finishes one episode per sub-env.
            lines.append(f"| {sim} | {n} | {native_cell} | {sync_cell} | {ratio} | {counts} | {native * n / 4:,.0f} |")
    return "\n".join(lines), steps


def _targets(benches: dict[str, dict], steps: dict[tuple[str, str, int], float]) -> list[Target]:
    targets = []

    step = benches.get("test_step_search")
    if step:
        median = step["stats"]["median"]
        targets.append(Target("env overhead per single-env search step (fixed documents), median", "<= 20 µs", f"{median * 1e6:.1f} µs", median <= 20e-6))

    for sim in VECTOR_SIMS:
        native, sync = steps.get((sim, "native", 256)), steps.get((sim, "sync", 256))
        if native and sync:
            is_target = sim == "tiny-llm"
            targets.append(
                Target(
                    f"native vector env / SyncVectorEnv steps/s at 256 sub-envs, {sim} simulator",
                    ">= 3x" if is_target else "(reported)",
                    f"{native / sync:.1f}x",
                    native / sync >= 3.0 if is_target else None,
                )
            )
    overhead = benches.get("test_native_overhead_at_256")
    if overhead and "median_overhead_s" in overhead.get("extra_info", {}):
        value = overhead["extra_info"]["median_overhead_s"]
        targets.append(
            Target("native vector env overhead per step outside the simulator, 256 sub-envs, median", "< 3 ms", f"{value * 1e3:.2f} ms", value < 3e-3)
        )

    for bench in benches.values():
        extra = bench.get("extra_info", {})
        if "searches_per_s" in extra and "corpus_docs" in extra:
            value = extra["searches_per_s"]
            targets.append(Target(f"corpus simulator searches/s on {extra['corpus_docs']:,} documents", ">= 1,000/s", f"{value:,.0f}/s", value >= 1000))

    batched, sequential = _mean(benches, "test_hf_batched_64"), _mean(benches, "test_hf_sequential_64")
    if batched and sequential:
        targets.append(
            Target(
                "tiny transformers simulator, 64 requests: one batched call / 64 calls", ">= 8x", f"{sequential / batched:.1f}x", sequential / batched >= 8.0
            )
        )

    http_batched, http_sequential = _mean(benches, "test_http_batched_64"), _mean(benches, "test_http_sequential_64")
    if http_batched and http_sequential:
        targets.append(Target("HTTP backend, 64 requests: concurrent batch / sequential calls", "(reported)", f"{http_sequential / http_batched:.1f}x", None))

    openers, plain = _mean(benches, "test_step_repeated_openers[25000]"), _mean(benches, "test_step_plain_text[25000]")
    if openers and plain:
        ratio = openers / plain
        targets.append(Target('step on "<search>" x 25,000 / on plain text of the same length (linear parse)', "<= 5x", f"{ratio:.1f}x", ratio <= 5.0))

    update, bare = _mean(benches, "test_update_step"), _mean(benches, "test_bare_forward_backward")
    if update and bare:
        targets.append(
            Target("learner update step / bare forward+backward on the same tokens (time)", "<= 1.25x", f"{update / bare:.2f}x", update / bare <= 1.25)
        )

    memory = benches.get("test_smollm2_update_peak_memory")
    if memory and "ratio" in memory.get("extra_info", {}):
        extra = memory["extra_info"]
        what = f"{extra['chunked_update_peak_gib']:.2f} / {extra['whole_update_peak_gib']:.2f} GiB = {extra['ratio']:.0%}"
        targets.append(
            Target("SmolLM2 8 x 512 update step, peak memory above the resident: chunked head / whole logits", "<= 40%", what, extra["ratio"] <= 0.40)
        )
    for model, limit in (("smollm2", 1.10), ("tiny", 1.05)):
        chunked, whole = _mean(benches, f"test_{model}_update_step[chunked]"), _mean(benches, f"test_{model}_update_step[whole]")
        if chunked and whole:
            label = "SmolLM2 8 x 512" if model == "smollm2" else "tiny policy 32 x 256"
            targets.append(
                Target(f"{label} update step time: chunked head / whole logits", f"<= {limit:.2f}x", f"{chunked / whole:.2f}x", chunked / whole <= limit)
            )

    targets.append(
        Target(
            "GPU: vector env searches/s with vLLM / vLLM offline throughput on the same prompts",
            ">= 90%",
            "not measured: no GPU in this run (see README)",
            None,
        )
    )
    return targets


def _machine(data: dict) -> str:
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {})
    brand = cpu.get("brand_raw") or info.get("processor") or platform.processor() or "unknown CPU"
    cores = cpu.get("count", "?")
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return (
        f"{brand}, {cores} cores, {info.get('system', platform.system())} {info.get('release', '')}, "
        f"Python {info.get('python_version', platform.python_version())}, torch {torch_version}; "
        f"run {data.get('datetime', '')[:19]}"
    )


def render_markdown(data: dict) -> str:
    benches = _by_name(data)
    table, steps = _vector_table(benches)
    targets = _targets(benches, steps)
    mark = {True: "yes", False: "**no**", None: ""}
    lines = [
        f"Machine: {_machine(data)}.",
        "",
        "| what | target | measured | met |",
        "|---|---|---|---|",
        *[f"| {t.what} | {t.target} | {t.measured} | {mark[t.met]} |" for t in targets],
        "",
        "Vector env throughput (an episode is search, search, answer, then the autoreset step):",
        "",
        table,
        "",
        "![steps/s against the number of sub-envs](docs/assets/vector_throughput.png)",
    ]
    return "\n".join(lines)


def plot_vector(steps: dict[tuple[str, str, int], float], path: Path) -> None:
    """Steps/s against the number of sub-envs, native (solid) and sync (dashed), per simulator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for color, sim in zip(("tab:blue", "tab:orange", "tab:green"), VECTOR_SIMS):
        for mode, style in (("native", "-"), ("sync", "--")):
            points = sorted((n, v) for (s, m, n), v in steps.items() if s == sim and m == mode)
            if points:  # sub-env steps per second: the throughput an RL run sees
                ax.plot([n for n, _ in points], [n * v for n, v in points], style, marker="o", color=color, label=f"{sim}, {mode}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sub-envs")
    ax.set_ylabel("sub-env steps per second")
    ax.set_title("ZeroSearch vector env: native batched vs gymnasium SyncVectorEnv")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def update_readme(markdown: str, readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme} lacks the {README_START} ... {README_END} markers; add them where the table goes")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{markdown}\n{README_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-json", type=Path, help="render an existing results.json instead of running the suite")
    parser.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args, pytest_args = parser.parse_known_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / "results.json"
    code = 0
    if args.from_json is None:
        code = run_suite(json_path, pytest_args)
        compact(json_path)
    else:
        json_path = args.from_json
    data = json.loads(json_path.read_text())
    markdown = render_markdown(data)
    _, steps = _vector_table(_by_name(data))
    plot_vector(steps, ROOT / "docs" / "assets" / "vector_throughput.png")
    (RESULTS / "RESULTS.md").write_text(markdown + "\n")
    if not args.no_readme:
        update_readme(markdown)
    print(markdown)
    return code


if __name__ == "__main__":
    sys.exit(main())
