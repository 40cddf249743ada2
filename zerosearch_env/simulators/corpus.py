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

from ..data import CorpusDoc
from ..reward import normalize_answer
from .base import Passage, SearchRequest, SearchResult


def _padded_norm(text: str) -> str:
    return f" {normalize_answer(text)} "


def _has_answer(padded_doc: str, padded_answers: Sequence[str]) -> bool:
    return any(a in padded_doc for a in padded_answers)


def _answers(request: SearchRequest) -> list[str]:
    return [_padded_norm(g) for g in request.golden_answers if normalize_answer(g)]


def _select(candidates: Sequence[int], bearing: Sequence[bool], quality: str, topk: int) -> list[int]:
    """Useful: answer-bearing candidates first (stable); noisy: answer-bearing dropped."""
    if quality == "useful":
        ranked = [c for c, b in zip(candidates, bearing) if b] + [c for c, b in zip(candidates, bearing) if not b]
    else:
        ranked = [c for c, b in zip(candidates, bearing) if not b]
    return ranked[:topk]


def _doc_text(contents: str) -> str:
    """One line per document, as the released simulators write them."""
    return " ".join(contents.split())


class CorpusSimulator:
    """BM25 over a corpus, with useful/noisy behaviour keyed on the golden answers.

    Args:
        documents: the corpus (``CorpusDoc`` or plain strings).
        candidates: how many BM25 hits a request looks at before the useful/noisy
            selection; noisy results need more than ``topk`` because answer-bearing
            hits are dropped.
        name: shown in ``info`` and reports.
    """

    def __init__(self, documents: Sequence[CorpusDoc | str], *, candidates: int = 50, name: str = "corpus"):
        import bm25s

        if len(documents) == 0:
            from ..errors import ConfigError

            raise ConfigError("CorpusSimulator expects a non-empty corpus, got 0 documents")
        self.name = name
        self.contents: list[str] = [d.contents if isinstance(d, CorpusDoc) else str(d) for d in documents]
        self.candidates = max(1, min(candidates, len(self.contents)))
        self._padded = [_padded_norm(c) for c in self.contents]
        tokens = bm25s.tokenize(self.contents, stopwords="en", show_progress=False)
        self._bm25 = bm25s.BM25()
        self._bm25.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.contents)

    def retrieve(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw BM25: (doc indices, scores), each of shape (len(queries), k)."""
        import bm25s

        tokens = bm25s.tokenize(list(queries), stopwords="en", return_ids=False, show_progress=False)
        k = min(k, len(self.contents))
        return self._bm25.retrieve(tokens, k=k, show_progress=False)

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if not requests:
            return []
        started = time.perf_counter()
        hits, scores = self.retrieve([r.query for r in requests], self.candidates)
        chosen_per_request = []
        for request, row_hits, row_scores in zip(requests, hits, scores):
            candidates = [int(h) for h, s in zip(row_hits, row_scores) if s > 0]
            answers = _answers(request)
            bearing = [_has_answer(self._padded[c], answers) for c in candidates]
            chosen_per_request.append(_select(candidates, bearing, request.quality, request.topk))
        latency = (time.perf_counter() - started) / len(requests)
        return [
            SearchResult(documents=tuple(_doc_text(self.contents[c]) for c in chosen), latency_s=latency)
            for chosen in chosen_per_request
        ]


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
                chosen = [i for i in order if request.context[i].supporting] + [
                    i for i in order if not request.context[i].supporting
                ]
            else:
                chosen = [
                    i
                    for i in order
                    if not request.context[i].supporting
                    and not _has_answer(_padded_norm(request.context[i].text), answers)
                ]
            docs = tuple(_doc_text(f'"{request.context[i].title}" {request.context[i].text}') for i in chosen[: request.topk])
            results.append(SearchResult(documents=docs))
        return results
