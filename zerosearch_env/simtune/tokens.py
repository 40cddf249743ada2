"""A simulator fine-tune's training data: each example rendered through the model's chat
template exactly as a backend prompts it, tokenized with labels on the completion only
(and, for noisy examples, the answer tokens it should not write), grouped with its twin,
and padded into batches for transformers' ``Trainer`` (:mod:`.train`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from ..simulators.prompts import chat_messages
from .examples import SimExample


def render_prompt(tokenizer: Any, example: SimExample) -> str:
    """The exact text a backend feeds the model for this example's search."""
    return tokenizer.apply_chat_template(chat_messages(example.prompt), tokenize=False, add_generation_prompt=True)


def render_completion(tokenizer: Any, example: SimExample) -> str:
    """The documents and the chat template's end of the assistant turn, as the template writes them."""
    prompt = render_prompt(tokenizer, example)
    messages = [*chat_messages(example.prompt), {"role": "assistant", "content": example.completion}]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ConfigError("the chat template renders a conversation differently from its prompt; it cannot be trained on completions only")
    return full[len(prompt) :]


def tokenize_example(tokenizer: Any, example: SimExample) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``: the prompt's labels are -100, the completion's are its ids."""
    prompt = tokenizer(render_prompt(tokenizer, example), add_special_tokens=False)["input_ids"]
    completion = tokenizer(render_completion(tokenizer, example), add_special_tokens=False)["input_ids"]
    return prompt + completion, [-100] * len(prompt) + completion


def answer_token_sequences(tokenizer: Any, answers: Sequence[str]) -> list[list[int]]:
    """The token ids each golden answer is written with, after a space or not (a leading
    token that is only white space dropped: it starts every word, not the answer)."""
    sequences: set[tuple[int, ...]] = set()
    for answer in answers:
        for text in (answer, f" {answer}"):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            while ids and not tokenizer.decode(ids[:1]).strip():
                ids = ids[1:]
            if ids:
                sequences.add(tuple(ids))
    return [list(ids) for ids in sorted(sequences)]


def unlikely_tokens(labels: Sequence[int], answers: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """``(position, token)`` pairs a noisy document should not write: at every labelled
    position, the next token of each answer given the longest answer prefix the target
    has just written (with no prefix, the answer's first token), unless it is the target.

    At position 1 the answer could start (1, where the target is 5); positions 2 and 3
    write the answer's first tokens, which the target itself holds (not penalised);
    position 4 writes 9 where 3 would complete it:

    >>> unlikely_tokens([-100, 5, 1, 2, 9], [[1, 2, 3]])
    [(1, 1), (4, 3)]
    """
    pairs = []
    for t, target in enumerate(labels):
        if target == -100:
            continue
        for answer in answers:
            done = next((k for k in range(len(answer) - 1, 0, -1) if t >= k and list(labels[t - k : t]) == list(answer[:k])), 0)
            if answer[done] != target:
                pairs.append((t, answer[done]))
    return pairs


def end_token_ids(tokenizer: Any) -> list[int]:
    """Tokens that end a reply: the eos token, and the chat template's end-of-turn token
    when it is a single other token (Qwen's ``<|im_end|>``)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    probe = SimExample("q", "Q?", ("a",), "useful", ("d",))
    tail = render_completion(tokenizer, probe).removeprefix(probe.completion)
    tail_ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail.strip() else []
    if tail_ids and tail_ids[0] not in ids:
        ids.append(tail_ids[0])
    return ids


Row = tuple[list[int], list[int], list[tuple[int, int]]]  # (input_ids, labels, unlikely (position, token) pairs)


class TokenizedGroups:
    """A map-style dataset of tokenized examples (what ``Trainer`` iterates). Each item is
    a group of examples that share a batch: one example, or a useful search and its noisy twin."""

    def __init__(self, groups: Sequence[Sequence[Row]]):
        self.groups = [list(group) for group in groups]

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [{"input_ids": ids, "labels": labels, "unlikely": unlikely} for ids, labels, unlikely in self.groups[i]]


def twin_groups(examples: Sequence[SimExample]) -> list[list[SimExample]]:
    """Examples grouped by search (query, question, answers): a useful example and its noisy
    twin form one group, in that order; every other example is a group of its own.

    >>> useful = SimExample("q", "Q?", ("a",), "useful", ("a doc",))
    >>> noisy = SimExample("q", "Q?", ("a",), "noisy", ("other",))
    >>> [[e.quality for e in g] for g in twin_groups([noisy, SimExample("r", "R?", ("b",), "noisy", ("x",)), useful])]
    [['useful', 'noisy'], ['noisy']]
    """
    by_search: dict[tuple, dict[str, list[SimExample]]] = {}
    for example in examples:
        key = (example.query, example.question, example.golden_answers)
        by_search.setdefault(key, {"useful": [], "noisy": []})[example.quality].append(example)
    groups: list[list[SimExample]] = []
    for modes in by_search.values():
        useful, noisy = modes["useful"], modes["noisy"]
        pairs = min(len(useful), len(noisy))
        groups += [[useful[i], noisy[i]] for i in range(pairs)]
        groups += [[e] for e in useful[pairs:] + noisy[pairs:]]
    return groups


def pad_batch(pad_id: int) -> Callable[[list[list[dict[str, Any]]]], dict[str, Any]]:
    """A collator: right padding (training), labels padded with -100. Items are groups of
    examples (see :class:`TokenizedGroups`), flattened into one batch; their unlikely tokens
    become ``unlikely``, a (N, 3) tensor of (row, position, token)."""

    def collate(items: list[list[dict[str, Any]]]) -> dict[str, Any]:
        import torch

        features = [feature for group in items for feature in group]
        unlikely = [(row, t, token) for row, f in enumerate(features) for t, token in f.get("unlikely", ())]
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if unlikely:
            batch["unlikely"] = torch.tensor(unlikely, dtype=torch.long)
        return batch

    return collate
