"""``zerosearch cost``: the arithmetic against hand-computed figures (the paper's row
included), the sim_usage.json contract and its errors, the throughput files of
gpu_check.py and bench_vllm.py, and the command end to end on a real training run
folder, resumed (its usage is the whole run's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation.cost import (
    PAPER,
    USAGE_FILE,
    CostInputs,
    SimUsage,
    cost_report,
    paper_row,
    read_sim_usage,
    usage_row,
    write_sim_usage,
)
from zerosearch_env.evaluation.cost_report import render_markdown
from zerosearch_env.evaluation.throughput import find_throughput, read_throughput_file

# ----------------------------------------------------------------------------- arithmetic


def test_a_simulator_row_by_hand():
    # 360,000 completion tokens at 100 tokens/s = 3,600 s = 1 h of a 2-GPU deployment = 2 GPU-hours.
    usage = SimUsage("sft-7b", searches=1000, prompt_tokens=500_000, completion_tokens=360_000, sim_wall_s=12.5)
    inputs = CostInputs(tokens_per_s=100.0, tokens_source="--tokens-per-s", usd_per_gpu_hour=1.5, gpus=2, usd_per_1k_queries=5.0)
    row = usage_row(usage, inputs)
    assert row.gpu_hours == pytest.approx(2.0)
    assert row.sim_usd == pytest.approx(3.0)  # 2 GPU-hours x $1.50
    assert row.api_usd == pytest.approx(5.0)  # 1,000 / 1,000 x $5
    assert row.sim_over_api == pytest.approx(0.6)
    assert row.sim_wall_s == 12.5 and not row.tokens_assumed


def test_the_paper_row_gives_back_its_figures():
    assert PAPER.usd_per_1k_queries == pytest.approx(586.70 / 64)  # $9.1671875 per 1,000 queries
    row = paper_row()
    assert row.searches == 64_000
    assert row.api_usd == pytest.approx(586.70)  # 64,000 / 1,000 x $9.1671875
    assert row.sim_usd == pytest.approx(70.80)
    assert row.sim_over_api == pytest.approx(70.80 / 586.70)  # 12.1%: "more than 80%" cheaper
    assert row.gpu_hours is None and row.completion_tokens is None  # the paper gives no throughput: nothing guessed


def test_no_gpu_price_gives_gpu_hours_but_no_dollars():
    inputs = CostInputs(tokens_per_s=1000.0, tokens_source="x")
    row = usage_row(SimUsage("sft-3b", 10, 0, 7_200_000, 1.0), inputs)
    assert row.gpu_hours == pytest.approx(2.0) and row.sim_usd is None and row.sim_over_api is None
    assert row.api_usd == pytest.approx(10 / 1000 * PAPER.usd_per_1k_queries)  # the default price is the paper's


def test_assumed_tokens_price_only_the_engines_that_reported_none_and_the_total_sums_the_rows():
    inputs = CostInputs(tokens_per_s=200.0, tokens_source="x", usd_per_gpu_hour=3.0, tokens_per_search=180.0, usd_per_1k_queries=10.0)
    corpus, llm = SimUsage("corpus", 400, 0, 0, 0.5), SimUsage("sft-7b", 100, 9_000, 36_000, 30.0)
    report = cost_report("run", "fidelity", [corpus, llm], inputs)
    first, second, total = report.rows
    assert first.tokens_assumed and first.priced_tokens == 400 * 180  # 72,000 tokens
    assert first.gpu_hours == pytest.approx(72_000 / 200 / 3600)  # 0.1
    assert not second.tokens_assumed and second.priced_tokens == 36_000
    assert second.gpu_hours == pytest.approx(36_000 / 200 / 3600)  # 0.05
    assert total.label == "total" and total.searches == 500 and total.completion_tokens == 36_000
    assert total.gpu_hours == pytest.approx(0.15) and total.sim_usd == pytest.approx(0.45)
    assert total.api_usd == pytest.approx(5.0) and total.sim_wall_s == pytest.approx(30.5)


def test_the_markdown_prints_every_input():
    inputs = CostInputs(tokens_per_s=100.0, tokens_source="--tokens-per-s", usd_per_gpu_hour=1.5, gpus=2, usd_per_1k_queries=5.0)
    text = render_markdown(cost_report("runs/x", "train", [SimUsage("sft-7b", 1000, 500_000, 360_000, 12.5)], inputs))
    row = next(line for line in text.splitlines() if line.startswith("| sft-7b"))
    assert "| 1,000 | 500,000 + 360,000 | 12.5 s |" in row
    assert "2 = 360,000 tokens / 100 tokens/s / 3,600 x 2 GPU" in row
    assert "$3.00 = 2 x $1.50" in row and "$5.00 = 1,000 / 1,000 x $5" in row and "60.0%" in row
    paper = next(line for line in text.splitlines() if line.startswith("| paper"))
    assert "$70.80 (paper)" in paper and "$586.70 = 64,000 / 1,000 x $9.1672" in paper
    for given in (
        "100 completion tokens/s",
        "from --tokens-per-s",
        "simulator GPUs: 2",
        "$1.50 (--usd-per-gpu-hour)",
        "$5 per 1,000 queries (--usd-per-1k-queries)",
        "arXiv 2505.04588",
    ):
        assert given in text, given


@pytest.mark.parametrize(
    "field, value", [("tokens_per_s", 0.0), ("tokens_per_s", float("nan")), ("gpus", 0), ("usd_per_gpu_hour", -1.0), ("tokens_per_search", -5.0)]
)
def test_bad_inputs_are_refused(field, value):
    settings = dict(tokens_per_s=1.0, tokens_source="x")
    with pytest.raises(ConfigError, match=field):
        CostInputs(**{**settings, field: value})


# ----------------------------------------------------------------------------- sim_usage.json


def test_usage_round_trips_and_leaves_no_partial_file(tmp_path):
    usages = [SimUsage("corpus", 3, 0, 0, 0.25), SimUsage("sft-7b", 2, 100, 50, 1.5)]
    path = write_sim_usage(tmp_path, "fidelity", usages)
    assert path == tmp_path / USAGE_FILE
    assert read_sim_usage(tmp_path) == ("fidelity", usages)
    write_sim_usage(tmp_path, "fidelity", usages[:1])  # replaced whole
    assert read_sim_usage(tmp_path) == ("fidelity", usages[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [USAGE_FILE]


def test_write_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(ConfigError, match="kind"):
        write_sim_usage(tmp_path, "training", [SimUsage("corpus", 1, 0, 0, 0.0)])


NEGATIVE_SEARCHES = {"sim": "corpus", "searches": -1, "prompt_tokens": 0, "completion_tokens": 0, "sim_wall_s": 0.0}


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "has no sim_usage.json"),
        ("{not json", "is not valid JSON"),
        (json.dumps({"kind": "sft", "simulators": []}), 'expects {"kind"'),
        (json.dumps({"kind": "train", "simulators": []}), "lists no simulators"),
        (json.dumps({"kind": "train", "simulators": [{"sim": "corpus", "searches": 1}]}), r"simulators\[0\] expects the keys"),
        (json.dumps({"kind": "train", "simulators": [NEGATIVE_SEARCHES]}), "searches expects an int in \\[0, 2\\*\\*63\\)"),
    ],
)
def test_a_missing_or_malformed_file_is_named_with_the_fix(tmp_path, content, message):
    if content is not None:
        (tmp_path / USAGE_FILE).write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        read_sim_usage(tmp_path)
    assert str(tmp_path) in str(caught.value)
    assert "run it again" in str(caught.value) or "write it again" in str(caught.value)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="is not a folder"):
        read_sim_usage(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- throughput


def _gpu_check(tmp_path: Path, batches: dict, status: str = "ok", mode: str = "the released shapes") -> Path:
    """A gpu_check.json as benchmarks/gpu_check.py writes it (its simulator section)."""
    section = {"status": status, "seconds": 1.0}
    if status == "ok":
        section["results"] = {"max_new_tokens": 128, "dtype": "bfloat16",
                              "batches": {b: {"tokens_per_s": t, "s_per_call": 1.0, "calls": 2} for b, t in batches.items()}}  # fmt: skip
    else:
        section["error"] = "RuntimeError: CUDA out of memory"
    report = {"mode": mode, "command": "python benchmarks/gpu_check.py", "started": "2026-01-01 00:00:00 UTC",
              "sizes": {}, "total_s": 1.0, "sections": {"machine": {"status": "ok"}, "simulator": section}}  # fmt: skip
    path = tmp_path / "gpu_check.json"
    path.write_text(json.dumps(report))
    return path


def test_gpu_check_gives_its_best_batch_and_says_which(tmp_path):
    tokens, source = read_throughput_file(_gpu_check(tmp_path, {"1": 30.0, "64": 1500.0, "256": 4200.5}))
    assert tokens == 4200.5
    assert "batch 256" in source and "gpu_check.json" in source and "bfloat16" in source and "DRY RUN" not in source


def test_a_dry_run_gpu_check_is_marked_and_a_failed_section_refused(tmp_path):
    _, source = read_throughput_file(_gpu_check(tmp_path, {"1": 5.0}, mode="dry run: tiny shapes, fp32"))
    assert "DRY RUN" in source
    with pytest.raises(ConfigError, match=r"did not measure.*CUDA out of memory"):
        read_throughput_file(_gpu_check(tmp_path, {}, status="failed"))


def test_the_real_gpu_check_dry_run_is_read(tmp_path):
    """The file benchmarks/gpu_check.py writes itself (its simulator section, tiny shapes)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    import importlib.util
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    try:
        spec.loader.exec_module(module)
        module.main(["--dry-run", "--sections", "simulator", "--out", str(tmp_path)])
    finally:
        sys.modules.pop("gpu_check", None)
    measured = json.loads((tmp_path / "gpu_check.json").read_text())["sections"]["simulator"]["results"]["batches"]
    tokens, source = read_throughput_file(tmp_path / "gpu_check.json")
    assert tokens == max(m["tokens_per_s"] for m in measured.values()) > 0 and "DRY RUN" in source


def test_bench_vllm_results_give_the_env_throughput(tmp_path):
    """pytest-benchmark's --benchmark-json file, with what bench_vllm.py records in extra_info."""
    data = {"machine_info": {}, "benchmarks": [
        {"name": "test_bare_vllm_generate", "stats": {"mean": 0.5}, "extra_info": {}},
        {"name": "test_vector_env_with_vllm", "stats": {"mean": 0.55},
         "extra_info": {"searches_per_step": 256, "sim_completion_tokens_per_step": 30000.0, "sim_tokens_per_s": 54545.4}},
    ]}  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    tokens, source = read_throughput_file(path)
    assert tokens == 54545.4 and "test_vector_env_with_vllm" in source and "256 searches per step" in source
    data["benchmarks"].pop()
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="sim_tokens_per_s"):
        read_throughput_file(path)


def test_tokens_per_s_wins_and_neither_way_lists_both(tmp_path):
    assert find_throughput(750.0, tmp_path / "ignored.json") == (750.0, "--tokens-per-s")
    with pytest.raises(ConfigError, match=r"--tokens-per-s N .*--throughput-file PATH"):
        find_throughput(None, None)
    with pytest.raises(ConfigError, match="no such file"):
        find_throughput(None, tmp_path / "missing.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"neither a gpu_check\.json nor a pytest-benchmark file"):
        find_throughput(None, tmp_path / "other.json")


# ----------------------------------------------------------------------------- a real run folder


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A tiny training run (scripted warm start, one RL step, held-out evaluation), then
    resumed to two steps; returns the folder and the first leg's sim_usage.json."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from zerosearch_agents.config import make_config
    from zerosearch_agents.train import train

    run = tmp_path_factory.mktemp("cost") / "run"
    tiny = dict(policy="tiny", tiny_hidden_size=16, tiny_layers=1, questions_per_step=2, group_size=2, micro_batch_size=4,
                max_turns=1, topk=2, max_turn_tokens=12, max_obs_tokens=120, max_total_tokens=400, eval_questions=2,
                tensorboard=False, checkpoint_every=0, out_dir=str(run))  # fmt: skip
    train(make_config(**tiny, steps=1, bc_source="scripted", bc_steps=1, bc_batch_size=4), progress=False)
    first_leg = read_sim_usage(run)
    train(make_config(**tiny, steps=2, bc_source="scripted", bc_steps=1, bc_batch_size=4, resume=True), progress=False)
    return run, first_leg


def test_a_resumed_run_reports_the_whole_run(resumed_run):
    run, (kind, first) = resumed_run
    kind_after, after = read_sim_usage(run)
    assert kind == kind_after == "train"
    first_by, after_by = {u.sim: u for u in first}, {u.sim: u for u in after}
    assert list(after_by) == ["corpus", "corpus (warm-start demonstrations)", "corpus (held-out evaluation)"]
    warm = "corpus (warm-start demonstrations)"
    assert after_by[warm] == first_by[warm] and after_by[warm].searches > 0  # the second leg did no warm start: carried
    assert after_by["corpus (held-out evaluation)"].searches >= first_by["corpus (held-out evaluation)"].searches
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [0, 1]
    assert after_by["corpus"].searches == sum(s["sim_searches"] for s in steps)  # both legs' steps
    assert after_by["corpus"].sim_wall_s == pytest.approx(sum(s["sim_wall_s"] for s in steps))


def test_cost_command_on_a_training_run(resumed_run, capsys, tmp_path):
    from zerosearch_env.cli import main

    run, _ = resumed_run
    _, usages = read_sim_usage(run)
    total = sum(u.searches for u in usages)
    out = tmp_path / "cost.md"
    args = ["cost", str(run), "--tokens-per-s", "1000", "--usd-per-gpu-hour", "2", "--tokens-per-search", "200", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    total_line = next(line for line in printed.splitlines() if line.startswith("| **total**"))
    hours = total * 200 / 1000 / 3600
    assert f"| {total:,} |" in total_line and f"${hours * 2:,.2f} = " in total_line
    assert f"${total / 1000 * PAPER.usd_per_1k_queries:,.2f} = {total:,} / 1,000 x $9.1672" in total_line
    assert "| paper: SFT-14B on 4 x A100 vs SerpAPI | 64,000 |" in printed

    assert main(["cost", str(run), "--tokens-per-s", "1000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "train" and report["rows"][-1]["searches"] == total
    assert report["paper"]["api_usd"] == pytest.approx(586.70) and report["inputs"]["usd_per_gpu_hour"] is None


def test_cost_command_errors_exit_2(tmp_path, capsys):
    from zerosearch_env.cli import main

    assert main(["cost", str(tmp_path), "--tokens-per-s", "10"]) == 2
    assert "zerosearch cost: error:" in capsys.readouterr().err
    write_sim_usage(tmp_path, "eval", [SimUsage("bm25", 5, 0, 0, 0.1)])
    assert main(["cost", str(tmp_path)]) == 2
    assert "--tokens-per-s N" in capsys.readouterr().err


@pytest.mark.parametrize("tokens_per_s", [1e-320, 5e-324])
def test_a_throughput_so_small_the_cost_overflows_is_refused_not_printed_as_inf(tmp_path, capsys, tokens_per_s):
    from zerosearch_env.cli import main

    usage = SimUsage("sft-7b", searches=1000, prompt_tokens=0, completion_tokens=360_000, sim_wall_s=1.0)
    inputs = CostInputs(tokens_per_s=tokens_per_s, tokens_source="--tokens-per-s", usd_per_gpu_hour=1.5)
    with pytest.raises(ConfigError, match=r"not a finite number.*gpu_hours=inf"):
        cost_report(tmp_path, "eval", [usage], inputs)
    write_sim_usage(tmp_path, "eval", [usage])
    assert main(["cost", str(tmp_path), "--tokens-per-s", repr(tokens_per_s), "--usd-per-gpu-hour", "1.5"]) == 2
    captured = capsys.readouterr()
    assert "not a finite number" in captured.err and "inf" not in captured.out
