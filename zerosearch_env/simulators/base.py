"""The simulator interface: batch of :class:`SearchRequest` in, batch of :class:`SearchResult` out.

A simulator plays the search engine. It is batch-first because the expensive ones
(an LLM on vLLM, an HTTP server) are fastest when they see every query of an RL step in
one call; a single-request call is just a batch of one. The types every backend shares
live here: the request, the result, the fault, and the sampling of a simulation LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from ..errors import ConfigError
from ..protocol import format_documents
from ..records import Passage
from ..redaction import redact_text

Quality = Literal["useful", "noisy"]
QUALITIES: tuple[str, ...] = ("useful", "noisy")


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact_text(self.message))  # it is written into search records


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The documents a simulator wrote or retrieved for one request.

    ``documents`` holds one string per document, without the ``Doc i:`` prefix;
    :meth:`text` renders them the way the released simulators write them.
    ``error`` says why a request has no documents: the simulator wrote none (kind
    ``"empty"``: an answer, if a poor one), or the request *failed* (:attr:`failed`: a
    timeout, a dropped connection, an HTTP error, a malformed reply, after the backend's
    retries). The environment's ``on_sim_error`` decides what a failed request means.
    ``extra`` holds what a backend knows beyond the documents: the LLM backends put
    the model's raw ``reply`` there (the fidelity benchmark checks its format), the
    retrievers the documents' ``ids``.
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

    @property
    def failed(self) -> bool:
        """The request got no answer (its ``error`` is a fault other than ``"empty"``)."""
        return self.error is not None and self.error.kind != "empty"


@runtime_checkable
class Simulator(Protocol):
    """Anything that turns a batch of search requests into a batch of results.

    ``simulate`` returns exactly one result per request, in order. A request that fails
    on its own comes back failed (``SearchResult.failed``, its fault in ``error``), so the
    batch's other requests keep their documents; a simulator raises
    :class:`~zerosearch_env.errors.SimulatorError` only when the whole call fails (a
    local model's ``generate`` error). Either way the environment's ``on_sim_error``
    decides: raise, or flag the failed searches.
    """

    name: str

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]: ...


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of a simulation LLM (every LLM backend takes it); the defaults are the reference's."""

    temperature: float = 0.8  # 0 means greedy decoding
    top_p: float = 1.0
    max_new_tokens: int = 600

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"temperature expects a value >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p expects a value in (0, 1], got {self.top_p!r}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens expects a positive int, got {self.max_new_tokens!r}")
