"""A batching front for an in-process simulator shared by many single-trajectory workers.

Distributed RL frameworks step one trajectory at a time, from threads or coroutines. An
LLM simulator loaded in the process (transformers, vLLM offline) is fast only on a batch:
called once per search it generates one request at a time. :class:`BatchingSimulator`
sits in front of it. Concurrent ``simulate`` calls wait in a queue; one worker thread
flushes them as one batch when ``max_batch`` requests are waiting or ``max_wait_ms`` has
passed since the first, then hands each caller its own results, in its own order.

Errors stay per request. A result that failed on its own (``SearchResult.failed``)
reaches only its caller. When the inner simulator raises an ``Exception`` for a whole
batch, each caller's requests are tried again on their own, so only the call that breaks
it fails; anything else it raises (``KeyboardInterrupt``, ``CancelledError``) fails that
batch's callers with a :class:`~zerosearch_env.errors.SimulatorError`. Either way the
worker goes on serving.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import ConfigError, SimulatorError
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
    from any event loop. ``close()`` stops the worker: every call queued before it is
    answered, and one that arrives after it is refused.

    Every caller gets an answer or an error, whatever happens in a batch: a caller that
    gave up (a cancelled coroutine) is skipped, a simulator that raises anything, even
    ``KeyboardInterrupt``, fails only that batch's callers, a wrong number of results is
    an error on every path, and the worker keeps serving after each of these."""

    def __init__(self, simulator: Simulator, *, max_batch: int = 64, max_wait_ms: float = 5.0, name: str | None = None):
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"expects max_batch to be an integer >= 1, got {max_batch!r}")
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or not 0 <= max_wait_ms < float("inf"):
            raise ConfigError(f"expects max_wait_ms to be a finite number >= 0, got {max_wait_ms!r}")
        self.simulator = simulator
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.name = name or f"batched:{getattr(simulator, 'name', type(simulator).__name__)}"
        self.stats = BatchingStats()
        self._queue: queue.Queue[tuple[list[SearchRequest], Future] | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()  # closing and queueing exclude each other: nothing lands behind the stop marker
        self._worker = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
        self._worker.start()

    def submit(self, requests: Sequence[SearchRequest]) -> Future:
        """Queue ``requests``; the future resolves to their results."""
        future: Future = Future()
        if not requests:
            future.set_result([])
            return future
        with self._lock:
            if self._closed:
                raise ConfigError(f"{self.name} is closed")
            self._queue.put((list(requests), future))
        return future

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """Results of ``requests``, after they went out in a batch with other callers'."""
        return self.submit(requests).result()

    async def asimulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """:meth:`simulate` for coroutines: the event loop keeps running while the batch
        waits. Cancelling the coroutine withdraws its requests if they have not gone out yet."""
        return await asyncio.wrap_future(self.submit(requests))

    def close(self) -> None:
        """Answer what is queued, then stop the worker thread."""
        with self._lock:
            if self._closed:
                return
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
            try:
                self._flush(pending)
            except BaseException as error:  # noqa: BLE001 - a bug here must not strand the callers or stop the worker
                for _, future in pending:
                    _fail(future, error, self.name)
            if stop:
                return

    def _flush(self, pending: list[tuple[list[SearchRequest], Future]]) -> None:
        # a caller that gave up before its batch went out is dropped; the rest cannot be cancelled from now on
        pending = [(requests, future) for requests, future in pending if future.set_running_or_notify_cancel()]
        if not pending:
            return
        self.stats.calls += len(pending)
        self.stats.requests += sum(len(requests) for requests, _ in pending)
        self.stats.batches += 1
        batch = [request for requests, _ in pending for request in requests]
        try:
            results = self._simulate(batch)
        except Exception as error:  # noqa: BLE001 - it goes to the callers
            if len(pending) == 1:
                _fail(pending[0][1], error, self.name)
                return
            for requests, future in pending:  # alone, so only the call that breaks the batch fails
                self.stats.retried_alone += 1
                try:
                    _answer(future, self._simulate(requests))
                except BaseException as alone:  # noqa: BLE001 - it goes to its caller
                    _fail(future, alone, self.name)
            return
        except BaseException as error:  # noqa: BLE001 - KeyboardInterrupt, CancelledError, SystemExit: this batch's callers get it, no retry
            for _, future in pending:
                _fail(future, error, self.name)
            return
        start = 0
        for requests, future in pending:
            _answer(future, results[start : start + len(requests)])
            start += len(requests)

    def _simulate(self, requests: list[SearchRequest]) -> list[SearchResult]:
        results = self.simulator.simulate(requests)
        if len(results) != len(requests):
            raise ConfigError(f"{self.name}: the simulator returned {len(results)} results for {len(requests)} requests")
        return list(results)


def _answer(future: Future, results: list[SearchResult]) -> None:
    if not future.done():
        future.set_result(results)


def _fail(future: Future, error: BaseException, name: str) -> None:
    """Fail ``future`` with ``error``; what is not an ``Exception`` (``KeyboardInterrupt``
    in the simulator) reaches the caller as a :class:`SimulatorError` it can catch."""
    if not isinstance(error, Exception):
        wrapped = SimulatorError(f"{name}: the simulator raised {type(error).__name__} for this batch: {error}")
        wrapped.__cause__, error = error, wrapped
    if not future.done():
        future.set_exception(error)
