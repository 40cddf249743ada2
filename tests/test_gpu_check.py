"""benchmarks/gpu_check.py, the prepared command of the first GPU run, in its CPU dry run:
every section runs and measures, the report holds the numbers, and a failing section is
recorded without stopping the others."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from zerosearch_env.import_utils import cuda_device_count, is_vllm_available

from .conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
SECTIONS = ["machine", "models", "simulator", "vector_env", "learner", "vllm"]


@pytest.fixture(scope="module")
def gpu_check():
    try:
        yield load_script(SCRIPT, "gpu_check")
    finally:
        sys.modules.pop("gpu_check", None)


@pytest.fixture(scope="module")
def dry_run(gpu_check, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    code = gpu_check.main(["--dry-run", "--out", str(out)])
    return code, json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def test_every_section_runs_and_measures(dry_run):
    code, report, _ = dry_run
    sections = report["sections"]
    assert list(sections) == SECTIONS
    failures = {name: r.get("traceback") for name, r in sections.items() if r["status"] == "failed"}
    assert code == 0 and not failures, failures
    assert all(r["seconds"] >= 0 for r in sections.values()) and report["total_s"] > 0

    machine = sections["machine"]["results"]
    assert machine["torch"] and machine["transformers"] and machine["accelerate"] and machine["processes"] == 1

    for role in ("policy", "simulator"):
        model = sections["models"]["results"][role]
        assert model["parameters"] == model["plan_parameters"] > 0  # the planner counts the built model exactly

    simulator = sections["simulator"]["results"]
    assert list(simulator["batches"]) == ["1", "4", "8"]
    for batch in simulator["batches"].values():
        assert batch["tokens_per_s"] > 0 and batch["s_per_call"] > 0
        assert 0 < batch["completion_tokens_per_request"] <= simulator["max_new_tokens"] and batch["prompt_tokens_per_request"] > 50

    env = sections["vector_env"]["results"]
    assert env["requests_per_step"] == env["num_envs"] == 4 and env["sim_calls_per_step"] == 1  # every sub-env searched, in one call
    assert env["sim_s_per_step"] > 0 and env["env_s_per_step"] > 0 and env["overhead_share"] > 0


def test_learner_update_and_memory(dry_run):
    learner = dry_run[1]["sections"]["learner"]["results"]
    assert learner["tokens"] == 8 * 128 and learner["tokens_per_s"] > 0 and learner["optimize_tokens_per_s"] > 0
    assert 0.1 < learner["policy_token_share"] < 0.9  # prompt and observations are masked out
    assert learner["fp32_master_weights"] is True and learner["weights_changed"] is True
    assert learner["plan"]["estimate_gib"] > 0 and {"weights", "gradients", "AdamW states", "logits"} <= set(learner["plan"]["items"])
    assert learner["peak_rss_gib"] > 0
    sampling = learner["sampling"]  # on a GPU: a CPU generator for CUDA logits would have failed the section
    assert sampling["generator_device"] == sampling["model_device"] and sampling["tokens"] == [8, 8]
    if cuda_device_count() == 0:
        assert learner["peak_allocated_gib"] is None and learner["measured_over_estimate"] is None
        assert learner["cuda_note"].startswith("null: no CUDA device")
    else:
        assert learner["peak_allocated_gib"] > 0 and learner["measured_over_estimate"] > 0


@pytest.mark.skipif(is_vllm_available(), reason="vllm is installed: the section runs its tests")
def test_vllm_section_says_skipped(dry_run):
    vllm = dry_run[1]["sections"]["vllm"]
    assert (vllm["status"], vllm["reason"]) == ("skipped", "vllm not installed")


def test_markdown_is_a_table_with_every_measurement(dry_run):
    markdown = dry_run[2]
    assert "| measurement | value | note |\n|---|---|---|\n" in markdown
    rows = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines() if line.startswith("| ")}
    for label in ("machine", "policy model", "simulator model", "simulator tokens/s, batch 1", "simulator tokens/s, batch 8",
                  "vector env overhead", "learner update tokens/s", "learner peak memory", "memory plan estimate",
                  "measured / estimated", "fp32 master weights", "sampled rollout turn"):  # fmt: skip
        assert label in rows, label
    assert rows["fp32 master weights"].startswith("| fp32 master weights | true |")
    assert " tokens/s (" in rows["simulator tokens/s, batch 8"] and " MiB" in rows["memory plan estimate"]
    if not is_vllm_available():
        assert "| vllm | skipped: vllm not installed |" in markdown


def test_a_failing_section_is_recorded_and_the_rest_still_run(gpu_check, tmp_path, monkeypatch):
    def fail(check):
        raise RuntimeError("no device answered")

    sections = tuple(dataclasses.replace(s, run=fail) if s.name == "machine" else s for s in gpu_check.SECTIONS)
    monkeypatch.setattr(gpu_check, "SECTIONS", sections)
    code = gpu_check.main(["--dry-run", "--out", str(tmp_path), "--sections", "machine,vllm"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 1 and list(report["sections"]) == ["machine", "vllm"]
    machine = report["sections"]["machine"]
    assert machine["status"] == "failed" and machine["error"] == "RuntimeError: no device answered"
    assert "in fail" in machine["traceback"] and report["sections"]["vllm"]["status"] in ("skipped", "ok", "failed")
    assert "| machine | FAILED | RuntimeError: no device answered (traceback in gpu_check.json) |" in (tmp_path / "gpu_check.md").read_text()


def test_synthetic_batch_is_shaped_like_rollouts(gpu_check):
    sizes = gpu_check.DRY_SIZES
    batch = gpu_check.synthetic_batch(sizes, vocab_size=512, pad_id=0, seed=0)
    mask = batch["loss_mask"]  # (B, T)
    assert batch["input_ids"].shape == mask.shape == (sizes.episodes, sizes.episode_tokens)
    assert bool(batch["attention_mask"].all()) and batch["group_ids"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert not mask[:, : sizes.episode_tokens // 8].any() and bool(mask[:, -1].all())  # the prompt is masked, the answer trained
    assert ((mask[:, 1:] - mask[:, :-1]) == 1).sum(-1).min() >= 2  # at least one search turn before the answer
    assert (batch["sampling_logprobs"][mask == 0] == 0).all() and (batch["sampling_logprobs"][mask == 1] <= 0).all()
    assert batch["token_rewards"][:, -1].tolist() == batch["rewards"].tolist() and batch["token_rewards"][:, :-1].abs().sum() == 0


def test_unknown_section_is_refused(gpu_check, tmp_path):
    with pytest.raises(SystemExit):
        gpu_check.main(["--dry-run", "--out", str(tmp_path), "--sections", "machine,gpus"])
