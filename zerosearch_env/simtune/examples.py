"""One simulation-tuning example: the released simulator's chat and the documents it should write.

A tuned simulator is trained on exactly the text it will be asked at run time: the
released prompt (:mod:`zerosearch_env.simulators.prompts`, byte for byte, as the single
user message after an empty system message) with the query, the question, its first
golden answer and the quality word; the completion is the documents as the released
simulators write them (``Doc 1: ...`` lines, :func:`~zerosearch_env.protocol.format_documents`).

Examples are stored one per line in the conversational prompt/completion form that
standard SFT tools read (TRL's ``SFTTrainer``, transformers' ``Trainer`` with a chat
template)::

    {"prompt": [{"role": "system", "content": ""}, {"role": "user", "content": "<released prompt>"}],
     "completion": [{"role": "assistant", "content": "Doc 1: ...\\nDoc 2: ..."}],
     "quality": "useful", "query": "...", "question": "...", "golden_answers": ["..."],
     "documents": ["...", "..."], "label": "presence", "source": "runs/collect/trajectories.jsonl:12"}

The fields after ``completion`` say where the example came from and how it was labelled;
a trainer needs only ``prompt`` and ``completion``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..protocol import format_documents
from ..reward import contains_answer
from ..simulators.base import QUALITIES, SearchRequest
from ..simulators.prompts import chat_messages, sft_prompt


@dataclass(frozen=True)
class SimExample:
    """A search and the documents a simulator should write for it, in one quality."""

    query: str
    question: str
    golden_answers: tuple[str, ...]
    quality: str  # "useful" or "noisy"
    documents: tuple[str, ...]
    label: str = ""  # the labeller that chose the quality: outcome, presence, judge, mixed
    source: str = ""  # where the search comes from: file:line of a trajectory

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise ValueError(f"SimExample.quality expects 'useful' or 'noisy', got {self.quality!r}")

    @property
    def prompt(self) -> str:
        """The released prompt for this search (the user message)."""
        request = SearchRequest(self.query, self.question, tuple(self.golden_answers), self.quality)  # type: ignore[arg-type]
        return sft_prompt(request)

    @property
    def completion(self) -> str:
        """The documents as the released simulators write them."""
        return format_documents(self.documents)

    def to_record(self) -> dict[str, Any]:
        """The jsonl line: conversational prompt/completion, then the provenance fields."""
        return {
            "prompt": chat_messages(self.prompt),
            "completion": [{"role": "assistant", "content": self.completion}],
            "quality": self.quality,
            "query": self.query,
            "question": self.question,
            "golden_answers": list(self.golden_answers),
            "documents": list(self.documents),
            "label": self.label,
            "source": self.source,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], where: str = "example") -> SimExample:
        """Read a jsonl line back (the provenance fields are what it is rebuilt from)."""
        missing = [k for k in ("query", "question", "golden_answers", "quality", "documents") if k not in record]
        if missing:
            raise DatasetError(f"{where}: missing fields {missing}; is it a file written by zerosearch simtune label?")
        answers, documents = record["golden_answers"], record["documents"]
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise DatasetError(f"{where}: 'golden_answers' must be a list of strings, got {answers!r}")
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            raise DatasetError(f"{where}: 'documents' must be a list of strings, got {type(documents).__name__}")
        try:
            return cls(
                str(record["query"]), str(record["question"]), tuple(answers), str(record["quality"]), tuple(documents),
                str(record.get("label", "")), str(record.get("source", "")),
            )  # fmt: skip
        except ValueError as error:
            raise DatasetError(f"{where}: {error}") from error


_TITLE = re.compile(r'^\s*("[^"]*"\s*)')
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def lead_with_answer(document: str, golden_answers: Sequence[str]) -> str:
    """The document with its answer-bearing sentences moved up to just after its title.

    A useful document then says what matters at once, the way a search snippet does, and
    the choice that tells the modes apart falls on one position right after the title
    instead of wherever the answer happened to sit. (On SmolLM2 with its top 8 layers
    trained for 25 minutes this did not teach the quality word: see docs/simulation-tuning.md's
    cpu-smol attempts.) A document without the answer is returned as it is.

    >>> lead_with_answer('"Ada" Ada wrote poems. Ada was born in 1815. Ada liked maths.', ["1815"])
    '"Ada" Ada was born in 1815. Ada wrote poems. Ada liked maths.'
    """
    title_match = _TITLE.match(document)
    title = title_match.group(1) if title_match else ""
    sentences = _SENTENCE_END.split(document[len(title) :].strip())
    bearing = [s for s in sentences if contains_answer(s, golden_answers)]
    if not bearing:
        return document
    return title + " ".join(bearing + [s for s in sentences if s not in bearing])


def answer_first(example: SimExample) -> SimExample:
    """A useful example with every document led by its answer (see :func:`lead_with_answer`)."""
    if example.quality != "useful":
        return example
    return replace(example, documents=tuple(lead_with_answer(d, example.golden_answers) for d in example.documents))


def write_examples(examples: Iterable[SimExample], path: str | Path) -> Path:
    """Write examples as jsonl (one :meth:`SimExample.to_record` per line)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example.to_record(), ensure_ascii=False) + "\n")
    return out


def read_examples(path: str | Path) -> list[SimExample]:
    """The examples of a jsonl file written by :func:`write_examples`; a malformed line
    raises :class:`DatasetError` naming the file and the line."""
    return list(iter_examples(path))


def iter_examples(path: str | Path) -> Iterator[SimExample]:
    from ..data import iter_jsonl

    source = Path(path)
    if not source.is_file():
        raise DatasetError(f"examples file {str(source)!r} does not exist; write one with zerosearch simtune label")
    for row, record in iter_jsonl(source):
        yield SimExample.from_record(dict(record), f"{source}:{row + 1}")


def balance(examples: Sequence[SimExample]) -> dict[str, int]:
    """How many examples of each quality.

    >>> balance([SimExample("q", "Q?", ("a",), "useful", ("d",))])
    {'useful': 1, 'noisy': 0}
    """
    return {quality: sum(e.quality == quality for e in examples) for quality in QUALITIES}
