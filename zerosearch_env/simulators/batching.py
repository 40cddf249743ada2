"""A batching front for an in-process simulator shared by many single-trajectory workers.

Distributed RL frameworks step one trajectory at a time, from threads or coroutines. An
LLM simulator loaded in the process (transformers, vLLM offline) is fast only on a batch:
called once per search it generates one request at a time. :class:`BatchingSimulator`
sits in front of it. Concurrent ``simulate`` calls wait in a queue; one worker thread
flushes them as one batch when ``max_batch`` requests are waiting or ``max_wait_ms`` has
passed since the first, then hands each caller its own results, in its own order.

Errors stay per request. A result that failed on its own (``SearchResult.failed``)
reaches only its caller. When the inner simulator raises for a whole batch, each
caller's requests are tried again on their own, so only the call that breaks it fails.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import ConfigError
from .base import SearchRequest, SearchResult, Simulator


@dataclass
class BatchingStats:
    """What the front did: calls it received, requests, and batches it sent."""

    calls: int = 0
    requests: int = 0
    batches: int = 0
    retried_alone: int = 0  # calls re-sent on their own after a whole batch raised


class BatchingSimulator:
    """Thread-safe and asyncio-friendly: ``simulate`` from any thread, ``await asimulate``
    from any event loop. ``close()`` stops the worker (pending calls are answered first)."""

    def __init__(self, simulator: Simulator, *, max_batch: int = 64, max_wait_ms: float = 5.0, name: str | None = None):
        if max_batch < 1 or max_wait_ms < 0:
            raise ConfigError(f"expects max_batch >= 1 and max_wait_ms >= 0, got {max_batch!r} and {max_wait_ms!r}")
        self.simulator = simulator
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.name = name or f"batched:{getattr(simulator, 'name', type(simulator).__name__)}"
        self.stats = BatchingStats()
        self._queue: queue.Queue[tuple[list[SearchRequest], Future] | None] = queue.Queue()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
        self._worker.start()

    def submit(self, requests: Sequence[SearchRequest]) -> Future:
        """Queue ``requests``; the future resolves to their results."""
        if self._closed:
            raise ConfigError(f"{self.name} is closed")
        future: Future = Future()
        if not requests:
            future.set_result([])
        else:
            self._queue.put((list(requests), future))
        return future

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """Results of ``requests``, after they went out in a batch with other callers'."""
        return self.submit(requests).result()

    async def asimulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """:meth:`simulate` for coroutines: the event loop keeps running while the batch waits."""
        return await asyncio.wrap_future(self.submit(requests))

    def close(self) -> None:
        """Answer what is queued, then stop the worker thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._worker.join()

    # ------------------------------------------------------------------ worker

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            pending, size = [first], len(first[0])
            deadline = time.perf_counter() + self.max_wait_s
            stop = False
            while size < self.max_batch:
                left = deadline - time.perf_counter()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                pending.append(item)
                size += len(item[0])
            self._flush(pending)
            if stop:
                return

    def _flush(self, pending: list[tuple[list[SearchRequest], Future]]) -> None:
        self.stats.calls += len(pending)
        self.stats.requests += sum(len(requests) for requests, _ in pending)
        self.stats.batches += 1
        batch = [request for requests, _ in pending for request in requests]
        try:
            results = self.simulator.simulate(batch)
            if len(results) != len(batch):
                raise ConfigError(f"{self.name}: the simulator returned {len(results)} results for {len(batch)} requests")
        except Exception as error:  # noqa: BLE001: it goes to the callers
            if len(pending) == 1:
                pending[0][1].set_exception(error)
                return
            for requests, future in pending:  # alone, so only the call that breaks the batch fails
                self.stats.retried_alone += 1
                try:
                    future.set_result(self.simulator.simulate(requests))
                except Exception as alone:  # noqa: BLE001: it goes to its caller
                    future.set_exception(alone)
            return
        start = 0
        for requests, future in pending:
            future.set_result(results[start : start + len(requests)])
            start += len(requests)
