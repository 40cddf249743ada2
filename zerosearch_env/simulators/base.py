"""The simulator interface: batch of :class:`SearchRequest` in, batch of :class:`SearchResult` out.

A simulator plays the search engine. It is batch-first because the expensive ones
(an LLM on vLLM, an HTTP server) are fastest when they see every query of an RL step in
one call; a single-request call is just a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, runtime_checkable

Quality = Literal["useful", "noisy"]
QUALITIES: tuple[str, ...] = ("useful", "noisy")


@dataclass(frozen=True, slots=True)
class Passage:
    """A paragraph that ships with a question (HotpotQA ``context``).

    ``supporting`` marks the paragraphs that hold the facts needed for the answer.
    """

    title: str
    text: str
    supporting: bool = False


class _SearchRequestFields(NamedTuple):
    query: str
    question: str
    golden_answers: tuple[str, ...]
    quality: Quality = "useful"
    topk: int = 5
    seed: int | None = None
    context: tuple[Passage, ...] = ()


class SearchRequest(_SearchRequestFields):
    """One search the policy made, with everything a simulator may condition on.

    Each request carries its *own* question and golden answers: a simulator never has
    to guess which episode a query belongs to. Immutable and hashable (a named tuple,
    checked on creation: one is built for every search of every sub-env).
    """

    __slots__ = ()

    def __new__(
        cls,
        query: str,
        question: str,
        golden_answers: tuple[str, ...],
        quality: Quality = "useful",
        topk: int = 5,
        seed: int | None = None,
        context: tuple[Passage, ...] = (),
    ) -> SearchRequest:
        if quality != "useful" and quality != "noisy":
            raise ValueError(f"SearchRequest.quality expects 'useful' or 'noisy', got {quality!r}")
        if topk < 1:
            raise ValueError(f"SearchRequest.topk expects a positive int, got {topk!r}")
        return tuple.__new__(cls, (query, question, golden_answers, quality, topk, seed, context))


@dataclass(frozen=True, slots=True)
class SimulatorFault:
    """Why a simulator could not answer a request; travels in ``info["sim_error"]``."""

    kind: str  # e.g. "timeout", "http", "backend", "empty"
    message: str
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The documents a simulator wrote or retrieved for one request.

    ``documents`` holds one string per document, without the ``Doc i:`` prefix;
    :meth:`text` renders them the way the released simulators write them.
    ``error`` is set only for an explicit fallback result (the caller opted in to
    fallbacks); such a result has no documents.
    """

    documents: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: SimulatorFault | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        return format_documents(self.documents)


def format_documents(documents: Sequence[str]) -> str:
    """Render documents as the released simulators do: ``Doc 1: ...`` one per line.

    >>> format_documents(["Paris is the capital of France.", "It lies on the Seine."])
    'Doc 1: Paris is the capital of France.\\nDoc 2: It lies on the Seine.'
    >>> format_documents(["two  spaces\\nand a line break "])
    'Doc 1: two spaces and a line break'
    >>> format_documents([])
    ''
    """
    # A document with a line break (or another control character) or loose ends has its
    # white space collapsed so it stays on its line. Clean documents, which is what
    # simulators return, pass through untouched (inline: this runs on every search).
    return "\n".join(
        [
            f"Doc {i}: {doc if doc.isprintable() and doc.strip() is doc else ' '.join(doc.split())}"
            for i, doc in enumerate(documents, start=1)
        ]
    )


@runtime_checkable
class Simulator(Protocol):
    """Anything that turns a batch of search requests into a batch of results.

    ``simulate`` returns exactly one result per request, in order. It raises
    :class:`~zerosearch_env.errors.SimulatorError` when it cannot answer, unless it was
    built to return explicit fallback results (``SearchResult.error`` set).
    """

    name: str

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]: ...
