"""How the project starts vLLM engines and what the simulator sends them, checked on CPU
against a recording stand-in for vLLM (``tests/fake_vllm.py``); the GPU twins are in test_vllm.py."""

import pytest

pytest.importorskip("transformers")

from zerosearch_env.errors import ConfigError
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.prompts import render_chat
from zerosearch_env.simulators.registry import make_simulator
from zerosearch_env.testing import build_tiny_llama, build_tokenizer, save_tiny_llama
from zerosearch_env.vllm_engine import Placement, start_engine


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("vllm") / "sim")  # 2,048 positions


def requests(n):
    return [SearchRequest(f"q{i}", f"Question {i}?", (f"A{i}",), "useful" if i % 2 else "noisy", seed=100 + i) for i in range(n)]


def test_a_lone_process_gets_the_single_process_executor(fake_vllm, tiny):
    engine = start_engine(tiny, role="test", seed=7, gpu_memory_utilization=0.4)
    assert "distributed_executor_backend" not in engine.kwargs
    assert engine.kwargs["seed"] == 7 and engine.kwargs["gpu_memory_utilization"] == 0.4
    assert engine.kwargs["generation_config"] == "vllm"  # sampling is what SamplingParams say, as in the hf backend
    assert engine.kwargs["max_model_len"] == 2048  # 4,096 by default, cut to the model's positions
    assert engine.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # in-process: deterministic scheduling


def test_under_a_launcher_each_rank_places_its_engine_on_its_own_gpu(fake_vllm, tiny):
    seeds = []
    for rank in range(4):
        engine = start_engine(tiny, role="test", placement=Placement(rank=rank, local_rank=rank % 2, world_size=4), seed=10)
        assert engine.kwargs["distributed_executor_backend"] == "external_launcher"
        assert engine.environ == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "RANK": str(rank), "LOCAL_RANK": str(rank % 2), "WORLD_SIZE": "4"}
        seeds.append(engine.kwargs["seed"])
    assert seeds == [10, 11, 12, 13]  # one sampling seed per rank


def test_a_tensor_parallel_simulator_inside_several_processes_is_refused_with_the_server_recipe(fake_vllm, tiny):
    with pytest.raises(ConfigError, match=r"tensor_parallel_size=2.*4 training processes.*vllm serve.*sim='openai'"):
        start_engine(tiny, role="the simulator", placement=Placement(0, 0, 4), tensor_parallel_size=2)
    assert fake_vllm.engines == []


def test_a_context_longer_than_the_model_is_refused(fake_vllm, tiny):
    with pytest.raises(ConfigError, match="max_model_len=4096 exceeds the 2048 positions"):
        start_engine(tiny, role="test", max_model_len=4096)


def test_the_simulator_reads_its_rank_from_the_launchers_environment(fake_vllm, tiny, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    sim = make_simulator(str(tiny), sim_backend="vllm", seed=5, enable_sleep_mode=True)
    (engine,) = fake_vllm.engines
    assert engine.kwargs["distributed_executor_backend"] == "external_launcher" and engine.kwargs["seed"] == 6
    assert engine.kwargs["enable_sleep_mode"] is True
    assert engine.kwargs["enable_prefix_caching"] is False  # reproducible by default
    sim.sleep()
    sim.wake_up()
    assert engine.calls == [("sleep", 1), ("wake_up", None)]  # level 1: its weights wait in CPU memory


def test_prompts_go_as_token_ids_with_one_bos_and_each_requests_seed(fake_vllm, tmp_path):
    from tokenizers.processors import TemplateProcessing

    tokenizer = build_tokenizer()  # a Llama-style tokenizer that adds a BOS, which the chat template also writes
    bos = "<|system|>"
    tokenizer._tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tokenizer.convert_tokens_to_ids(bos))])
    folder = save_tiny_llama(tmp_path / "sim", tokenizer, hidden_size=32, layers=1)
    sim = make_simulator(str(folder), sim_backend="vllm", temperature=0.8, max_new_tokens=64)
    batch = requests(3)
    results = sim.simulate(batch)
    engine = fake_vllm.engines[0]
    bos_id = engine.tokenizer.convert_tokens_to_ids(bos)
    for request, (prompt, params), result in zip(batch, engine.requests, results):
        text = render_chat(engine.tokenizer, request, "sft")
        assert engine.tokenizer(text)["input_ids"][:2] == [bos_id, bos_id]  # what sending the text would do
        assert prompt["prompt_token_ids"] == engine.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert prompt["prompt_token_ids"][:2] != [bos_id, bos_id]
        assert params.kwargs == {"temperature": 0.8, "top_p": 1.0, "max_tokens": 64, "seed": request.seed}
        assert result.documents == ("Fake document one.", "Fake document two.")
        assert result.prompt_tokens == len(prompt["prompt_token_ids"])
