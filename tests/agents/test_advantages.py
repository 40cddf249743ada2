"""Advantage estimators, each checked against a naive loop written for clarity."""

from __future__ import annotations

import math
import statistics

import pytest

torch = pytest.importorskip("torch")  # the learner's tests need the hf extra

from zerosearch_agents.advantages import (
    gae,
    group_normalized_advantages,
    reinforce_advantages,
    tokens_from_sequence,
    whiten,
)
from zerosearch_env.errors import ConfigError

from .conftest import episode_mask

# --- GRPO -------------------------------------------------------------------------------


def naive_group_advantages(rewards: list[float], group_ids: list[int], eps: float, scale: bool) -> list[float]:
    out = []
    for i, reward in enumerate(rewards):
        group = [r for r, g in zip(rewards, group_ids) if g == group_ids[i]]
        if len(group) == 1 or len(set(group)) == 1:
            out.append(0.0)
            continue
        centered = reward - statistics.mean(group)
        out.append(centered / (statistics.stdev(group) + eps) if scale else centered)
    return out


@pytest.mark.parametrize("scale", [True, False])
def test_group_advantages_match_naive_loop(scale):
    gen = torch.Generator().manual_seed(0)
    group_ids = torch.tensor([7, 3, 7, 42, 3, 3, 9, 7, 42, 5, 5])  # uneven, unsorted, a singleton
    rewards = torch.rand(len(group_ids), generator=gen, dtype=torch.float64)
    rewards[9] = rewards[10]  # group 5: identical rewards

    got = group_normalized_advantages(rewards, group_ids, eps=1e-6, scale=scale)

    expected = naive_group_advantages(rewards.tolist(), group_ids.tolist(), eps=1e-6, scale=scale)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_group_advantages_are_zero_for_singletons_and_constant_groups():
    rewards = torch.tensor([0.1, 0.1, 0.1, 0.7, 1.0, 0.0])
    group_ids = torch.tensor([0, 0, 0, 1, 2, 2])
    got = group_normalized_advantages(rewards, group_ids)
    assert got[:4].tolist() == [0.0, 0.0, 0.0, 0.0]  # exactly, despite 0.1 * 3 / 3 != 0.1
    assert got[4] > 0 > got[5]


def test_group_advantages_do_not_depend_on_row_order():
    gen = torch.Generator().manual_seed(1)
    rewards = torch.randint(0, 3, (12,), generator=gen).float()
    group_ids = torch.randint(0, 4, (12,), generator=gen)
    perm = torch.randperm(12, generator=gen)

    got = group_normalized_advantages(rewards, group_ids)
    permuted = group_normalized_advantages(rewards[perm], group_ids[perm])

    torch.testing.assert_close(permuted, got[perm])


def test_group_advantages_accept_integer_rewards():
    got = group_normalized_advantages(torch.tensor([1, 0]), torch.tensor([0, 0]), scale=False)
    assert got.tolist() == [0.5, -0.5]


def test_group_advantages_reject_mismatched_group_ids():
    with pytest.raises(ConfigError, match="group_ids expects a \\(3,\\) tensor"):
        group_normalized_advantages(torch.zeros(3), torch.zeros(4, dtype=torch.long))


# --- REINFORCE --------------------------------------------------------------------------


def naive_reinforce(rewards: list[float], baseline: str, group_ids: list[int] | None) -> list[float]:
    out = []
    for i, reward in enumerate(rewards):
        if baseline == "none":
            out.append(reward)
        elif baseline == "batch_mean":
            out.append(reward - sum(rewards) / len(rewards))
        else:
            others = [r for j, (r, g) in enumerate(zip(rewards, group_ids)) if g == group_ids[i] and j != i]
            out.append(reward - sum(others) / len(others))
    return out


@pytest.mark.parametrize("baseline", ["none", "batch_mean", "group_mean"])
def test_reinforce_advantages_match_naive_loop(baseline):
    gen = torch.Generator().manual_seed(2)
    group_ids = torch.tensor([4, 1, 4, 1, 1, 8, 8, 4, 1])
    rewards = torch.rand(len(group_ids), generator=gen, dtype=torch.float64)

    got = reinforce_advantages(rewards, baseline=baseline, group_ids=group_ids)

    expected = naive_reinforce(rewards.tolist(), baseline, group_ids.tolist())
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_rloo_needs_group_ids_and_groups_of_two():
    rewards = torch.tensor([1.0, 0.0, 1.0])
    with pytest.raises(ConfigError, match="needs group_ids"):
        reinforce_advantages(rewards, baseline="group_mean")
    with pytest.raises(ConfigError, match=r"groups \[5\] with 1"):
        reinforce_advantages(rewards, baseline="group_mean", group_ids=torch.tensor([2, 2, 5]))
    with pytest.raises(ConfigError, match="baseline expects one of"):
        reinforce_advantages(rewards, baseline="mean")


# --- GAE --------------------------------------------------------------------------------


def naive_gae(rewards, values, mask, gamma: float, lam: float):
    """One row at a time: list the policy tokens, then run the textbook recursion on them."""
    batch, length = len(mask), len(mask[0])
    advantages = [[0.0] * length for _ in range(batch)]
    returns = [[0.0] * length for _ in range(batch)]
    for b in range(batch):
        steps = [t for t in range(length) if mask[b][t]]
        next_advantage = 0.0
        for k in reversed(range(len(steps))):
            t = steps[k]
            next_value = values[b][steps[k + 1]] if k + 1 < len(steps) else 0.0
            delta = rewards[b][t] + gamma * next_value - values[b][t]
            next_advantage = delta + gamma * lam * next_advantage
            advantages[b][t] = next_advantage
            returns[b][t] = next_advantage + values[b][t]
    return torch.tensor(advantages, dtype=torch.float64), torch.tensor(returns, dtype=torch.float64)


@pytest.mark.parametrize("gamma, lam", [(1.0, 1.0), (0.99, 0.95), (0.9, 0.0), (0.5, 1.0)])
def test_gae_matches_naive_loop(gamma, lam):
    gen = torch.Generator().manual_seed(3)
    mask = episode_mask(7, 16, seed=3)
    rewards = torch.randn(7, 16, generator=gen, dtype=torch.float64)  # e.g. minus a per-token KL
    values = torch.randn(7, 16, generator=gen, dtype=torch.float64)

    advantages, returns = gae(rewards, values, mask, gamma=gamma, lam=lam)

    expected_adv, expected_ret = naive_gae(rewards.tolist(), values.tolist(), mask.tolist(), gamma, lam)
    torch.testing.assert_close(advantages, expected_adv)
    torch.testing.assert_close(returns, expected_ret)


def test_gae_with_one_terminal_reward_is_reward_minus_value():
    """gamma = lam = 1 telescopes: A_t = R - V_t at every policy token, and the return is R."""
    mask = episode_mask(6, 14, seed=4)
    values = torch.randn(6, 14, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    final_reward = torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0, 0.25], dtype=torch.float64)
    rewards = torch.zeros(6, 14, dtype=torch.float64)
    for b in range(6):
        policy_tokens = mask[b].nonzero()
        if len(policy_tokens):
            rewards[b, policy_tokens[-1]] = final_reward[b]

    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=1.0)

    expected = (final_reward[:, None] - values) * mask
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, final_reward[:, None] * mask)


def test_gae_ignores_what_sits_at_observation_tokens():
    mask = episode_mask(5, 12, seed=5)
    rewards = torch.randn(5, 12, dtype=torch.float64)
    values = torch.randn(5, 12, dtype=torch.float64)
    garbage = torch.where(mask.bool(), values, torch.tensor(float("inf"), dtype=torch.float64))

    clean = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    dirty = gae(rewards * mask, garbage, mask, gamma=0.9, lam=0.8)

    for a, b in zip(clean, dirty):
        torch.testing.assert_close(a, b)
        assert (a[~mask.bool()] == 0).all()
    assert (clean[0][0] == 0).all()  # a row without policy tokens


def test_gae_returns_detached_tensors():
    values = torch.randn(2, 4, requires_grad=True)
    advantages, returns = gae(torch.ones(2, 4), values, torch.ones(2, 4, dtype=torch.bool))
    assert not advantages.requires_grad and not returns.requires_grad


# --- whitening and broadcasting ---------------------------------------------------------


def naive_whiten(x, mask, shift_mean: bool, eps: float):
    picked = [x[b][t] for b in range(len(x)) for t in range(len(x[b])) if mask[b][t]]
    mean = sum(picked) / len(picked)
    variance = sum((v - mean) ** 2 for v in picked) / (len(picked) - 1)
    out = [[0.0] * len(row) for row in x]
    for b in range(len(x)):
        for t in range(len(x[b])):
            if mask[b][t]:
                out[b][t] = (x[b][t] - mean) / math.sqrt(variance + eps) + (0.0 if shift_mean else mean)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("shift_mean", [True, False])
def test_whiten_matches_naive_loop(shift_mean):
    mask = episode_mask(6, 10, seed=6)
    x = 3.0 + 2.0 * torch.randn(6, 10, generator=torch.Generator().manual_seed(6), dtype=torch.float64)

    got = whiten(x, mask, shift_mean=shift_mean)

    torch.testing.assert_close(got, naive_whiten(x.tolist(), mask.tolist(), shift_mean, eps=1e-8))


def test_whiten_of_an_empty_mask_is_zero():
    got = whiten(torch.randn(3, 4), torch.zeros(3, 4))
    assert got.tolist() == [[0.0] * 4] * 3


def test_tokens_from_sequence_matches_naive_loop():
    mask = episode_mask(5, 9, seed=7)
    per_episode = torch.tensor([1.5, -2.0, 0.0, 3.0, float("inf")])

    got = tokens_from_sequence(per_episode, mask)

    expected = [[per_episode[b].item() if mask[b, t] else 0.0 for t in range(9)] for b in range(5)]
    assert got.tolist() == expected
