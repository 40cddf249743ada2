"""Cost of one step on a hostile action: a turn that repeats ``<search>`` and never closes it.

The action parse must be linear in the turn's length. A backtracking regex of the spec's
rule (``<(search|answer)>(.*?)</\\1>``) retries its lazy scan from every opener, so
``"<search>" * n`` cost quadratic time (20,000 characters: about 0.2 s a step; 200,000:
about 20 s). Target: stepping ``"<search>" * n`` costs at most 5x stepping plain text of
the same length, at n = 2,500 (20,000 characters, the default ``max_action_chars``) and
n = 25,000 (200,000 characters).
"""

from __future__ import annotations

import pytest

from zerosearch_env.env import ZeroSearchEnv
from zerosearch_env.protocol import TAGS

from .conftest import fixed_documents_simulator, record_mean

OPENER = TAGS[2]  # "<search>"
REPEATS = (2_500, 25_000)
TARGET_RATIO = 5.0
_means: dict[tuple[str, int], float] = {}


def plain_text(length: int) -> str:
    """Words without a tag, cut to ``length`` characters."""
    sentence = "the founder of the company was born in a small river town "
    return (sentence * (length // len(sentence) + 1))[:length]


@pytest.fixture(scope="module")
def env():
    env = ZeroSearchEnv(sim=fixed_documents_simulator(), max_turns=10**9, max_action_chars=len(OPENER) * max(REPEATS))
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("n", REPEATS)
def test_step_repeated_openers(benchmark, env, n):
    action = OPENER * n
    benchmark.group = f"step, {len(action):,} characters"
    _, _, terminated, _, info = benchmark.pedantic(env.step, args=(action,), rounds=100, iterations=1, warmup_rounds=2)
    assert info["action"] == "invalid" and not terminated
    record_mean(_means, ("openers", n), benchmark)


@pytest.mark.parametrize("n", REPEATS)
def test_step_plain_text(benchmark, env, n):
    action = plain_text(len(OPENER) * n)
    benchmark.group = f"step, {len(action):,} characters"
    _, _, terminated, _, info = benchmark.pedantic(env.step, args=(action,), rounds=100, iterations=1, warmup_rounds=2)
    assert info["action"] == "invalid" and not terminated
    record_mean(_means, ("plain", n), benchmark)


@pytest.mark.parametrize("n", REPEATS)
def test_repeated_openers_over_plain_text_ratio(n):
    if not {("openers", n), ("plain", n)} <= set(_means):
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    ratio = _means[("openers", n)] / _means[("plain", n)]
    print(
        f"\nstep of {len(OPENER) * n:,} characters: repeated {OPENER} {_means[('openers', n)] * 1e3:.3f} ms, "
        f"plain text {_means[('plain', n)] * 1e3:.3f} ms, ratio {ratio:.1f}x (target <= {TARGET_RATIO:.0f}x)"
    )
    assert ratio <= TARGET_RATIO
