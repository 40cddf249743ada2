"""Single-environment costs with a simulator that returns fixed documents.

Target: the environment's own overhead per step (parse + reward + bookkeeping) is at
most 20 µs median.
"""

from __future__ import annotations

import pytest

from zerosearch_env.env import ZeroSearchEnv

from .conftest import fixed_documents_simulator

TARGET_STEP_MEDIAN_S = 20e-6


@pytest.fixture(scope="module")
def env():
    env = ZeroSearchEnv(sim=fixed_documents_simulator(), max_turns=10**9)
    env.reset(seed=0)
    return env


def test_step_search(benchmark, env):
    action = "<think>I should look this up.</think><search> founder of the company </search>"
    # 50 steps per timed round: a round is long enough that timer jitter does not count.
    benchmark.pedantic(env.step, args=(action,), rounds=300, iterations=50, warmup_rounds=10)
    if benchmark.stats is not None:
        median = benchmark.stats.stats.median
        print(f"\nsearch step median: {median * 1e6:.1f} µs (target <= {TARGET_STEP_MEDIAN_S * 1e6:.0f} µs)")
        assert median <= TARGET_STEP_MEDIAN_S


def test_reset(benchmark, env):
    benchmark(env.reset)


def test_episode_throughput(benchmark, env):
    def episode():
        env.reset()
        env.step("<search> a query </search>")
        env.step("<search> another query </search>")
        return env.step("<answer> Jane Doe </answer>")

    assert benchmark(episode)[2]
