"""The plain records that cross every floor: a question, a corpus document, a paragraph.

They sit at the bottom of the package and import nothing of it, so the loaders, the
synthetic world, the simulators and the environment can all share them without import
circles.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Passage:
    """A paragraph that ships with a question (HotpotQA ``context``).

    ``supporting`` marks the paragraphs that hold the facts needed for the answer.
    """

    title: str
    text: str
    supporting: bool = False


@dataclass(frozen=True)
class QARow:
    """One question of a dataset.

    ``prompt`` is the policy prompt stored with the row (Search-R1 parquet ``prompt``
    column), or None to build it from the template. ``context`` holds HotpotQA-style
    paragraphs for the context simulator.
    """

    question: str
    golden_answers: tuple[str, ...]
    id: str = ""
    data_source: str = "unknown"
    prompt: str | None = None
    context: tuple[Passage, ...] = ()
    split: str | None = None


@dataclass(frozen=True)
class CorpusDoc:
    """One document of a retrieval corpus (FlashRAG ``{"id", "contents"}`` jsonl)."""

    id: str
    contents: str
