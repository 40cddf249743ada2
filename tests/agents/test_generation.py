"""Where a policy turn ends in the transformers generator."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_agents.generation import HFGenerator, Sampling
from zerosearch_agents.policy import build_tiny_policy, load_policy


def test_a_turn_ends_on_any_of_the_models_end_ids_not_only_the_tokenizers(tmp_path):
    """Instruct models list several end ids in ``generation_config`` (SmolLM2's and
    Qwen2.5-Instruct's reply ends with one that is not the tokenizer's EOS); vLLM stops on
    all of them, and so must the transformers backend."""
    model, tokenizer = load_policy(build_tiny_policy(tmp_path / "tiny", hidden_size=16, layers=1), dtype=torch.float32)
    context = [tokenizer("Question : Who founded company 3 ?")["input_ids"]]
    free = HFGenerator(model, tokenizer).generate(context, [8], Sampling(0.0))[0]
    first = free.token_ids[0]
    assert free.stop == "length" and first != tokenizer.eos_token_id

    model.generation_config.eos_token_id = [tokenizer.eos_token_id, first]
    ended = HFGenerator(model, tokenizer).generate(context, [8], Sampling(0.0))[0]
    assert ended.token_ids == [first] and ended.stop == "eos"
