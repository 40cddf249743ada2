"""The native vector env against Gymnasium's SyncVectorEnv over the same env and simulator.

Both run the same episodes (search, search, answer, then the autoreset step) at 1, 16,
64 and 256 sub-envs, with three simulators:

- ``fixed``: returns five fixed documents at once, so only the environments' own work
  is measured;
- ``corpus``: the default BM25 simulator over the synthetic world;
- ``tiny-llm``: a tiny Llama through the transformers backend, the CPU stand-in for an
  LLM simulator, where one batched call instead of one call per sub-env is the point.

Targets (ratios from one run): at 256 sub-envs the native env makes at least 3x the
steps/s of SyncVectorEnv with the LLM simulator, and its own per-step overhead (wall
time outside the simulator, ``last_step_stats.overhead_s``) is under 3 ms.

Rounds are set by time, not count: every row runs for at least ``MIN_ROW_SECONDS`` of its
simulator (and at least ``MIN_ROUNDS`` rounds). The machines these numbers come from alternate between
two speeds every few seconds; a row shorter than that (a few hundred 1-sub-env cycles,
or two tiny-LLM cycles) lands in one phase, so the two sides of a native/sync ratio could
be timed at different speeds. A row that spans several phases has a median that does
not depend on when it ran, and its minimum is the fast phase's time.
"""

from __future__ import annotations

import math
import statistics
import time

import gymnasium as gym
import pytest

import zerosearch_env  # noqa: F401  (registers the ids)

from .conftest import fixed_documents_simulator

NUM_ENVS = (1, 16, 64, 256)
CYCLE = (
    "<think>Look it up.</think><search> founder of the company </search>",
    "<search> where was the company founded </search>",
    "<answer> Jane Doe </answer>",
    "<answer> ignored: this step resets the finished episodes </answer>",
)
TARGET_RATIO_AT_256 = 3.0
TARGET_OVERHEAD_S = 3e-3
LLM_NEW_TOKENS = 8
MIN_ROW_SECONDS = {"fixed": 5.0, "corpus": 5.0, "tiny-llm": 12.0}  # torch's batched rows vary the most
MIN_ROUNDS = 5

_means: dict[tuple[str, str, int], float] = {}
_overheads: dict[int, float] = {}


@pytest.fixture(scope="module")
def simulators(tmp_path_factory):
    sims = {"fixed": fixed_documents_simulator(), "corpus": "corpus"}
    try:
        from zerosearch_env.simulators.hf import HFSimulator
        from zerosearch_env.testing import build_tiny_llama
    except ImportError:  # the hf extra is not installed
        return sims
    path = build_tiny_llama(tmp_path_factory.mktemp("bench_vector") / "tiny")
    sims["tiny-llm"] = HFSimulator(path, max_new_tokens=LLM_NEW_TOKENS, batch_size=256)
    return sims


def _make(mode: str, n: int, sim):
    if mode == "native":
        return gym.make_vec("ZeroSearch-v0", num_envs=n, sim=sim)
    return gym.make_vec("ZeroSearch-v0", num_envs=n, vectorization_mode="sync", sim=sim)


def _cycle(envs, n: int) -> None:
    for action in CYCLE:
        envs.step([action] * n)


@pytest.mark.parametrize("n", NUM_ENVS)
@pytest.mark.parametrize("mode", ["native", "sync"])
@pytest.mark.parametrize("sim_name", ["fixed", "corpus", "tiny-llm"])
def test_vector_steps(benchmark, simulators, sim_name, mode, n):
    if sim_name not in simulators:
        pytest.skip("needs the hf extra: pip install -e '.[hf]'")
    if sim_name == "tiny-llm" and mode == "sync" and n == 256 and benchmark.disabled:
        pytest.skip("quick mode: 256 one-request LLM calls per step is the slow side of the ratio")
    envs = _make(mode, n, simulators[sim_name])
    envs.reset(seed=0)
    benchmark.group = f"vector env, {sim_name} simulator"
    benchmark.extra_info.update(sim=sim_name, mode=mode, num_envs=n, steps_per_round=len(CYCLE))
    rounds = _rounds(benchmark, envs, n, MIN_ROW_SECONDS[sim_name])
    benchmark.pedantic(_cycle, args=(envs, n), rounds=rounds, warmup_rounds=0)
    if benchmark.stats is not None:
        _means[(sim_name, mode, n)] = benchmark.stats.stats.median
        benchmark.extra_info["steps_per_s"] = len(CYCLE) / benchmark.stats.stats.median
        benchmark.extra_info["best_steps_per_s"] = len(CYCLE) / benchmark.stats.stats.min
    envs.close()


def _rounds(benchmark, envs, n: int, seconds: float) -> int:
    """Rounds that fill ``seconds``, estimated from two warm-up cycles (the first pays
    one-off costs, such as torch's set-up at a new batch shape). One in quick mode."""
    if benchmark.disabled:
        return 1
    _cycle(envs, n)
    started = time.perf_counter()
    _cycle(envs, n)
    return max(MIN_ROUNDS, math.ceil(seconds / (time.perf_counter() - started)))


def test_native_overhead_at_256(benchmark):
    """Median wall time per step outside the simulator, over whole episodes."""
    n = 256
    envs = gym.make_vec("ZeroSearch-v0", num_envs=n, sim=fixed_documents_simulator())
    envs.reset(seed=0)
    overheads: list[float] = []

    def cycle_recording_overhead():
        for action in CYCLE:
            envs.step([action] * n)
            overheads.append(envs.last_step_stats.overhead_s)

    benchmark.group = "vector env overhead"
    benchmark.pedantic(cycle_recording_overhead, rounds=20, warmup_rounds=1)
    median = statistics.median(overheads)
    benchmark.extra_info["median_overhead_s"] = median
    if benchmark.stats is not None:
        _overheads[n] = median
        print(f"\nnative vector env, 256 sub-envs: median overhead {median * 1e3:.2f} ms per step (target < {TARGET_OVERHEAD_S * 1e3:.0f} ms)")
        assert median < TARGET_OVERHEAD_S


def test_native_over_sync_ratios():
    if not _means:
        pytest.skip("run with the benchmarks above (not --benchmark-disable)")
    print("\nsteps/s, native / SyncVectorEnv:")
    for sim_name in ("fixed", "corpus", "tiny-llm"):
        cells = []
        for n in NUM_ENVS:
            native, sync = _means.get((sim_name, "native", n)), _means.get((sim_name, "sync", n))
            if native and sync:
                cells.append(f"{n}: {sync / native:.1f}x")
        print(f"  {sim_name:9s} " + ", ".join(cells))
    native, sync = _means.get(("tiny-llm", "native", 256)), _means.get(("tiny-llm", "sync", 256))
    if native is None or sync is None:
        pytest.skip("the tiny-llm pair at 256 sub-envs did not run")
    assert sync / native >= TARGET_RATIO_AT_256
