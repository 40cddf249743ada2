"""Tiny Llama-architecture models built in-process (no download), saved with save_pretrained.

Tests, benchmarks and CPU demos need a real causal LM without a download. Loading one back
through ``from_pretrained(path)`` exercises the same code a user's 7B folder goes
through. A Llama config is used on purpose: with transformers 5 a Qwen2 config makes
``AutoTokenizer`` rebuild Qwen's pre-tokenizer and silently change token ids.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def _training_text() -> list[str]:
    from .protocol import POLICY_PROMPT_TEMPLATE
    from .simulators.prompts import SFT_NOISY_TEMPLATE, SFT_USEFUL_TEMPLATE
    from .worlds.synthetic import make_world

    world = make_world()
    docs = [d.contents for d in world.documents[:300]]
    return [SFT_USEFUL_TEMPLATE, SFT_NOISY_TEMPLATE, POLICY_PROMPT_TEMPLATE, "Doc 1: Doc 2: Doc 3: Doc 4: Doc 5:"] + docs


def build_tokenizer(vocab_size: int = 512):
    """A byte-level BPE trained on the protocol strings and synthetic documents, with a
    small chat template (system/user/assistant markers)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<|end|>",
        additional_special_tokens=SPECIAL_TOKENS[2:],
        model_input_names=["input_ids", "attention_mask"],
        chat_template=CHAT_TEMPLATE,
    )


def save_tiny_llama(path: Path, tokenizer, *, hidden_size: int, layers: int, seed: int = 0, **config) -> Path:
    """Write ``tokenizer`` and a randomly initialised tiny Llama sized for it to ``path``
    (seeded without touching the global torch RNG). ``config`` overrides LlamaConfig fields."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    settings.update(config)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**settings))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def build_tiny_llama(path: Path, *, hidden_size: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a tokenizer and a randomly initialised tiny Llama to ``path``."""
    return save_tiny_llama(path, build_tokenizer(), hidden_size=hidden_size, layers=layers, seed=seed)
