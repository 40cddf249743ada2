"""De-duplication of identical requests in a batch, and a result cache, around any simulator.

Both change what the policy sees, so both are off by default:

- ``dedup``: requests in one batch that ask the same thing (simulator, quality, query,
  question, golden answers, top-k) are simulated once and share the documents. GRPO
  groups ask identical queries; with dedup the group sees one sample instead of
  independent samples (a deterministic simulator such as ``corpus`` is unaffected).
- ``cache_size``: results are kept in an LRU cache (and, with ``cache_path``, in a
  SQLite file that survives restarts). With ``cache_by_seed=True`` (default) the seed is
  part of the key, so a hit returns what the same seeded request would have produced
  anyway; with ``cache_by_seed=False`` any repeat of a query reuses earlier documents.

Hits, misses and de-duplicated requests are counted in :attr:`CachingSimulator.stats`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from .base import SearchRequest, SearchResult, Simulator

Key = tuple


@dataclass
class CacheStats:
    """Counters since the simulator was built."""

    requests: int = 0
    hits: int = 0
    misses: int = 0
    deduplicated: int = 0


class CachingSimulator:
    """Wrap ``inner`` with in-batch de-duplication and/or a result cache."""

    def __init__(
        self,
        inner: Simulator,
        *,
        dedup: bool = False,
        cache_size: int = 0,
        cache_path: str | Path | None = None,
        cache_by_seed: bool = True,
    ):
        if cache_size < 0:
            raise ConfigError(f"cache_size expects a non-negative int, got {cache_size!r}")
        if cache_path is not None and cache_size == 0:
            raise ConfigError("cache_path needs cache_size > 0 (the in-memory bound of the cache)")
        self.inner = inner
        self.name = inner.name
        self.dedup = dedup
        self.cache_size = cache_size
        self.cache_by_seed = cache_by_seed
        self.stats = CacheStats()
        self._memory: OrderedDict[Key, SearchResult] = OrderedDict()
        self._lock = threading.Lock()
        self._db = None
        if cache_path is not None:
            self._db = sqlite3.connect(str(cache_path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT)")

    def _key(self, request: SearchRequest, with_seed: bool) -> Key:
        base = (self.name, request.quality, request.query, request.question, request.golden_answers, request.topk, request.context)
        return base + ((request.seed,) if with_seed else ())

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        self.stats.requests += len(requests)
        results: list[SearchResult | None] = [None] * len(requests)
        to_run: dict[Key, list[int]] = {}  # one simulation per key, fanned out to these positions
        for i, request in enumerate(requests):
            cached = self._lookup(request) if self.cache_size else None
            if cached is not None:
                results[i] = cached
                self.stats.hits += 1
                continue
            if self.cache_size:
                self.stats.misses += 1
            key = self._key(request, with_seed=not self.dedup)
            if key in to_run:
                self.stats.deduplicated += 1
            to_run.setdefault(key, []).append(i)
        if to_run:
            firsts = [positions[0] for positions in to_run.values()]
            fresh = self.inner.simulate([requests[i] for i in firsts])
            for positions, result in zip(to_run.values(), fresh):
                for i in positions:
                    results[i] = result
                if self.cache_size and result.error is None:
                    self._store(requests[positions[0]], result)
        return results  # type: ignore[return-value]

    def _lookup(self, request: SearchRequest) -> SearchResult | None:
        key = self._key(request, with_seed=self.cache_by_seed)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        if self._db is not None:
            row = self._db.execute("SELECT value FROM results WHERE key = ?", (repr(key),)).fetchone()
            if row is not None:
                result = _result_from_json(row[0])
                self._remember(key, result)
                return result
        return None

    def _store(self, request: SearchRequest, result: SearchResult) -> None:
        key = self._key(request, with_seed=self.cache_by_seed)
        self._remember(key, result)
        if self._db is not None:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?)", (repr(key), _result_to_json(result)))

    def _remember(self, key: Key, result: SearchResult) -> None:
        with self._lock:
            self._memory[key] = result
            self._memory.move_to_end(key)
            while len(self._memory) > self.cache_size:
                self._memory.popitem(last=False)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _result_to_json(result: SearchResult) -> str:
    fields = asdict(result)
    fields.pop("extra", None)
    fields.pop("error", None)
    return json.dumps(fields)


def _result_from_json(text: str) -> SearchResult:
    fields = json.loads(text)
    fields["documents"] = tuple(fields["documents"])
    return SearchResult(**fields)
