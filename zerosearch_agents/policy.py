"""The policy: loading it (and a value head), and teacher-forced log-probs.

A policy is any Hugging Face causal LM with its tokenizer. ``policy="tiny"`` builds one
in-process for the CPU demo: a small Llama over a *word-level* tokenizer of the
synthetic world, where every name is a handful of tokens and the protocol tags
(``<search>``, ``</answer>``, ...) are single tokens, so a model of well under a million
parameters can learn the protocol in minutes on a laptop CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zerosearch_env.protocol import TAGS

from .losses import entropy_from_logits, token_logprobs

TINY_SPECIAL = ("<pad>", "<unk>", "<eos>")


def build_word_tokenizer(texts: list[str]) -> Any:
    """A word-level tokenizer over ``texts`` (words and single punctuation marks), with
    the protocol tags as whole tokens. Decoding joins tokens with spaces, which the
    environment's parsing and scoring ignore."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=list(TINY_SPECIAL), min_frequency=1)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_tokens(list(TAGS))  # kept whole: the policy writes and reads them
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        model_input_names=["input_ids", "attention_mask"],
    )


def build_tiny_policy(path: str | Path, *, hidden_size: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a word-level tokenizer over the synthetic world and a randomly initialised
    tiny Llama to ``path`` (loaded back with ``load_policy(path)``, like any checkpoint)."""
    from zerosearch_env.protocol import INVALID_ACTION_FEEDBACK, POLICY_PROMPT_TEMPLATE, document_markers
    from zerosearch_env.testing import save_tiny_llama
    from zerosearch_env.worlds.synthetic import make_world

    world = make_world()
    texts = [POLICY_PROMPT_TEMPLATE, INVALID_ACTION_FEEDBACK, document_markers(5)]
    texts += [d.contents for d in world.documents]
    texts += [q.question for split in ("train", "test") for q in world.questions(split)]
    tokenizer = build_word_tokenizer(texts)
    return save_tiny_llama(
        Path(path),
        tokenizer,
        hidden_size=hidden_size,
        layers=layers,
        seed=seed,
        intermediate_size=hidden_size * 4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )


def load_policy(name_or_path: str | Path, *, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a hub id, a folder or a named model (``smollm2-135m``), with a pad token and left padding for
    generation. A missing folder that looks like a path fails with what to do."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zerosearch_env.models import is_model_name, resolve_weights

    source = str(name_or_path)
    if is_model_name(source):  # smollm2-135m: a folder in the model cache, got on first use
        source = resolve_weights(source)
    if (source.startswith((".", "/")) or Path(source).suffix) and not Path(source).exists():
        raise FileNotFoundError(f"policy {source!r} does not exist; pass a hub id (e.g. Qwen/Qwen2.5-3B), a model folder or smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype) if dtype else AutoModelForCausalLM.from_pretrained(source)
    return model, tokenizer


class ValueHead(nn.Module):
    """A scalar value per token from the last hidden state (PPO's critic head)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, T)
        return self.linear(hidden.to(self.linear.weight.dtype)).squeeze(-1)


class Critic(nn.Module):
    """A value model: a causal LM trunk (the policy's, or a copy of it) plus a value head."""

    def __init__(self, trunk: Any):  # a transformers causal LM
        super().__init__()
        self.trunk = trunk
        self.head = ValueHead(trunk.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # The trunk without its LM head: no micro-batch x tokens x vocabulary logits to throw away.
        out = self.trunk.base_model(input_ids=input_ids, attention_mask=attention_mask)
        return self.head(out.last_hidden_state)  # (B, T)


#: What a trained policy's folder records about how it was prompted (``final/`` of a run).
POLICY_CARD = "zerosearch_policy.json"


def write_policy_card(folder: str | Path, *, chat: bool, prompt_template: str | None, max_turn_tokens: int, max_total_tokens: int) -> None:
    """Record how the policy played during training (its prompt, whether it went through
    the chat template, its turn budgets), so that evaluation plays it the same way: the
    ``hf:`` agent reads the chat setting and the budgets; the environment's prompt
    template is an evaluation flag (``--prompt-template``), recorded here to be copied."""
    import json

    card = {
        "chat_template": "on" if chat else "off",
        "prompt_template": prompt_template,
        "max_turn_tokens": max_turn_tokens,
        "max_total_tokens": max_total_tokens,
    }
    (Path(folder) / POLICY_CARD).write_text(json.dumps(card, indent=1) + "\n")


def read_policy_card(folder: str | Path) -> dict[str, Any]:
    """The folder's policy card, or ``{}`` for a model that no run of ours trained."""
    import json

    path = Path(folder) / POLICY_CARD
    return json.loads(path.read_text()) if path.is_file() else {}


def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip padding (left or right): 0 at each row's first real token."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def forward_logprobs(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    with_hidden: bool = False,
    chunk_size: int | None = None,
    whole_logits: bool = False,
) -> dict[str, torch.Tensor]:
    """Teacher-forced log-prob of every token given the ones before it.

    Returns ``logprobs`` (B, T) with position t holding log p(token_t | tokens_<t) (0 at
    t = 0), optionally ``entropy`` (B, T) and the last ``hidden`` states (B, T, H).
    Logits are divided by the sampling temperature, so the log-probs match the
    distribution rollouts were sampled from. The LM head runs ``chunk_size`` tokens at a
    time (None: as many as fit in about 1 GiB, :func:`.head_logprobs.chunk_tokens`): no
    ``[B, T, vocabulary]`` tensor is made, forward or backward, unless the model's head is
    not a plain linear layer or ``whole_logits`` asks for the plain computation.
    """
    from contextlib import nullcontext

    from .head_logprobs import logprob_head

    swap = nullcontext(False) if whole_logits else logprob_head(model, input_ids, temperature=temperature, chunk_size=chunk_size, with_entropy=with_entropy)
    with swap as chunked:
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_for(attention_mask),
            output_hidden_states=with_hidden,
        )
    if chunked:
        logprobs, entropy = out.logits[:, :-1, 0], out.logits[:, :-1, 1]  # (B, T-1): predicts tokens 1..T-1
    else:  # the whole logits tensor: a head the chunked path cannot replace
        logits = out.logits[:, :-1].float() / max(temperature, 1e-6)  # (B, T-1, V)
        logprobs = token_logprobs(logits, input_ids[:, 1:], chunk_size=1024)
        entropy = entropy_from_logits(logits) if with_entropy else None
    pad = logprobs.new_zeros(logprobs.shape[0], 1)
    result = {"logprobs": torch.cat([pad, logprobs], dim=1)}
    if with_entropy:
        result["entropy"] = torch.cat([pad, entropy], dim=1)
    if with_hidden:
        result["hidden"] = out.hidden_states[-1]
    return result
