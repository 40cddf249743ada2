"""The transformers backend, end to end with a tiny Llama saved to disk and loaded by path."""

import os

import gymnasium as gym
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import zerosearch_env  # noqa: F401
from zerosearch_env.errors import ConfigError, MissingWeightsError
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.hf import HFSimulator
from zerosearch_env.simulators.prompts import sft_prompt
from zerosearch_env.simulators.registry import choose_backend, make_simulator
from zerosearch_env.testing import build_tiny_llama

FAST = {"max_new_tokens": 24, "batch_size": 8}


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers.utils import logging

    logging.disable_progress_bar()
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "Simulation_LLM_tiny")


@pytest.fixture(scope="module")
def tiny_sim(tiny_llama):
    return HFSimulator(tiny_llama, **FAST)


def requests(n, **kwargs):
    return [SearchRequest(f"query {i}", f"Question number {i}?", (f"Answer{i}",), "useful" if i % 2 else "noisy", seed=i, **kwargs) for i in range(n)]


def test_gym_make_with_a_model_folder_plays_several_episodes(tiny_llama):
    env = gym.make("ZeroSearch-v0", sim=str(tiny_llama), sim_backend="hf", sim_kwargs=FAST, difficulty=0.5)
    assert env.unwrapped.simulator.name == "sft:Simulation_LLM_tiny"
    for episode in range(3):
        obs, info = env.reset(seed=episode)
        total_prompt = 0
        for turn in range(2):
            obs, _reward, terminated, _truncated, info = env.step(f"<search> {info['question']} part {turn} </search>")
            assert obs.startswith("\n\n<information>") and obs.endswith("</information>\n\n")
            assert info["sim_prompt_tokens"] > 50 and 0 < info["sim_completion_tokens"] <= 24
            total_prompt += info["sim_prompt_tokens"]
            assert info["sim_error"] is None or info["sim_error"].kind == "empty"
        assert info["episode_sim_prompt_tokens"] == total_prompt
        _, _, terminated, _, info = env.step("<answer> x </answer>")
        assert terminated


def test_prompt_goes_through_chat_template_with_empty_system(tiny_sim):
    (request,) = requests(1)
    rendered = tiny_sim.render(request)
    assert rendered == f"<|system|><|end|><|user|>{sft_prompt(request)}<|end|><|assistant|>"
    assert rendered.endswith("Output:\n<|end|><|assistant|>")  # the prompt's own trailing newline survives the template


def test_each_request_in_a_batch_is_simulated_with_its_own_question(tiny_sim):
    batch = requests(5)
    rendered = [tiny_sim.render(r) for r in batch]
    for i, text in enumerate(rendered):
        assert f'"Question number {i}?" whose answer is Answer{i}.' in text
        assert f"Query: query {i}\n" in text
        assert ("Useful Output:" in text) == (i % 2 == 1)


def test_batched_results_match_requests_and_count_tokens(tiny_sim):
    batch = requests(11)  # two generate calls with batch_size 8
    results = tiny_sim.simulate(batch)
    assert len(results) == 11
    prompt_lengths = [len(tiny_sim.tokenizer(tiny_sim.render(r), add_special_tokens=False)["input_ids"]) for r in batch]
    assert [r.prompt_tokens for r in results] == prompt_lengths  # padding is not counted
    assert all(0 < r.completion_tokens <= 24 for r in results)


def test_seeded_sampling_is_reproducible(tiny_sim):
    batch = requests(4)
    first = [r.documents for r in tiny_sim.simulate(batch)]
    assert first == [r.documents for r in tiny_sim.simulate(batch)]
    other = [SearchRequest(r.query, r.question, r.golden_answers, r.quality, seed=r.seed + 100) for r in batch]
    assert first != [r.documents for r in tiny_sim.simulate(other)]


def test_global_torch_rng_is_untouched(tiny_sim):
    import torch

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    tiny_sim.simulate(requests(2))
    assert torch.equal(torch.rand(3), expected)


def test_greedy_decoding(tiny_llama):
    sim = HFSimulator(tiny_llama, temperature=0.0, max_new_tokens=16)
    a = [r.documents for r in sim.simulate(requests(2))]
    b = [r.documents for r in sim.simulate([SearchRequest(r.query, r.question, r.golden_answers, r.quality, seed=999) for r in requests(2)])]
    assert a == b  # greedy ignores seeds


def test_prompt_mode_uses_the_few_shot_prompt(tiny_llama):
    sim = make_simulator(f"prompt:{tiny_llama}", sim_backend="hf", **FAST)
    assert sim.mode == "prompt" and "Example:" in sim.render(requests(1)[0])


def test_named_sim_without_weights_gives_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(MissingWeightsError) as info:
        gym.make("ZeroSearch-v0", sim="sft-7b", sim_backend="hf")
    message = str(info.value)
    assert "hf download sunhaonlp/Simulation_LLM_google_7B_V2 --local-dir Simulation_LLM_google_7B_V2" in message
    assert "sim='Simulation_LLM_google_7B_V2'" in message


def test_backend_choice_on_a_cpu_machine():
    assert choose_backend(None) == "hf"  # no GPU here
    assert choose_backend("openai") == "openai"
    with pytest.raises(ConfigError, match="sim_backend"):
        choose_backend("tgi")


@pytest.mark.parametrize("kwargs", [{"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0}, {"batch_size": 0}, {"mode": "zero"}])
def test_bad_sampling_options(tiny_llama, kwargs):
    with pytest.raises(ConfigError):
        HFSimulator(tiny_llama, **kwargs)


def test_the_models_generation_config_defaults_do_not_change_sampling(tmp_path):
    """A checkpoint's generation_config.json (here top_k=1, which would make sampling
    greedy) is not applied: the transformers backend samples what SamplingConfig says,
    as the vLLM backend does."""
    from transformers import GenerationConfig

    folder = build_tiny_llama(tmp_path / "sim")
    GenerationConfig(do_sample=True, top_k=1, repetition_penalty=1.5).save_pretrained(folder)
    sim = HFSimulator(folder, **FAST)
    assert sim.model.generation_config.top_k == 1  # the checkpoint's default is loaded...
    sampled = []
    generate = sim.model.generate
    sim.model.generate = lambda **kwargs: sampled.append(generate(**kwargs)) or sampled[-1]
    for seed in (1, 2):
        sim.simulate([SearchRequest("q", "Q?", ("a",), seed=seed)])
    assert not sampled[0].equal(sampled[1])  # ...but two seeds draw two different replies


def test_from_model_wraps_a_model_in_memory_as_loading_its_folder_does(tiny_llama, tiny_sim):
    """The same weights, wrapped in memory or loaded from their folder, generate the same
    tokens for the same seeded batch: both constructors share one setup (left padding,
    sampling, eval mode)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.padding_side = "right"
    sim = HFSimulator.from_model(AutoModelForCausalLM.from_pretrained(tiny_llama), tokenizer, **FAST)
    assert (sim.name, sim.device, sim.batch_size, sim.sampling) == ("hf:Simulation_LLM_tiny", "cpu", 8, tiny_sim.sampling)
    assert tokenizer.padding_side == "left" and not sim.model.training

    outputs = {}
    for key, simulator in (("memory", sim), ("folder", tiny_sim)):
        generate = simulator.model.generate
        simulator.model.generate = lambda generate=generate, key=key, **kwargs: outputs.setdefault(key, generate(**kwargs))
        try:
            simulator.simulate(requests(3))
        finally:
            del simulator.model.generate
    assert outputs["memory"].shape[0] == 3 and outputs["memory"].equal(outputs["folder"])
    with pytest.raises(ConfigError, match="batch_size"):
        HFSimulator.from_model(sim.model, tokenizer, batch_size=0)
