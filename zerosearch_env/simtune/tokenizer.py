"""A tokenizer for a simulator trained from scratch, and the checks every tokenizer must pass.

A simulator trained from scratch (the CPU preset) needs a tokenizer of its own. Two
pitfalls broke earlier attempts: a word-level vocabulary turns punctuation clusters into
``<unk>`` and loses newlines, so the ``Doc i:`` lines collapse; and a vocabulary learned
from one world's names cannot spell another world's. A byte-level BPE trained on the
examples keeps every byte (newlines, quotes, digits) and learns the syllables names are
made of, so a name in the prompt is a few tokens the model can copy into a document.
:func:`check_round_trip` is run on every tokenizer before training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConfigError

#: Role markers of the small chat template of a from-scratch simulator.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ("<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1024, *, split_digits: bool = False) -> Any:
    """A byte-level BPE trained on ``texts``, with padding and end tokens and a chat template.

    ``split_digits`` makes every digit its own token: a year is then four tokens that read
    the same wherever it appears, so a small model copies it digit by digit instead of
    recalling which merged chunk (``18`` + ``7`` + ``8``) spells it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level]) if split_digits else byte_level
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<|end|>",
        additional_special_tokens=list(SPECIAL_TOKENS[2:]),
        model_input_names=["input_ids", "attention_mask"],
        chat_template=CHAT_TEMPLATE,
    )


def check_round_trip(tokenizer: Any, samples: Sequence[str]) -> None:
    """Every sample decodes back to itself, and the tokenizer has a chat template and an
    end token: otherwise generation cannot stop and ``Doc i:`` lines cannot survive.

    Raises:
        ConfigError: naming the first sample that does not round-trip, or what is missing.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "the tokenizer has no chat template: the simulator is prompted through one. Fine-tune an instruct "
            "model (e.g. Qwen/Qwen2.5-3B-Instruct), or save a chat_template with the base model's tokenizer"
        )
    if tokenizer.eos_token_id is None:
        raise ConfigError("the tokenizer has no end token (eos_token): generation would never stop; set tokenizer.eos_token")
    for sample in samples:
        ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
        back = tokenizer.decode(ids, skip_special_tokens=False)
        if back != sample:
            at = next((i for i, (a, b) in enumerate(zip(sample, back)) if a != b), min(len(sample), len(back)))
            raise ConfigError(
                f"the tokenizer does not round-trip a training text (first difference at character {at}: "
                f"{sample[max(0, at - 20) : at + 20]!r} came back as {back[max(0, at - 20) : at + 20]!r}); "
                "use a byte-level tokenizer"
            )
