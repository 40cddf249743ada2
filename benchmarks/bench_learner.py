"""The learner's update step against a bare forward + backward over the same tokens.

The update adds the losses, masks, advantages, KL to the reference and the optimizer
step around the model's own forward and backward. Reported: tokens/s of each and their
ratio (the update's share of overhead), on the tiny CPU policy with GRPO settings.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_agents.policy import build_tiny_policy, forward_logprobs
from zerosearch_agents.update import optimize

from .conftest import scored_learner

B, T = 32, 256
_means: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = build_tiny_policy(tmp_path_factory.mktemp("bench_learner") / "tiny", hidden_size=64, layers=2)
    return scored_learner(path, B, T)


def test_update_step(benchmark, setup):
    learner, batch = setup
    benchmark.pedantic(optimize, args=(learner, batch), rounds=15, warmup_rounds=2)
    if benchmark.stats is not None:
        _means["update"] = benchmark.stats.stats.mean
        benchmark.extra_info["tokens_per_s"] = B * T / benchmark.stats.stats.mean


def test_bare_forward_backward(benchmark, setup):
    learner, batch = setup

    def forward_backward():
        out = forward_logprobs(learner.model, batch["input_ids"], batch["attention_mask"])
        out["logprobs"].sum().backward()
        learner.model.zero_grad(set_to_none=True)

    benchmark.pedantic(forward_backward, rounds=15, warmup_rounds=2)
    if benchmark.stats is not None:
        _means["bare"] = benchmark.stats.stats.mean
        benchmark.extra_info["tokens_per_s"] = B * T / benchmark.stats.stats.mean


def test_update_overhead_ratio():
    if set(_means) != {"update", "bare"}:
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    ratio = _means["update"] / _means["bare"]
    print(
        f"\nupdate step {B * T / _means['update']:,.0f} tokens/s, bare forward+backward {B * T / _means['bare']:,.0f} tokens/s "
        f"(the update takes {ratio:.2f}x the time)"
    )
    # The same forward (plus entropy), masked losses and an AdamW step around the same
    # backward: at most a quarter more than the bare pass.
    assert ratio <= 1.25
