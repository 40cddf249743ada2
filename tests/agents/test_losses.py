"""Losses, each checked against a naive loop, plus the gradient guarantees of the loss mask:
masked tokens get exactly zero gradient whatever their inputs, and empty rows give no NaN."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")  # the learner's tests need the hf extra

from zerosearch_agents.losses import (
    KL_ESTIMATORS,
    LOSS_AGGREGATIONS,
    aggregate,
    clipped_policy_loss,
    entropy_from_logits,
    kl_penalty,
    masked_mean,
    masked_sum,
    token_logprobs,
    value_loss,
)
from zerosearch_env.errors import ConfigError

from .conftest import episode_mask

INF, NAN = float("inf"), float("nan")


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def poison(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    """``x`` with ``value`` (inf, nan, huge) at every masked position, as a fresh leaf."""
    return torch.where(mask.bool(), x, torch.full_like(x, value)).requires_grad_()


def assert_zero_grad_off_mask(grad: torch.Tensor, mask: torch.Tensor) -> None:
    assert torch.isfinite(grad).all()
    assert (grad[~mask.bool()] == 0).all()


# --- masked reductions ------------------------------------------------------------------


def naive_aggregate(loss, mask, mode: str) -> float:
    rows = [[v for v, m in zip(loss_row, mask_row) if m] for loss_row, mask_row in zip(loss, mask)]
    rows = [row for row in rows if row]  # sequences without policy tokens do not count
    if not rows:
        return 0.0
    if mode == "token-mean":
        return sum(sum(row) for row in rows) / sum(len(row) for row in rows)
    if mode == "seq-mean-token-mean":
        return sum(sum(row) / len(row) for row in rows) / len(rows)
    return sum(sum(row) for row in rows) / len(rows)


def test_masked_sum_and_mean_match_naive_loop():
    mask = episode_mask(5, 8, seed=0)
    x = randn(5, 8, seed=0)
    picked = [[x[b, t].item() for t in range(8) if mask[b, t]] for b in range(5)]

    assert masked_sum(x, mask).item() == pytest.approx(sum(map(sum, picked)))
    assert masked_mean(x, mask).item() == pytest.approx(sum(map(sum, picked)) / sum(map(len, picked)))
    row_means = [sum(row) / len(row) if row else 0.0 for row in picked]
    torch.testing.assert_close(masked_mean(x, mask, dim=-1), torch.tensor(row_means, dtype=torch.float64))
    torch.testing.assert_close(masked_sum(x, mask.bool(), dim=0), (x * mask).sum(0))


def test_masked_mean_of_nothing_is_zero_not_nan():
    x = torch.randn(2, 3, requires_grad=True)
    mean = masked_mean(x, torch.zeros(2, 3))
    mean.backward()
    assert mean.item() == 0.0
    assert (x.grad == 0).all()


@pytest.mark.parametrize("mode", LOSS_AGGREGATIONS)
def test_aggregate_matches_naive_loop(mode):
    mask = episode_mask(6, 10, seed=1)
    loss = randn(6, 10, seed=1)

    got = aggregate(loss, mask, mode)

    assert got.item() == pytest.approx(naive_aggregate(loss.tolist(), mask.tolist(), mode))


@pytest.mark.parametrize("mode", LOSS_AGGREGATIONS)
def test_aggregate_gives_masked_tokens_zero_gradient(mode):
    mask = episode_mask(6, 10, seed=2)
    loss = poison(randn(6, 10, seed=2), mask, NAN)

    aggregate(loss, mask, mode).backward()

    assert_zero_grad_off_mask(loss.grad, mask)


def test_aggregate_weighs_tokens_or_episodes():
    """A long and a short episode: token-mean follows the long one, seq-mean weighs both alike."""
    loss = torch.tensor([[1.0] * 9 + [0.0], [3.0] + [0.0] * 9])
    mask = torch.tensor([[1.0] * 9 + [0.0], [1.0] + [0.0] * 9])
    assert aggregate(loss, mask, "token-mean").item() == pytest.approx(1.2)
    assert aggregate(loss, mask, "seq-mean-token-mean").item() == pytest.approx(2.0)
    assert aggregate(loss, mask, "seq-mean-token-sum").item() == pytest.approx(6.0)


def test_aggregate_rejects_unknown_modes_and_shapes():
    with pytest.raises(ConfigError, match=r"token-mean.*seq-mean-token-mean.*seq-mean-token-sum.*got 'mean'"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 3), "mean")
    with pytest.raises(ConfigError, match="one shape"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 1))


# --- PPO policy loss --------------------------------------------------------------------


def naive_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps, clip_eps_high, mode):
    high = clip_eps if clip_eps_high is None else clip_eps_high
    per_token = [[0.0] * len(row) for row in mask]
    clipped_count = count = 0
    kl_sum = ratio_sum = 0.0
    for b in range(len(mask)):
        for t in range(len(mask[b])):
            if not mask[b][t]:
                continue
            ratio = math.exp(logprobs[b][t] - old_logprobs[b][t])
            clipped_ratio = min(max(ratio, 1 - clip_eps), 1 + high)
            unclipped_loss = -advantages[b][t] * ratio
            clipped_loss = -advantages[b][t] * clipped_ratio
            per_token[b][t] = max(unclipped_loss, clipped_loss)
            clipped_count += clipped_loss > unclipped_loss
            count += 1
            kl_sum += old_logprobs[b][t] - logprobs[b][t]
            ratio_sum += ratio
    stats = {"clip_frac": clipped_count / count, "approx_kl": kl_sum / count, "ratio_mean": ratio_sum / count}
    return naive_aggregate(per_token, mask, mode), stats


@pytest.mark.parametrize("mode", LOSS_AGGREGATIONS)
@pytest.mark.parametrize("clip_eps_high", [None, 0.28])
def test_policy_loss_matches_naive_loop(mode, clip_eps_high):
    mask = episode_mask(6, 12, seed=3)
    old_logprobs = -randn(6, 12, seed=3).abs()
    logprobs = old_logprobs + 0.3 * randn(6, 12, seed=4)  # ratios on both sides of the clip range
    advantages = randn(6, 12, seed=5)

    loss, stats = clipped_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2, clip_eps_high=clip_eps_high, agg=mode)

    expected_loss, expected_stats = naive_policy_loss(logprobs.tolist(), old_logprobs.tolist(), advantages.tolist(), mask.tolist(), 0.2, clip_eps_high, mode)
    assert loss.item() == pytest.approx(expected_loss)
    assert 0 < expected_stats["clip_frac"] < 1
    for name, value in expected_stats.items():
        assert float(stats[name]) == pytest.approx(value), name


def test_clip_frac_on_a_hand_made_batch():
    """Clipping bites only when the ratio left the trust region in the advantage's direction."""
    ratio = torch.tensor([[1.5, 1.5, 0.5, 0.5, 1.1, 3.0]])
    advantages = torch.tensor([[1.0, -1.0, -1.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]])  # the last token is an observation
    # clipped:                  yes   no   yes   no    no   (masked)
    logprobs = ratio.log().requires_grad_()

    loss, stats = clipped_policy_loss(logprobs, torch.zeros(1, 6), advantages, mask, clip_eps=0.2)
    loss.backward()

    assert stats["clip_frac"].item() == pytest.approx(2 / 5)
    clipped = torch.tensor([True, False, True, False, False, False])
    assert (logprobs.grad[0, clipped] == 0).all()
    # d(-A r)/d(log r) = -A r, averaged over the 5 policy tokens
    torch.testing.assert_close(logprobs.grad[0, [1, 3, 4]], -(advantages * ratio)[0, [1, 3, 4]] / 5)

    _, wider = clipped_policy_loss(logprobs, torch.zeros(1, 6), advantages, mask, clip_eps=0.2, clip_eps_high=0.6)
    assert wider["clip_frac"].item() == pytest.approx(1 / 5)  # 1.5 is inside [0.8, 1.6]


def test_policy_loss_on_policy_gradient_is_reinforce():
    """At ratio 1 the gradient w.r.t. each log-prob is -advantage / number of policy tokens."""
    mask = episode_mask(4, 8, seed=6)
    advantages = randn(4, 8, seed=6)
    logprobs = randn(4, 8, seed=7).requires_grad_()

    loss, stats = clipped_policy_loss(logprobs, logprobs.detach(), advantages, mask)
    loss.backward()

    torch.testing.assert_close(logprobs.grad, -advantages * mask / mask.sum())
    assert stats["clip_frac"].item() == 0.0 and stats["ratio_mean"].item() == 1.0


@pytest.mark.parametrize("mode", LOSS_AGGREGATIONS)
def test_policy_loss_gives_masked_tokens_zero_gradient(mode):
    mask = episode_mask(6, 10, seed=8)
    logprobs = poison(-randn(6, 10, seed=8).abs(), mask, 1000.0)  # exp(1000) = inf
    old_logprobs = torch.where(mask.bool(), logprobs.detach(), torch.tensor(-INF, dtype=torch.float64))
    advantages = torch.where(mask.bool(), randn(6, 10, seed=9), torch.tensor(NAN, dtype=torch.float64))

    loss, stats = clipped_policy_loss(logprobs, old_logprobs, advantages, mask, agg=mode)
    loss.backward()

    assert torch.isfinite(loss)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in stats.values())
    assert_zero_grad_off_mask(logprobs.grad, mask)


# --- KL penalties -----------------------------------------------------------------------


def naive_kl(logprob: float, ref_logprob: float, kind: str) -> float:
    d = logprob - ref_logprob
    if kind == "k1":
        return d
    if kind == "abs":
        return abs(d)
    if kind in ("mse", "k2"):
        return 0.5 * d * d
    log_ratio = min(max(-d, -20.0), 20.0)
    return min(max(math.exp(log_ratio) - log_ratio - 1, -10.0), 10.0)


@pytest.mark.parametrize("kind", KL_ESTIMATORS)
def test_kl_penalty_matches_naive_loop(kind):
    logprobs = -randn(4, 7, seed=10).abs()
    ref_logprobs = -randn(4, 7, seed=11).abs() * 3
    ref_logprobs[0, 0] = -40.0  # k3 hits its clamp

    got = kl_penalty(logprobs, ref_logprobs, kind)

    expected = [[naive_kl(logprobs[b, t].item(), ref_logprobs[b, t].item(), kind) for t in range(7)] for b in range(4)]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_k3_is_nonnegative_and_bounded_even_for_impossible_tokens():
    logprobs = torch.tensor([[0.0, -1.0, -1.0, 0.0]], requires_grad=True)
    ref_logprobs = torch.tensor([[-INF, -1.0, -0.5, 1000.0]])

    kl = kl_penalty(logprobs, ref_logprobs, "k3")
    kl.sum().backward()

    assert (kl >= 0).all() and (kl <= 10).all()
    assert torch.isfinite(logprobs.grad).all()


@pytest.mark.parametrize("kind", KL_ESTIMATORS)
def test_kl_penalty_gives_masked_tokens_zero_gradient(kind):
    mask = episode_mask(5, 9, seed=12)
    logprobs = poison(-randn(5, 9, seed=12).abs(), mask, -INF)
    ref_logprobs = torch.where(mask.bool(), -randn(5, 9, seed=13).abs(), torch.tensor(INF, dtype=torch.float64))

    kl = kl_penalty(logprobs, ref_logprobs, kind, mask=mask)
    aggregate(kl, mask).backward()

    assert (kl[~mask.bool()] == 0).all()
    assert_zero_grad_off_mask(logprobs.grad, mask)


def test_kl_penalty_rejects_unknown_kinds():
    with pytest.raises(ConfigError, match=r"k1.*low_var_kl.*got 'kl'"):
        kl_penalty(torch.zeros(1, 2), torch.zeros(1, 2), "kl")


# --- value loss -------------------------------------------------------------------------


def naive_value_loss(values, old_values, returns, mask, clip_eps, mode):
    per_token = [[0.0] * len(row) for row in mask]
    clipped_count = count = 0
    for b in range(len(mask)):
        for t in range(len(mask[b])):
            if not mask[b][t]:
                continue
            unclipped = (values[b][t] - returns[b][t]) ** 2
            if clip_eps is None:
                clipped = unclipped
            else:
                step = min(max(values[b][t] - old_values[b][t], -clip_eps), clip_eps)
                clipped = (old_values[b][t] + step - returns[b][t]) ** 2
            per_token[b][t] = 0.5 * max(unclipped, clipped)
            clipped_count += clipped > unclipped
            count += 1
    return naive_aggregate(per_token, mask, mode), clipped_count / count


@pytest.mark.parametrize("mode", LOSS_AGGREGATIONS)
@pytest.mark.parametrize("clip_eps", [0.2, None])
def test_value_loss_matches_naive_loop(mode, clip_eps):
    mask = episode_mask(6, 12, seed=14)
    old_values = randn(6, 12, seed=14)
    values = old_values + 0.5 * randn(6, 12, seed=15)
    returns = randn(6, 12, seed=16)

    loss, stats = value_loss(values, old_values, returns, mask, clip_eps=clip_eps, agg=mode)

    expected_loss, expected_clip_frac = naive_value_loss(values.tolist(), old_values.tolist(), returns.tolist(), mask.tolist(), clip_eps, mode)
    assert loss.item() == pytest.approx(expected_loss)
    assert stats["vf_clip_frac"].item() == pytest.approx(expected_clip_frac)
    if clip_eps is not None:
        assert 0 < expected_clip_frac < 1


@pytest.mark.parametrize("mode", LOSS_AGGREGATIONS)
def test_value_loss_gives_masked_tokens_zero_gradient(mode):
    mask = episode_mask(6, 10, seed=17)
    values = poison(randn(6, 10, seed=17), mask, 1e300)  # squares overflow to inf
    old_values = torch.where(mask.bool(), values.detach(), torch.tensor(-INF, dtype=torch.float64))
    returns = torch.where(mask.bool(), randn(6, 10, seed=18), torch.tensor(NAN, dtype=torch.float64))

    loss, _ = value_loss(values, old_values, returns, mask, agg=mode)
    loss.backward()

    assert torch.isfinite(loss)
    assert_zero_grad_off_mask(values.grad, mask)


def test_losses_of_a_batch_without_policy_tokens_are_zero():
    mask = torch.zeros(3, 5)
    x = torch.randn(3, 5, requires_grad=True)
    policy, policy_stats = clipped_policy_loss(x, x.detach() + 1, torch.ones(3, 5), mask)
    values, value_stats = value_loss(x, x.detach(), torch.ones(3, 5), mask)
    (policy + values).backward()

    assert policy.item() == 0.0 and values.item() == 0.0
    assert all(float(v) == 0.0 for v in {**policy_stats, **value_stats}.values())
    assert (x.grad == 0).all()


# --- logits: entropy and token log-probs ------------------------------------------------


def naive_log_softmax(row: list[float]) -> list[float]:
    top = max(row)
    log_norm = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - log_norm for v in row]


def test_entropy_matches_naive_loop():
    logits = 5 * randn(3, 4, 6, seed=19)

    got = entropy_from_logits(logits)

    expected = [[0.0] * 4 for _ in range(3)]
    for b in range(3):
        for t in range(4):
            logp = naive_log_softmax(logits[b, t].tolist())
            expected[b][t] = -sum(math.exp(lp) * lp for lp in logp)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_entropy_survives_large_and_banned_logits():
    logits = torch.tensor([[[1e4, 1e4, -INF, -INF], [0.0, -INF, 0.0, -INF]]], requires_grad=True)

    entropy = entropy_from_logits(logits)
    entropy.sum().backward()

    torch.testing.assert_close(entropy, torch.full((1, 2), math.log(2)))
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("chunk_size", [None, 1, 3, 100])
def test_token_logprobs_match_naive_loop(chunk_size):
    logits = 4 * randn(3, 7, 11, seed=20)
    tokens = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(20))

    got = token_logprobs(logits, tokens, chunk_size=chunk_size)

    expected = [[naive_log_softmax(logits[b, t].tolist())[tokens[b, t]] for t in range(7)] for b in range(3)]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_token_logprobs_chunking_does_not_change_gradients():
    logits = torch.randn(2, 9, 13, requires_grad=True)
    tokens = torch.randint(0, 13, (2, 9))
    weights = torch.randn(2, 9)

    whole = torch.autograd.grad((token_logprobs(logits, tokens) * weights).sum(), logits)[0]
    chunked = torch.autograd.grad((token_logprobs(logits, tokens, chunk_size=4) * weights).sum(), logits)[0]

    torch.testing.assert_close(chunked, whole)


def test_token_logprobs_upcast_half_precision_logits():
    logits = torch.randn(2, 3, 5).to(torch.bfloat16)
    got = token_logprobs(logits, torch.zeros(2, 3, dtype=torch.long), chunk_size=2)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.log_softmax(logits.float(), -1)[..., 0])
