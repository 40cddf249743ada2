"""Search engines with controllable quality and no LLM.

:class:`CorpusSimulator` ranks a corpus with BM25 (``bm25s``) and then plays the part of
a useful or a noisy search engine, the two behaviours ZeroSearch's simulation LLM was
tuned to produce:

- *useful*: the top-k documents for the query, with the documents that contain a golden
  answer moved to the front;
- *noisy*: the top-k documents for the query with every answer-bearing document removed,
  so the results are on topic but do not answer the question.

:class:`ContextSimulator` does the same with the paragraphs a HotpotQA-style row ships
with (supporting paragraphs are useful, distractors are noisy).

Both are deterministic (they ignore ``SearchRequest.seed``) and report zero tokens.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..records import CorpusDoc, Passage
from ..reward import normalize_answer
from .base import SearchRequest, SearchResult
from .ranking import index_texts, one_line, query_words, top_documents


def _padded_norm(text: str) -> str:
    return f" {normalize_answer(text)} "


def _has_answer(padded_doc: str, padded_answers: Sequence[str]) -> bool:
    return any(a in padded_doc for a in padded_answers)


def _answers(request: SearchRequest) -> list[str]:
    return [_padded_norm(g) for g in request.golden_answers if normalize_answer(g)]


def _select(candidates: Sequence[int], padded: Sequence[str], answers: Sequence[str], quality: str, topk: int) -> list[int]:
    """Useful: answer-bearing candidates first (stable); noisy: answer-bearing dropped.

    ``padded[c]`` is candidate ``c``'s normalised text. The answer test runs lazily: a
    noisy search stops at its ``topk``-th clean candidate instead of testing all of them,
    and a question without answers skips the test."""
    if not answers:
        return list(candidates[:topk])
    if quality == "useful":
        bearing = [any(a in padded[c] for a in answers) for c in candidates]
        ranked = [c for c, b in zip(candidates, bearing) if b]
        if len(ranked) < topk:
            ranked += [c for c, b in zip(candidates, bearing) if not b]
        return ranked[:topk]
    chosen = []
    for c in candidates:
        if not any(a in padded[c] for a in answers):
            chosen.append(c)
            if len(chosen) == topk:
                break
    return chosen


class CorpusSimulator:
    """BM25 over a corpus, with useful/noisy behaviour keyed on the golden answers.

    Args:
        documents: the corpus (``CorpusDoc`` or plain strings).
        candidates: how many BM25 hits a request looks at before the useful/noisy
            selection; noisy results need more than ``topk`` because answer-bearing
            hits are dropped.
        name: shown in ``info`` and reports.

    Hits are ranked by BM25 score, best first, and equal scores by corpus order, so a
    search returns the same documents on every machine and numpy version.
    """

    def __init__(self, documents: Sequence[CorpusDoc | str], *, candidates: int = 50, name: str = "corpus"):
        if len(documents) == 0:
            from ..errors import ConfigError

            raise ConfigError("CorpusSimulator expects a non-empty corpus, got 0 documents")
        self.name = name
        self.contents: list[str] = [d.contents if isinstance(d, CorpusDoc) else str(d) for d in documents]
        self.candidates = max(1, min(candidates, len(self.contents)))
        self._padded = [_padded_norm(c) for c in self.contents]
        # One-line texts, made the first time a document is returned (at most one per
        # document): a search returns a handful of documents, so start-up pays nothing
        # and memory grows only with the documents actually served.
        self._lines: dict[int, str] = {}
        self._bm25 = index_texts(self.contents)

    def __len__(self) -> int:
        return len(self.contents)

    def retrieve(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw BM25 from ``bm25s``: (doc indices, scores), each of shape (len(queries), k).

        Zero-score documents fill rows with fewer than ``k`` hits, and equal scores come
        in an arbitrary order; :meth:`ranked` is what :meth:`simulate` uses."""
        k = min(k, len(self.contents))
        return self._bm25.retrieve(query_words(queries), k=k, show_progress=False)

    def ranked(self, queries: Sequence[str], k: int) -> list[list[int]]:
        """The at most ``k`` documents with a positive BM25 score for each query: best
        first, equal scores in corpus order (:func:`~.ranking.top_documents`, the ranking
        the BM25 retriever shares)."""
        return [top_documents(self._bm25, words, k) for words in query_words(queries)]

    def _line(self, index: int) -> str:
        line = self._lines.get(index)
        if line is None:
            line = self._lines[index] = one_line(self.contents[index])
        return line

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if not requests:
            return []
        started = time.perf_counter()
        hits_per_request = self.ranked([r.query for r in requests], self.candidates)
        chosen_per_request = [
            _select(hits, self._padded, _answers(request), request.quality, request.topk) for request, hits in zip(requests, hits_per_request)
        ]
        latency = (time.perf_counter() - started) / len(requests)
        return [SearchResult(documents=tuple(self._line(c) for c in chosen), latency_s=latency) for chosen in chosen_per_request]


def _overlap_score(query_terms: set[str], passage: Passage) -> int:
    return len(query_terms & set(normalize_answer(f"{passage.title} {passage.text}").split()))


class ContextSimulator:
    """Search over the paragraphs each request carries (HotpotQA ``context``).

    Useful results put the supporting paragraphs first; noisy results hold only
    distractors that do not contain a golden answer. Within each group paragraphs are
    ordered by word overlap with the query.
    """

    def __init__(self, *, name: str = "context"):
        self.name = name

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        results = []
        for request in requests:
            if not request.context:
                from ..errors import SimulatorError

                raise SimulatorError(
                    "ContextSimulator needs rows with `context` paragraphs (HotpotQA format); "
                    f"the request for question {request.question!r} has none. Use sim='corpus' with corpus=<jsonl> instead."
                )
            terms = set(normalize_answer(request.query).split())
            order = sorted(range(len(request.context)), key=lambda i: -_overlap_score(terms, request.context[i]))
            answers = _answers(request)
            if request.quality == "useful":
                chosen = [i for i in order if request.context[i].supporting] + [i for i in order if not request.context[i].supporting]
            else:
                chosen = [i for i in order if not request.context[i].supporting and not _has_answer(_padded_norm(request.context[i].text), answers)]
            docs = tuple(one_line(f'"{request.context[i].title}" {request.context[i].text}') for i in chosen[: request.topk])
            results.append(SearchResult(documents=docs))
        return results
