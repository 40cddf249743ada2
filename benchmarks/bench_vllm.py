"""GPU: the vector env with the vLLM backend against vLLM's own offline throughput.

Target: the native vector env's end-to-end searches/s (parse, one ``LLM.generate`` per
step, parse the documents, rewards, bookkeeping) is at least 90% of what a bare
``LLM.generate`` makes on the same prompts with the same sampling parameters.

Needs the vllm extra and a CUDA GPU; skipped elsewhere. The model is a released
simulator or any local folder named by ``ZEROSEARCH_BENCH_SIM`` (default: a tiny Llama
built in-process, which measures the engine's per-call overhead at its worst).

The env's end-to-end completion tokens/s goes into the benchmark's ``extra_info``
(``sim_tokens_per_s``): with ``--benchmark-json PATH``, ``zerosearch cost
--throughput-file PATH`` prices a run with it.
"""

from __future__ import annotations

import os

import gymnasium as gym
import pytest

from zerosearch_env.import_utils import cuda_device_count, is_vllm_available

pytestmark = pytest.mark.skipif(not (is_vllm_available() and cuda_device_count() > 0), reason="needs the vllm package and a CUDA GPU")

NUM_ENVS = 256
MAX_NEW_TOKENS = 128
TARGET_FRACTION = 0.90
_means: dict[str, float] = {}
_step_tokens: list[int] = []  # completion tokens of each env step, for the recorded throughput


@pytest.fixture(scope="module")
def vector_env(tmp_path_factory):
    model = os.environ.get("ZEROSEARCH_BENCH_SIM")
    if model is None:
        from zerosearch_env.testing import build_tiny_llama

        # head size 64, which every vLLM attention backend takes; the engine's context is
        # cut to the model's 2,048 positions
        model = str(build_tiny_llama(tmp_path_factory.mktemp("bench_vllm") / "tiny", hidden_size=256))
    envs = gym.make_vec(
        "ZeroSearch-v0",
        num_envs=NUM_ENVS,
        sim=model,
        sim_backend="vllm",
        sim_kwargs={"max_new_tokens": MAX_NEW_TOKENS, "gpu_memory_utilization": 0.6},
        max_turns=10**6,  # every step searches
    )
    envs.reset(seed=0)
    yield envs
    envs.close()


def _search_step(envs):
    envs.step([f"<search> query {i} about the company </search>" for i in range(NUM_ENVS)])
    _step_tokens.append(envs.last_step_stats.sim_completion_tokens)


def test_vector_env_with_vllm(benchmark, vector_env):
    benchmark.pedantic(_search_step, args=(vector_env,), rounds=5, warmup_rounds=1)
    if benchmark.stats is not None:
        _means["env"] = benchmark.stats.stats.mean
        # What `zerosearch cost --throughput-file` reads: end-to-end completion tokens/s.
        tokens = sum(_step_tokens) / len(_step_tokens)
        benchmark.extra_info.update(searches_per_step=NUM_ENVS, sim_completion_tokens_per_step=tokens, sim_tokens_per_s=tokens / _means["env"])


def test_bare_vllm_generate(benchmark, vector_env):
    """The same prompts and sampling parameters straight into ``LLM.generate``."""
    sim = vector_env.simulator
    sim = getattr(sim, "inner", sim)  # unwrap a cache, if one is configured
    requests = [env.begin_turn(f"<search> query {i} about the company </search>").request for i, env in enumerate(vector_env.envs)]
    prompts = [sim.prompt(r) for r in requests]
    params = [sim.sampling_params(r) for r in requests]
    benchmark.pedantic(sim.engine.generate, args=(prompts, params), kwargs={"use_tqdm": False}, rounds=5, warmup_rounds=1)
    if benchmark.stats is not None:
        _means["bare"] = benchmark.stats.stats.mean


def test_env_reaches_target_fraction_of_vllm():
    if set(_means) != {"env", "bare"}:
        pytest.skip("run with the two benchmarks above (not --benchmark-disable)")
    fraction = _means["bare"] / _means["env"]
    print(f"\nvector env with vLLM: {fraction:.1%} of bare vLLM offline throughput at {NUM_ENVS} searches per step")
    assert fraction >= TARGET_FRACTION
