"""The learner's update step against a bare forward + backward over the same tokens.

The update adds the losses, masks, advantages, KL to the reference and the optimizer
step around the model's own forward and backward. Reported: tokens/s of each and their
ratio (the update's share of overhead), on the tiny CPU policy with GRPO settings.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_agents.config import make_config  # noqa: E402
from zerosearch_agents.policy import build_tiny_policy, forward_logprobs, load_policy  # noqa: E402
from zerosearch_agents.update import Learner, compute_advantages, optimize, score_batch  # noqa: E402

B, T = 32, 256
_means: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = build_tiny_policy(tmp_path_factory.mktemp("bench_learner") / "tiny", hidden_size=64, layers=2)
    model, tokenizer = load_policy(path)
    reference, _ = load_policy(path)
    cfg = make_config(questions_per_step=B // 4, group_size=4, micro_batch_size=B, lr=1e-4, kl_coef=0.001)
    learner = Learner(cfg, model, torch.optim.AdamW(model.parameters(), lr=cfg.lr), ref_model=reference.requires_grad_(False))
    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(10, len(tokenizer), (B, T), generator=g),
        "attention_mask": torch.ones(B, T, dtype=torch.long),
        "loss_mask": (torch.rand(B, T, generator=g) < 0.3).float(),
        "rewards": torch.rand(B, generator=g),
        "group_ids": torch.arange(B // 4).repeat_interleave(4),
    }
    batch["token_rewards"] = torch.zeros(B, T)
    score_batch(learner, batch)
    compute_advantages(cfg, batch)
    return learner, batch


def test_update_step(benchmark, setup):
    learner, batch = setup
    benchmark.pedantic(optimize, args=(learner, batch), rounds=5, warmup_rounds=1)
    if benchmark.stats is not None:
        _means["update"] = benchmark.stats.stats.mean
        benchmark.extra_info["tokens_per_s"] = B * T / benchmark.stats.stats.mean


def test_bare_forward_backward(benchmark, setup):
    learner, batch = setup

    def forward_backward():
        out = forward_logprobs(learner.model, batch["input_ids"], batch["attention_mask"])
        out["logprobs"].sum().backward()
        learner.model.zero_grad(set_to_none=True)

    benchmark.pedantic(forward_backward, rounds=5, warmup_rounds=1)
    if benchmark.stats is not None:
        _means["bare"] = benchmark.stats.stats.mean
        benchmark.extra_info["tokens_per_s"] = B * T / benchmark.stats.stats.mean


def test_update_overhead_ratio():
    if set(_means) != {"update", "bare"}:
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    ratio = _means["update"] / _means["bare"]
    print(f"\nupdate step {B * T / _means['update']:,.0f} tokens/s, bare forward+backward {B * T / _means['bare']:,.0f} tokens/s "
          f"(the update takes {ratio:.2f}x the time)")
    # The same forward (plus entropy), masked losses and an AdamW step around the same
    # backward: at most a quarter more than the bare pass.
    assert ratio <= 1.25
