"""What the verl and SkyRL adapters share, with neither framework imported.

A framework builds one adapter object per trajectory, often thousands per training step.
Loading a simulator (or a dataset) for each would be absurd, so every process keeps one
*shared* :class:`~zerosearch_env.env.ZeroSearchEnv` per configuration and each
trajectory plays on a ``sibling()`` of it: its own episode state, the shared simulator.
In front of a simulator that runs in this process (transformers, vLLM offline) sits a
:class:`~zerosearch_env.simulators.batching.BatchingSimulator`, so concurrent
trajectories searching at the same moment cost one batched generation, not one each.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..env import ZeroSearchEnv
from ..env_config import EnvConfig
from ..errors import ConfigError, DatasetError
from ..records import QARow
from ..row_fields import Where, qa_row

STEP_THREADS = 256  # env steps in flight per process: one per trajectory waiting on a search


@dataclass
class AdapterConfig:
    """The settings of ZeroSearch episodes played inside a framework.

    Flat in a framework's config file (``sim: openai``, ``topk: 5``,
    ``curriculum: {end: 0.5}``): the keys of :class:`EnvConfig` plus these.
    """

    env: EnvConfig = field(default_factory=EnvConfig)
    difficulty: float | None = None  # a fixed noise probability (evaluation)
    curriculum: dict[str, Any] | None = None  # a schedule: start, end, total_steps, base, kind
    on_sim_error: str = "fallback"  # a failed search gives no documents and counts in sim_faults
    batching: bool | None = None  # None: a batching front before in-process simulators only
    max_batch: int = 64
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.difficulty is not None and self.curriculum is not None:
            raise ConfigError("pass either difficulty (a fixed noise probability) or curriculum (a schedule), not both")
        if self.on_sim_error not in ("raise", "fallback"):
            raise ConfigError(f"on_sim_error expects 'raise' or 'fallback', got {self.on_sim_error!r}")
        if self.batching is not None and not isinstance(self.batching, bool):
            raise ConfigError(f"batching expects true, false or null (a batching front before in-process simulators only), got {self.batching!r}")
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise ConfigError(f"max_batch expects an int >= 1, got {self.max_batch!r}")
        wait = self.max_wait_ms
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait < math.inf:
            raise ConfigError(f"max_wait_ms expects a finite number of milliseconds >= 0, got {wait!r}")
        if self.curriculum is not None and not isinstance(self.curriculum, Mapping):
            raise ConfigError(f"curriculum expects a mapping (start, end, total_steps, base, kind), got {self.curriculum!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, where: str = "zerosearch settings", also: tuple[str, ...] = ()) -> AdapterConfig:
        """Split flat settings into the environment's and the adapter's, naming unknown
        keys (``also``: the caller's own keys, named in the message)."""
        values = dict(plain(values or {}))
        env_keys = {f.name for f in dataclasses.fields(EnvConfig)}
        own_keys = {f.name for f in dataclasses.fields(cls)} - {"env"}
        unknown = sorted(set(values) - env_keys - own_keys)
        if unknown:
            raise ConfigError(f"{where}: unknown settings {unknown}; expected some of {sorted(env_keys | own_keys | set(also))}")
        env = EnvConfig.from_mapping({k: v for k, v in values.items() if k in env_keys}, where)
        return cls(env=env, **{k: v for k, v in values.items() if k in own_keys})

    @property
    def is_scheduled(self) -> bool:
        """True when the noise moves with the training step (a curriculum, not a constant)."""
        return self.curriculum is not None and self.curriculum.get("kind", "exponential") != "constant"

    def spanning(self, total_steps: int | None, missing: str) -> AdapterConfig:
        """These settings with a curriculum that has no ``total_steps`` spanning
        ``total_steps``, the framework's training length; ``missing`` says why that length
        is unknown and what to set when it is None."""
        curriculum = self.curriculum
        if curriculum is None or not self.is_scheduled or "total_steps" in curriculum:
            return self
        if total_steps is None or total_steps < 1:
            raise ConfigError(f"the curriculum has no total_steps and {missing}")
        return dataclasses.replace(self, curriculum={**curriculum, "total_steps": total_steps})

    def key(self) -> str:
        """One string per distinct configuration: the shared-env cache key."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=repr)


def token_limit(name: str, value: Any, where: str) -> int | None:
    """A framework adapter's per-turn token limit: None (no limit) or an int >= 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{where}: {name} expects a positive int, got {value!r}")
    return value


def plain(value: Any) -> Any:
    """Python containers from what frameworks hand over: OmegaConf configs (mappings and
    sequences themselves), numpy arrays and scalars (pandas-read parquet), nested in any way."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):
        return plain(value.tolist())  # numpy arrays and scalars
    return value


_SHARED: dict[str, ZeroSearchEnv] = {}
_SHARED_LOCK = threading.Lock()
_EXECUTOR: ThreadPoolExecutor | None = None


def shared_env(config: AdapterConfig) -> ZeroSearchEnv:
    """This process's environment for ``config``: built (simulator loaded) on first use."""
    key = config.key()
    with _SHARED_LOCK:
        env = _SHARED.get(key)
        if env is None:
            env = _build_env(config)
            _SHARED[key] = env
        return env


def episode_env(config: AdapterConfig) -> ZeroSearchEnv:
    """A fresh episode on the shared simulator of ``config``."""
    return shared_env(config).sibling()


def _build_env(config: AdapterConfig) -> ZeroSearchEnv:
    noise: dict[str, Any] = {}
    if config.difficulty is not None:
        noise["difficulty"] = config.difficulty
    elif config.curriculum is not None:
        noise["curriculum"] = config.curriculum
    env = ZeroSearchEnv(**config.env.env_kwargs(on_sim_error=config.on_sim_error, **noise))
    if config.batching if config.batching is not None else not _is_served(env.simulator):
        from ..simulators.batching import BatchingSimulator

        env.simulator = BatchingSimulator(env.simulator, max_batch=config.max_batch, max_wait_ms=config.max_wait_ms)
    return env


def _is_served(simulator: Any) -> bool:
    """A simulator behind HTTP answers concurrent calls in parallel on its own; batching
    them in this process would only serialise the batches."""
    from ..simulators.openai import OpenAISimulator
    from ..simulators.retriever import HTTPRetriever

    return isinstance(simulator, (OpenAISimulator, HTTPRetriever))


def step_executor() -> ThreadPoolExecutor:
    """The threads that run blocking ``env.step`` calls for a framework's event loop."""
    global _EXECUTOR
    with _SHARED_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=STEP_THREADS, thread_name_prefix="zerosearch-step")
        return _EXECUTOR


def row_record(fields: Mapping[str, Any], where: str) -> QARow:
    """A framework's dataset row as a :class:`QARow`, by the field rules of every loader
    (:func:`~zerosearch_env.row_fields.qa_row`), with verl's ``raw_prompt`` for ``prompt``
    and the row's ``extra_info.index`` for its id and its place in error messages."""
    raw = plain(fields)
    if raw.get("prompt") is None and raw.get("raw_prompt") is not None:
        raw["prompt"] = raw["raw_prompt"]
    extra = raw.get("extra_info")
    index = extra.get("index") if isinstance(extra, Mapping) else None
    if isinstance(index, float) and index.is_integer():
        index = int(index)  # pandas reads an int column with a gap as floats
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise DatasetError(
            f"{where}: extra_info.index expects the row's int index >= 0, got {index!r}; write the rows with zerosearch world --parquet or give each its position"
        )
    return qa_row(raw, Where(where, index or 0), default_id="" if index is None else str(index))


@dataclass
class EpisodeTally:
    """Counts one episode's turns, as a framework's per-trajectory metrics."""

    invalid_turns: int = 0
    sim_faults: int = 0
    last: Mapping[str, Any] = field(default_factory=dict)

    def observe(self, info: Mapping[str, Any]) -> None:
        self.invalid_turns += info.get("action") == "invalid"
        self.sim_faults += info.get("sim_error") is not None
        self.last = info

    def metrics(self) -> dict[str, float]:
        """Numbers only, the same keys for every episode (frameworks stack them in columns)."""
        info = self.last
        searches = int(info.get("searches") or 0)
        noisy = int(info.get("noisy_searches") or 0)
        return {
            "f1": float(info.get("f1") or 0.0),
            "em": float(info.get("em") or 0.0),
            "cover_em": float(info.get("cover_em") or 0.0),
            "answered": float(info.get("action") == "answer"),
            "searches": float(searches),
            "noisy_searches": float(noisy),
            "noisy_share": noisy / searches if searches else 0.0,
            "noise_prob": float(info.get("noise_prob") or 0.0),
            "invalid_turns": float(self.invalid_turns),
            "sim_faults": float(self.sim_faults),
            "sim_prompt_tokens": float(info.get("episode_sim_prompt_tokens") or 0),
            "sim_completion_tokens": float(info.get("episode_sim_completion_tokens") or 0),
            "training_step": float(info.get("training_step") or 0),
        }
