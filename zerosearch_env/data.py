"""Question/answer rows and the loaders that read them from the formats people use.

A dataset is a list of :class:`QARow`. ``load_questions`` reads the ZeroSearch /
Search-R1 parquet layout, FlashRAG-style jsonl, HotpotQA json, a list of dicts, the
built-in synthetic world, or a Hugging Face dataset id.
"""

from __future__ import annotations

from dataclasses import dataclass

from .simulators.base import Passage


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
