"""The vLLM offline backend (GPU machines only; the transformers tests are its CPU twin)."""

import pytest

from zerosearch_env.simulators.base import SearchRequest

from .conftest import require_vllm

pytestmark = require_vllm


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from zerosearch_env.simulators.vllm import VLLMSimulator
    from zerosearch_env.testing import build_tiny_llama

    # head_dim 64: a size every vLLM attention backend supports
    path = build_tiny_llama(tmp_path_factory.mktemp("vllm") / "tiny", hidden_size=256)
    return VLLMSimulator(path, max_new_tokens=32, gpu_memory_utilization=0.2, max_model_len=1024)


def requests(n, offset=0):
    return [SearchRequest(f"q{i}", f"Question {i}?", (f"A{i}",), "useful", seed=i + offset) for i in range(n)]


def test_one_call_per_batch_in_order_with_token_counts(engine):
    results = engine.simulate(requests(32))
    assert len(results) == 32
    assert all(r.prompt_tokens > 50 and 0 < r.completion_tokens <= 32 for r in results)


def test_request_seeds_make_sampling_reproducible(engine):
    """The same batch again gives the same documents: the engine runs in-process with the
    prefix cache off (the conditions zerosearch_env.vllm_engine sets and documents)."""
    first = [r.documents for r in engine.simulate(requests(8))]
    assert first == [r.documents for r in engine.simulate(requests(8))]
    assert first != [r.documents for r in engine.simulate(requests(8, offset=1000))]


def test_gym_make_with_vllm_backend(engine, tmp_path):
    import gymnasium as gym

    import zerosearch_env  # noqa: F401

    env = gym.make("ZeroSearch-v0", sim=engine)
    _, info = env.reset(seed=0)
    info = env.step(f"<search> {info['question']} </search>")[4]
    assert info["sim_prompt_tokens"] > 0
