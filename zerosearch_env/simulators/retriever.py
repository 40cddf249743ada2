"""``sim="retriever:<url>"``: a client of Search-R1's retrieval server (``POST /retrieve``).

Search-R1's ``retrieval_server.py`` serves dense retrieval (FAISS + e5 over wiki-18).
Like :class:`~.bm25.BM25Retriever`, this client sends only the queries and never the
golden answers, so it evaluates a policy without answer leakage. Documents come back as
one line each (white space collapsed), like every simulator's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import repeat
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..http_client import RequestFault, RetryPolicy, json_client, post_json
from .base import SearchRequest, SearchResult, SimulatorFault
from .ranking import one_line

_SERVER_COMMAND = (
    "python search_r1/search/retrieval_server.py --index_path e5_Flat.index --corpus_path wiki-18.jsonl "
    "--topk 3 --retriever_name e5 --retriever_model intfloat/e5-base-v2"
)
_FIXES = {
    "connection": f"start the retriever ({_SERVER_COMMAND}) or pass the URL it serves: sim='retriever:http://host:8000/retrieve'",
    "timeout": "the retriever is slow or overloaded: raise sim_kwargs timeout_s or lower batch_size",
    "http": "check that the URL is the retriever's /retrieve endpoint and read the server's log",
    "protocol": "the server does not answer like Search-R1's /retrieve ({'result': [[{'document': {'id', 'contents'}, 'score'}, ...], ...]}); check the URL",
}


class _Hit(NamedTuple):
    text: str
    id: str | None
    score: float | None


def _hit(item: Any) -> _Hit:
    """One retrieved document: ``{"document": doc, "score": s}`` or the document itself,
    where a document is ``{"id", "contents"}``, ``{"title", "text"}`` or a string."""
    score = None
    if isinstance(item, dict) and "document" in item:
        score, item = item.get("score"), item["document"]
    score = float(score) if isinstance(score, (int, float)) else None
    if isinstance(item, str):
        return _Hit(one_line(item), None, score)
    if isinstance(item, dict):
        contents = item.get("contents")
        if contents is None and isinstance(item.get("text"), str):
            contents = f'"{item["title"]}"\n{item["text"]}' if item.get("title") else item["text"]
        if isinstance(contents, str):
            doc_id = item.get("id")
            return _Hit(one_line(contents), None if doc_id is None else str(doc_id), score)
    raise ValueError(f"a document is neither text nor a dict with 'contents': {str(item)[:80]}")


def _parse_response(payload: Any, queries: int) -> list[list[_Hit]]:
    """The hits of each query in a Search-R1 ``/retrieve`` answer, in query order.

    >>> doc = {"id": "7", "contents": '"Acme"\\nAcme makes anvils.'}
    >>> _parse_response({"result": [[{"document": doc, "score": 0.5}]]}, 1)[0][0]
    _Hit(text='"Acme" Acme makes anvils.', id='7', score=0.5)
    >>> _parse_response({"result": [[doc]]}, 1)[0][0].score is None
    True
    """
    lists = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(lists, list) or len(lists) != queries or not all(isinstance(hits, list) for hits in lists):
        got = type(lists).__name__ if not isinstance(lists, list) else f"{len(lists)} entries"
        raise ValueError(f"expected 'result' to hold {queries} lists, one per query, got {got}")
    return [[_hit(item) for item in hits] for hits in lists]


class HTTPRetriever:
    """A client of Search-R1's retrieval server (``POST /retrieve``).

    Every query of a :meth:`simulate` call goes out in batches of ``batch_size`` (sent
    ``concurrency`` at a time) with the largest ``topk`` asked for; each request then
    keeps its own ``topk``. Only the queries are sent. Document ids and scores come in
    ``result.extra["ids"]`` / ``["scores"]``.

    Args:
        url: the endpoint, e.g. ``http://127.0.0.1:8000/retrieve`` (a URL without a path
            gets ``/retrieve``).
        batch_size: queries per HTTP request.
        concurrency: requests in flight at once.
        timeout_s: the timeout of one attempt.
        retries: extra attempts after the first (for connection errors, timeouts and
            HTTP 408/425/429/5xx; a reply that is not the API is not retried).
        backoff_s: the first backoff, doubled on each retry. The queries of a batch
            that still fails come back with no documents and the fault (with its likely
            fix) in ``error``; the other batches keep theirs.
    """

    #: It reads the query and nothing else (no golden answers, no quality): it has no noisy mode.
    query_only = True

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000/retrieve",
        *,
        batch_size: int = 64,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        name: str | None = None,
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"url expects an http(s) URL like 'http://127.0.0.1:8000/retrieve', got {url!r}")
        if batch_size < 1 or concurrency < 1 or timeout_s <= 0:
            raise ConfigError(f"expects batch_size >= 1, concurrency >= 1, timeout_s > 0; got {batch_size}, {concurrency}, {timeout_s}")
        self.url = _with_path(url)
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retry = RetryPolicy(retries, backoff_s)
        self.name = name or f"retriever:{self.url}"
        self._client = self._new_client()

    def _new_client(self) -> Any:
        return json_client(self.timeout_s, self.concurrency)

    def __repr__(self) -> str:
        return f"HTTPRetriever(url={self.url!r}, batch_size={self.batch_size})"

    def payload(self, queries: Sequence[str], topk: int) -> dict[str, Any]:
        """The JSON body of one ``/retrieve`` request."""
        return {"queries": list(queries), "topk": topk, "return_scores": True}

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """The top ``request.topk`` documents the server finds for each ``request.query``."""
        if not requests:
            return []
        started = time.perf_counter()
        topk = max(r.topk for r in requests)
        queries = [r.query for r in requests]
        chunks = [queries[i : i + self.batch_size] for i in range(0, len(queries), self.batch_size)]
        if len(chunks) == 1:
            answers = [self._post(chunks[0], topk)]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
                answers = list(pool.map(self._post, chunks, repeat(topk)))
        latency = (time.perf_counter() - started) / len(requests)
        per_query: list[list[_Hit] | SimulatorFault] = []
        for chunk, answer in zip(chunks, answers):
            per_query.extend(answer if isinstance(answer, list) else [answer] * len(chunk))
        return [_result(request, answer, latency) for request, answer in zip(requests, per_query)]

    def _post(self, queries: list[str], topk: int) -> list[list[_Hit]] | SimulatorFault:
        """One batch, with retries; the hits of each query, or the last fault."""
        body = self.payload(queries, topk)

        read = partial(_parse_response, queries=len(queries))

        def attempt(number: int) -> list[list[_Hit]]:
            return post_json(self._client, self.url, body, read, expected="a /retrieve answer", retry_malformed=False)

        try:
            return self.retry.run(attempt)
        except RequestFault as fault:
            fix = _FIXES.get(fault.kind)
            return SimulatorFault(fault.kind, f"{fault.message}; {fix}" if fix else fault.message, fault.attempts)

    def close(self) -> None:
        self._client.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_client"]  # a connection pool does not pickle; the copy opens its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client = self._new_client()


def _with_path(url: str) -> str:
    """``url``, with ``/retrieve`` when it names only a host (``http://host:8000``)."""
    from urllib.parse import urlsplit

    return f"{url.rstrip('/')}/retrieve" if urlsplit(url).path in ("", "/") else url


def _result(request: SearchRequest, answer: list[_Hit] | SimulatorFault, latency: float) -> SearchResult:
    if isinstance(answer, SimulatorFault):
        return SearchResult(documents=(), latency_s=latency, error=answer)
    hits = answer[: request.topk]
    return SearchResult(
        documents=tuple(h.text for h in hits),
        latency_s=latency,
        extra={"ids": tuple(h.id for h in hits), "scores": tuple(h.score for h in hits)},
    )
