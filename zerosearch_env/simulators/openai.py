"""The OpenAI-compatible HTTP backend: SGLang, ``vllm serve``, TGI, or a hosted API.

The reference calls its simulator server one query at a time from a thread pool; this
backend does the same with a bound on concurrency, spreads requests round-robin over
several servers, retries a failed request on the next server (the project's one
:class:`~zerosearch_env.http_client.RetryPolicy`), and turns a request that still fails
into a typed fault on that request's result alone: the other requests of the batch keep
their documents, and the environment's ``on_sim_error`` decides what a fault means.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import ConfigError
from ..http_client import RequestFault, RetryPolicy, json_client, post_json
from ..import_utils import require
from ..openai_replies import completion_text, token_counts
from ..protocol import parse_reply_documents
from .base import SamplingConfig, SearchRequest, SearchResult, SimulatorFault
from .prompts import PROMPT_MODES, build_prompt, chat_messages


class OpenAISimulator:
    """A simulation LLM behind ``/v1/chat/completions``.

    Args:
        base_urls: one URL or several (``http://host:port/v1``); requests are spread
            round-robin and a failed request retries on the next one.
        model: the model name the server expects.
        mode: ``"sft"`` (released simulators) or ``"prompt"`` (few-shot).
        api_key_env: the environment variable holding the API key, if any. The key is
            sent as a bearer token and never logged.
        concurrency: requests in flight at once.
        timeout_s: the timeout of one attempt.
        retries: extra attempts after the first.
        backoff_s: the first backoff, doubled on each retry. A request that still fails
            comes back with no documents and its fault in ``error``.
    """

    def __init__(
        self,
        base_urls: str | Sequence[str] = "http://127.0.0.1:6001/v1",
        *,
        model: str = "default",
        mode: str = "sft",
        temperature: float = 0.8,
        top_p: float = 1.0,
        max_new_tokens: int = 600,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        name: str | None = None,
    ):
        require("httpx", "the OpenAI-compatible simulator backend")
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            raise ConfigError(f"base_urls expects one or more http(s) URLs like 'http://host:6001/v1', got {base_urls!r}")
        if mode not in PROMPT_MODES:
            raise ConfigError(f"mode expects one of {list(PROMPT_MODES)}, got {mode!r}")
        if concurrency < 1 or timeout_s <= 0:
            raise ConfigError(f"expects concurrency >= 1 and timeout_s > 0; got {concurrency}, {timeout_s}")
        self.base_urls = [u.rstrip("/") for u in urls]
        self.model = model
        self.mode = mode
        self.sampling = SamplingConfig(temperature, top_p, max_new_tokens)
        self.concurrency = concurrency
        self.retry = RetryPolicy(retries, backoff_s)
        self.name = name or f"openai:{model}"
        self._client = json_client(timeout_s, concurrency, api_key_env)
        self._next_url = itertools.count()
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAISimulator(base_urls={self.base_urls}, model={self.model!r}, mode={self.mode!r})"

    def payload(self, request: SearchRequest) -> dict:
        """The JSON body of one chat completion request."""
        s = self.sampling
        body = {
            "model": self.model,
            "messages": chat_messages(build_prompt(request, self.mode)),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_new_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """One result per request; a request that failed after its retries has no
        documents and a typed fault (``timeout``, ``connection``, ``http``, ``protocol``)."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _first_server(self) -> int:
        with self._lock:
            return next(self._next_url)

    def _one(self, request: SearchRequest) -> SearchResult:
        body = self.payload(request)
        started = time.perf_counter()
        first = self._first_server()  # round-robin start; each retry moves to the next server

        def attempt(number: int) -> SearchResult:
            url = self.base_urls[(first + number - 1) % len(self.base_urls)]
            return post_json(
                self._client,
                f"{url}/chat/completions",
                body,
                lambda reply: self._result(reply, request, url, number, started),
                expected="a chat completion",
            )

        try:
            return self.retry.run(attempt)
        except RequestFault as fault:
            error = SimulatorFault(kind=fault.kind, message=fault.message, attempts=fault.attempts)
            return SearchResult(documents=(), latency_s=time.perf_counter() - started, error=error)

    def _result(self, reply: Any, request: SearchRequest, url: str, attempt: int, started: float) -> SearchResult:
        """A chat completion's documents and token counts (a malformed reply raises: a ``protocol`` fault)."""
        text = completion_text(reply)
        prompt_tokens, completion_tokens = token_counts(reply)
        documents = parse_reply_documents(text, request.topk)
        empty = None if documents else SimulatorFault(kind="empty", message=f"{url} wrote no documents", attempts=attempt)
        return SearchResult(
            documents=documents,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
            error=empty,
            extra={"reply": text},
        )

    def close(self) -> None:
        self._client.close()
