"""JSON over HTTP with one retry policy: the OpenAI-compatible simulator, the retriever
client and the OpenAI-compatible agent all talk to servers through this module.

A failed exchange becomes a :class:`RequestFault` of one of four kinds (``timeout``,
``connection``, ``http``, ``protocol``) that says whether trying again can help: a
timeout, a dropped connection, HTTP 408/425/429 and 5xx can; any other 4xx (a wrong URL,
model name or key) cannot. A reply that parses but is not what the client expects is a
``protocol`` fault, and the client decides whether it is worth retrying.
:class:`RetryPolicy` retries the faults that can be retried, with exponential backoff
(tenacity), and the caller turns the last fault into its own typed error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .errors import ConfigError
from .redaction import redact_text

FaultKind = Literal["timeout", "connection", "http", "protocol"]
T = TypeVar("T")

#: HTTP statuses worth another attempt: the server is busy or failed, not the request.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class RequestFault(Exception):
    """One failed HTTP exchange: what kind of failure, a message, and whether a retry may help.

    ``attempts`` is set by :meth:`RetryPolicy.run` to the number of attempts made.
    """

    def __init__(self, kind: FaultKind, message: str, *, retryable: bool):
        message = redact_text(message)  # it names the URL, and reaches stderr and search records
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.attempts = 1


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts after the first, waiting ``backoff_s * 2**(n - 1)``
    after failure ``n``; only retryable :class:`RequestFault` s are retried.

    >>> calls = []
    >>> def flaky(attempt):
    ...     calls.append(attempt)
    ...     if attempt < 3:
    ...         raise RequestFault("timeout", "slow", retryable=True)
    ...     return "ok"
    >>> RetryPolicy(retries=3, backoff_s=0).run(flaky), calls
    ('ok', [1, 2, 3])
    """

    retries: int = 3
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"retries expects an int >= 0, got {self.retries!r}")
        if not isinstance(self.backoff_s, (int, float)) or self.backoff_s < 0:
            raise ConfigError(f"backoff_s expects a number >= 0, got {self.backoff_s!r}")

    def run(self, attempt: Callable[[int], T]) -> T:
        """``attempt(1)``, ``attempt(2)``, ... until one returns; the last fault is
        re-raised, with ``attempts`` set, when no retry is left or it cannot be retried."""
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff_s, min=0),
            retry=tenacity.retry_if_exception(lambda error: isinstance(error, RequestFault) and error.retryable),
            sleep=self.sleep,
            reraise=True,
        )
        attempts = 0

        def numbered() -> T:
            nonlocal attempts
            attempts += 1
            try:
                return attempt(attempts)
            except RequestFault as fault:
                fault.attempts = attempts
                raise

        return retrying(numbered)


def json_client(timeout_s: float, concurrency: int, api_key_env: str | None = None) -> Any:
    """An ``httpx.Client`` for ``concurrency`` requests at once; with ``api_key_env`` set
    in the environment, its value goes out as a bearer token (and is never logged)."""
    import httpx

    key = os.environ.get(api_key_env) if api_key_env else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(timeout=timeout_s, headers=headers, limits=httpx.Limits(max_connections=concurrency))


def post_json(
    client: Any,
    url: str,
    body: Any,
    read: Callable[[Any], T],
    *,
    expected: str,
    retry_malformed: bool = True,
) -> T:
    """POST ``body`` as JSON and return ``read(reply JSON)``; any failure is a :class:`RequestFault`.

    ``read`` raises ``ValueError``, ``KeyError``, ``IndexError``, ``TypeError`` or
    ``AttributeError`` for a reply that is not ``expected`` (e.g. "a chat completion");
    that, or a body that is not JSON, is a ``protocol`` fault, retried if ``retry_malformed``.
    """
    import httpx

    try:
        response = client.post(url, json=body)
    except httpx.TimeoutException as error:
        raise RequestFault("timeout", f"{url} timed out", retryable=True) from error
    except httpx.TransportError as error:
        raise RequestFault("connection", f"{url} unreachable ({type(error).__name__})", retryable=True) from error
    except httpx.DecodingError as error:  # e.g. a broken gzip body
        raise RequestFault("protocol", f"{url} sent a body that does not decode: {error}", retryable=retry_malformed) from error
    except httpx.HTTPError as error:  # anything else httpx refuses (too many redirects, ...)
        raise RequestFault("connection", f"{url} failed ({type(error).__name__}: {error})", retryable=True) from error
    if response.status_code != 200:
        status = response.status_code
        detail = response.text[:200].strip()
        retryable = status >= 500 or status in RETRYABLE_STATUSES
        raise RequestFault("http", f"{url} answered HTTP {status} {detail}".rstrip(), retryable=retryable)
    try:
        return read(response.json())
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise RequestFault("protocol", f"{url} sent a reply that is not {expected}: {error}", retryable=retry_malformed) from error
