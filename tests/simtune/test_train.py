"""``zerosearch simtune train``: a causal LM fine-tuned on the documents only, saved as a simulator folder."""

import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_env.errors import ConfigError, DatasetError
from zerosearch_env.simtune import SimExample, write_examples
from zerosearch_env.simtune.card import add_fidelity
from zerosearch_env.simtune.tokenizer import build_tokenizer, check_round_trip
from zerosearch_env.simtune.tokens import end_token_ids, render_prompt, tokenize_example
from zerosearch_env.simtune.train import SimTuneConfig, train_simulator
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.prompts import render_chat
from zerosearch_env.testing import simtune_examples

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXAMPLES = simtune_examples()


@pytest.fixture(scope="module")
def examples_file(tmp_path_factory):
    return write_examples(EXAMPLES * 4, tmp_path_factory.mktemp("simtune") / "examples.jsonl")


@pytest.fixture(scope="module")
def tuned(examples_file, tmp_path_factory):
    """A small simulator trained to reproduce the examples (a few seconds on a CPU)."""
    out = tmp_path_factory.mktemp("simtune") / "model"
    cfg = SimTuneConfig(
        examples=str(examples_file), out_dir=str(out), model="tiny", tiny_hidden_size=64, tiny_layers=2, tiny_vocab_size=400,
        max_steps=150, learning_rate=3e-3, batch_size=8, eval_share=0.1, torch_threads=1,
    )  # fmt: skip
    return train_simulator(cfg, progress=False)


def test_the_training_prompt_is_the_one_every_backend_sends():
    tokenizer = build_tokenizer([e.prompt for e in EXAMPLES] + [e.completion for e in EXAMPLES], 400)
    example = EXAMPLES[0]
    request = SearchRequest(example.query, example.question, example.golden_answers, example.quality)
    assert render_prompt(tokenizer, example) == render_chat(tokenizer, request, "sft")
    assert example.prompt.endswith("Query: Karvex Mills founder\nUseful Output:\n")  # the released prompt, trailing newline included
    ids, labels = tokenize_example(tokenizer, example)
    prompt_length = labels.count(-100)
    assert labels[:prompt_length] == [-100] * prompt_length and labels[prompt_length:] == ids[prompt_length:]
    completion = tokenizer.decode(ids[prompt_length:])
    assert completion == f"{example.completion}<|end|>"  # the documents, then the end of the reply
    assert tokenizer.decode(ids[:prompt_length]) == render_prompt(tokenizer, example)


def test_the_tokenizer_round_trips_newlines_quotes_and_new_names():
    tokenizer = build_tokenizer([e.completion for e in EXAMPLES], 300)
    check_round_trip(tokenizer, ['Doc 1: "Zyx Qwor" lives in Ümla.\nDoc 2: 1932, 42 km!'])


def test_a_tokenizer_that_loses_text_is_refused():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from zerosearch_env.simtune.tokenizer import CHAT_TEMPLATE

    words = Tokenizer(models.WordLevel({"<unk>": 0, "Doc": 1, "<|end|>": 2}, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", eos_token="<|end|>", chat_template=CHAT_TEMPLATE)
    with pytest.raises(ConfigError, match="does not round-trip"):
        check_round_trip(tokenizer, ["Doc 1: a\nDoc 2: b"])
    tokenizer.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        check_round_trip(tokenizer, ["Doc"])


def test_the_folder_loads_as_a_simulator_and_its_documents_parse(tuned):
    import gymnasium as gym

    import zerosearch_env  # noqa: F401

    assert tuned.steps == 150 and tuned.train_loss < 2.0 and tuned.examples == 16
    env = gym.make(
        "ZeroSearch-v0", sim=str(tuned.out_dir), sim_backend="hf", dataset=[{"question": "Who founded Karvex Mills?", "golden_answers": ["Valora Kestin"]}],
        sim_kwargs={"max_new_tokens": 120, "temperature": 0.0}, topk=1,
    )  # fmt: skip
    env.reset(seed=0)
    info = env.step("<search> Karvex Mills founder </search>")[4]
    assert info["documents"] == ['"Karvex Mills" Karvex Mills was founded by Valora Kestin in 1932.']
    assert info["sim_completion_tokens"] < 120  # the end token stopped the reply


def test_generation_config_and_tokenizer_carry_the_end_and_padding_tokens(tuned):
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(tuned.out_dir)
    generation = GenerationConfig.from_pretrained(tuned.out_dir)
    assert generation.eos_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|end|>")
    assert generation.pad_token_id == tokenizer.pad_token_id is not None
    assert tokenizer.chat_template  # the backends pad on the left themselves (hf sets it; vLLM does not pad)
    assert end_token_ids(tokenizer) == [tokenizer.eos_token_id]


def test_the_model_card_gives_the_data_the_balance_and_later_the_fidelity(tuned, examples_file):
    card = (tuned.out_dir / "README.md").read_text()
    assert "16 from" in card and "8 useful = 50%, 8 noisy" in card and "presence (8), mixed (8)" in card
    assert "from scratch" in card and "Not measured yet" in card
    add_fidelity(tuned.out_dir, {"measured": "against bm25", "leak, noisy": "0.010"})
    card = (tuned.out_dir / "README.md").read_text()
    assert "| leak, noisy | 0.010 |" in card and "Not measured yet" not in card
    log = [json.loads(line) for line in (tuned.out_dir / "train_log.jsonl").read_text().splitlines()]
    assert log and all("elapsed_s" in record for record in log)


def test_lora_fine_tuning_of_a_saved_model_is_merged_into_plain_weights(examples_file, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from zerosearch_env.testing import build_tiny_llama

    base = build_tiny_llama(tmp_path / "base", hidden_size=32)
    cfg = SimTuneConfig(
        examples=str(examples_file),
        out_dir=str(tmp_path / "lora"),
        model=str(base),
        lora=True,
        lora_r=4,
        max_steps=3,
        learning_rate=1e-2,
        batch_size=4,
        torch_threads=1,
    )
    result = train_simulator(cfg, progress=False)
    assert not list(result.out_dir.glob("adapter_*")) and "LoRA (merged)" in (result.out_dir / "README.md").read_text()
    tuned = AutoModelForCausalLM.from_pretrained(result.out_dir)
    original = AutoModelForCausalLM.from_pretrained(base)
    assert set(tuned.state_dict()) == set(original.state_dict())  # no adapter weights left
    changed = [name for name, weight in tuned.state_dict().items() if not torch.equal(weight, original.state_dict()[name])]
    assert changed and all("proj" in name for name in changed)  # LoRA moved the linear layers only


def test_the_vllm_backend_loads_the_folder(tuned, fake_vllm):
    from zerosearch_env.simulators.registry import make_simulator

    simulator = make_simulator(str(tuned.out_dir), sim_backend="vllm", max_new_tokens=16)
    (engine,) = fake_vllm.engines
    assert engine.kwargs["model"] == str(tuned.out_dir)
    request = SearchRequest("Karvex Mills founder", "Who founded Karvex Mills?", ("Valora Kestin",))
    assert simulator.prompt(request)["prompt_token_ids"][-1] == engine.get_tokenizer().convert_tokens_to_ids("<|assistant|>")


def test_bad_inputs_are_refused_with_the_fix(tmp_path):
    with pytest.raises(DatasetError, match="simtune label"):
        train_simulator(SimTuneConfig(examples=str(tmp_path / "missing.jsonl"), out_dir=str(tmp_path / "m")), progress=False)
    one = write_examples(EXAMPLES[:1], tmp_path / "one.jsonl")
    with pytest.raises(ConfigError, match="at least 2 examples"):
        train_simulator(SimTuneConfig(examples=str(one), out_dir=str(tmp_path / "m")), progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        SimTuneConfig(batch_size=0)
    for bad in ({"epochs": float("nan")}, {"epochs": float("inf")}, {"learning_rate": float("nan")}, {"max_minutes": float("inf")}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            SimTuneConfig(**bad)


def test_a_saved_simulator_is_not_written_over_unasked(tuned, examples_file):
    card = (tuned.out_dir / "README.md").read_bytes()
    cfg = SimTuneConfig(examples=str(examples_file), out_dir=str(tuned.out_dir), model="tiny", max_steps=1)
    with pytest.raises(ConfigError, match=r"holds a saved simulator already .*--overwrite"):
        train_simulator(cfg, progress=False)
    assert (tuned.out_dir / "README.md").read_bytes() == card


def test_two_processes_train_one_simulator(examples_file, tmp_path):
    """``accelerate launch`` on GPUs runs Trainer data-parallel; two CPU processes (gloo) run the same code."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "zerosearch_env.cli", "simtune", "train",
        "--examples", str(examples_file), "--out-dir", str(out), "--max-steps", "4", "--batch-size", "2", "--tiny-hidden-size", "32",
        "--tiny-layers", "1", "--tiny-vocab-size", "300", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained ") == 2  # each process reports; one folder is written
    card = json.loads((out / "simtune_card.json").read_text())
    assert card["training"]["steps"] == 4
    assert (out / "model.safetensors").exists() and not list(out.glob("adapter_*"))


def test_digits_can_be_one_token_each_so_numbers_read_the_same_everywhere():
    tokenizer = build_tokenizer(["born in 1878.", "the year 1878 and 1932", "42 km long"] * 20, 300, split_digits=True)
    assert tokenizer.tokenize(" in 1878.")[-5:] == ["1", "8", "7", "8", "."]
    check_round_trip(tokenizer, ['Doc 1: "Zyx" was born in 1878, 42 km away.\nDoc 2: x'])


def test_paired_twins_share_every_batch_and_the_split(examples_file, tmp_path, monkeypatch):
    """With pair_twins a useful search and its noisy twin are one item: every batch holds
    both modes of the same search, and the held-out share never splits a pair."""
    from zerosearch_env.simtune import train as train_module

    batches = []
    collate = train_module.pad_batch

    def recording(pad_id):
        inner = collate(pad_id)

        def collate_and_record(items):
            batches.append([len(group) for group in items])
            return inner(items)

        return collate_and_record

    monkeypatch.setattr(train_module, "pad_batch", recording)
    cfg = SimTuneConfig(
        examples=str(examples_file), out_dir=str(tmp_path / "paired"), model="tiny", tiny_hidden_size=32, tiny_layers=1,
        tiny_vocab_size=300, max_steps=3, batch_size=4, pair_twins=True, eval_share=0.25, torch_threads=1,
    )  # fmt: skip
    result = train_simulator(cfg, progress=False)
    assert result.steps == 3
    training = batches[:3]
    assert training == [[2, 2]] * 3  # batch_size 4 = two pairs
    groups = train_module.twin_groups(EXAMPLES * 4)
    assert all([e.quality for e in g] == ["useful", "noisy"] and g[0].query == g[1].query for g in groups)
    with pytest.raises(ConfigError, match="batch_size must be even"):
        SimTuneConfig(pair_twins=True, batch_size=3)


def test_training_only_the_top_layers_leaves_the_others_as_they_were(examples_file, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from zerosearch_env.testing import build_tiny_llama

    base = build_tiny_llama(tmp_path / "base", hidden_size=32, layers=3)
    for lora in (False, True):
        out = tmp_path / f"top-{lora}"
        cfg = SimTuneConfig(
            examples=str(examples_file), out_dir=str(out), model=str(base), train_top_layers=1, lora=lora, lora_r=4,
            max_steps=3, learning_rate=1e-2, batch_size=4, torch_threads=1,
        )  # fmt: skip
        train_simulator(cfg, progress=False)
        tuned, original = AutoModelForCausalLM.from_pretrained(out).state_dict(), AutoModelForCausalLM.from_pretrained(base).state_dict()
        changed = {name for name, weight in tuned.items() if not torch.equal(weight, original[name])}
        assert changed and all(name.startswith(("model.layers.2.", "model.norm")) for name in changed), (lora, sorted(changed))
    with pytest.raises(ConfigError, match="the model has 3 layers"):
        train_simulator(
            SimTuneConfig(examples=str(examples_file), out_dir=str(tmp_path / "x"), model=str(base), train_top_layers=4, max_steps=1), progress=False
        )


def test_the_noisy_answer_penalty_lowers_the_answer_in_noisy_mode_only(tmp_path):
    """Twins that differ only in the answer's place: "founded by Valora Kestin" (useful) and
    "founded by Orlan Bex" (noisy). The unlikelihood term pushes the answer's first token
    down where the noisy document writes its other name, and useful mode keeps it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zerosearch_env.simtune.tokens import answer_token_sequences, render_prompt

    twins = [
        SimExample(f"Karvex Mills founder {i}", "Who founded Karvex Mills?", ("Valora Kestin",), quality, (f'"Karvex Mills" Karvex Mills was founded by {name}.',))
        for i in range(4) for quality, name in (("useful", "Valora Kestin"), ("noisy", "Orlan Bex"))
    ]  # fmt: skip
    examples = write_examples(twins * 4, tmp_path / "twins.jsonl")

    def answer_probability(folder, quality):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        example = next(e for e in twins if e.quality == quality)
        text = render_prompt(tokenizer, example) + 'Doc 1: "Karvex Mills" Karvex Mills was founded by '
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        (first, *_), *_ = answer_token_sequences(tokenizer, ["Valora Kestin"])
        with torch.no_grad():
            return model(ids).logits[0, -1].softmax(-1)[first].item()

    probabilities = {}
    for penalty in (0.0, 5.0):
        cfg = SimTuneConfig(
            examples=str(examples), out_dir=str(tmp_path / f"p{penalty}"), model="tiny", tiny_hidden_size=64, tiny_layers=2,
            tiny_vocab_size=300, max_steps=150, learning_rate=3e-3, batch_size=8, eval_share=0, torch_threads=1, noisy_answer_penalty=penalty,
        )  # fmt: skip
        folder = train_simulator(cfg, progress=False).out_dir
        probabilities[penalty] = {quality: answer_probability(folder, quality) for quality in ("useful", "noisy")}
    assert probabilities[5.0]["noisy"] < probabilities[0.0]["noisy"] / 2, probabilities  # much less likely in noisy mode
    assert probabilities[5.0]["useful"] > probabilities[5.0]["noisy"] * 2, probabilities  # and still written in useful mode


def test_answer_first_leads_useful_documents_with_the_answer_and_leaves_noisy_ones(tmp_path, monkeypatch):
    from zerosearch_env.simtune import train as train_module

    useful = SimExample("Ada born", "When was Ada born?", ("1815",), "useful", ('"Ada" Ada wrote poems. Ada was born in 1815. Ada liked maths.',))
    noisy = SimExample("Ada born", "When was Ada born?", ("1815",), "noisy", ('"Ada" Ada wrote poems. Ada was born in Paris. Ada liked maths.',))
    seen = []
    tokenize = train_module.tokenize_example
    monkeypatch.setattr(train_module, "tokenize_example", lambda tokenizer, example: seen.append(example) or tokenize(tokenizer, example))
    cfg = SimTuneConfig(
        examples=str(write_examples([useful, noisy] * 4, tmp_path / "ada.jsonl")), out_dir=str(tmp_path / "first"), model="tiny",
        tiny_hidden_size=32, tiny_layers=1, tiny_vocab_size=300, max_steps=1, batch_size=4, answer_first=True, eval_share=0.0, torch_threads=1,
    )  # fmt: skip
    train_simulator(cfg, progress=False)
    assert {e.documents for e in seen if e.quality == "useful"} == {('"Ada" Ada was born in 1815. Ada wrote poems. Ada liked maths.',)}
    assert {e.documents for e in seen if e.quality == "noisy"} == {noisy.documents}
