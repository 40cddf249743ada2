"""What an evaluation is asked to do (:class:`EvalConfig`) and what it returns (:class:`EvalResult`).

Both the harness that plays a run and the report that describes it read these types, so
they sit below both. So does how a run folder records its settings: its identity
(:meth:`EvalConfig.identity`, every setting that changes an episode, compared before a
folder is resumed) and the labels of the report, neither of which holds a secret
(:func:`redacted`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_flags import setting
from ..data import is_synthetic
from ..env_config import EnvConfig
from ..errors import ConfigError
from ..redaction import REDACTED, SECRET_WORDS, is_secret_name, redacted  # noqa: F401 - the run folders' redaction, re-exported
from .metrics import SourceSummary

#: EvalConfig settings left out of a run folder's identity, because they do not change an
#: episode: which rows are played and how many together (episode ``i`` plays row ``i`` with
#: a seed drawn from ``i``, whatever its wave, so a larger ``--limit`` reuses the episodes
#: already played), and the report's intervals (recomputed from the trajectories at every
#: run). Every other setting, of the evaluation and of its environment, is in the identity.
NOT_IDENTITY = ("limit", "sample", "batch_size", "bootstrap_resamples")

#: ``sim_kwargs`` that change how fast or how robustly a simulator or retriever answers, not
#: what: requests in flight, timeouts and retries (a search that still fails raises, or is
#: recorded as failed), batch sizes, GPU memory, progress bars, and the name of the
#: environment variable that holds the key. A run that timed out can be resumed with a
#: longer ``timeout_s``.
SIM_KWARGS_NOT_IDENTITY = (
    "concurrency",
    "timeout_s",
    "retries",
    "backoff_s",
    "batch_size",
    "gpu_memory_utilization",
    "enable_sleep_mode",
    "show_progress",
    "api_key_env",
)

#: Agent attributes left out of its settings: its name (the identity's ``agent``), its usage
#: counters (they grow as it plays), requests in flight, episodes generated together and
#: its retry policy.
AGENT_NOT_IDENTITY = ("name", "usage", "concurrency", "batch_size", "retry")


@dataclass
class EvalConfig:
    """One evaluation: which questions, which search engine, which budget.

    ``env.sim`` is any ``sim=`` of the environment: ``"bm25"`` or ``"retriever:<url>"``
    (real retrievers that never see the answer), ``"corpus"`` or an LLM simulator (which
    are told the golden answer: a training device, so their scores are an upper bound).
    ``env.split`` defaults to ``"test"`` for the synthetic world and to every row of a file.
    """

    env: EnvConfig = field(default_factory=EnvConfig, metadata={"help": "The environment's settings (zerosearch_env.EnvConfig)."})
    difficulty: float = setting(0.0, "Noise probability of simulated searches.")
    limit: int | None = setting(None, "Evaluate the first N (selected) rows.")
    sample: int | None = setting(None, "Draw N rows at random with --seed first.")
    seed: int = setting(0, "Seeds the episodes, the sample and the intervals.")
    batch_size: int = setting(64, "Episodes played together.")
    bootstrap_resamples: int = setting(1000, "Bootstrap resamples of each 95% interval.")

    def __post_init__(self) -> None:
        if not isinstance(self.env, EnvConfig):
            raise ConfigError(f"EvalConfig.env expects an EnvConfig, got {type(self.env).__name__}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed expects an int in [0, 2**32), got {self.seed!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size expects a positive int, got {self.batch_size!r}")
        for name in ("limit", "sample"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} expects a positive int or None, got {value!r}")
        if not 0.0 <= self.difficulty <= 1.0:
            raise ConfigError(f"difficulty expects a noise probability in [0, 1], got {self.difficulty!r}")

    @property
    def split(self) -> str | None:
        """The split played: the one asked for, else ``test`` of the synthetic world."""
        if self.env.split is not None or not is_synthetic(self.env.dataset):
            return self.env.split
        return "test"

    def env_kwargs(self) -> dict[str, Any]:
        """The environment of this evaluation, as ``ZeroSearchEnv`` keyword arguments."""
        return self.env.env_kwargs(split=self.split, difficulty=self.difficulty)

    def identity(self, agent_name: str, agent_settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """The settings a run folder is resumed under, as its ``eval_config.json`` holds
        them: the agent and its settings (:func:`agent_settings`), every environment and
        evaluation setting but :data:`NOT_IDENTITY`, the simulator's ``sim_kwargs`` but
        :data:`SIM_KWARGS_NOT_IDENTITY`, and the backend that will run an LLM simulator.
        Secrets are left out (:func:`redacted`)."""
        settings = {f.name: getattr(self.env, f.name) for f in dataclasses.fields(self.env)}
        settings.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "env" and f.name not in NOT_IDENTITY})
        settings["split"] = self.split
        settings["sim_backend"] = simulator_backend(self.env)
        settings["sim_kwargs"] = {k: v for k, v in self.env.sim_kwargs.items() if k not in SIM_KWARGS_NOT_IDENTITY}
        identity = {"agent": agent_name, "agent_settings": redacted(agent_settings or {})}
        identity.update({key: identity_value(value) for key, value in settings.items()})
        identity.update(input_digests(dataset=self.env.dataset, corpus=self.env.corpus))
        return json.loads(json.dumps(identity, default=str))  # as the file holds it: lists, not tuples


@dataclass
class EvalResult:
    """What an evaluation returns: summaries, the trajectories, where they are."""

    summaries: list[SourceSummary]
    records: list[dict[str, Any]]
    out_dir: Path | None
    resumed_episodes: int = 0
    wall_s: float = 0.0


def setting_label(value: Any) -> Any:
    """A setting as run folders and reports record it: objects (a simulator object,
    in-memory rows) by name, everything else as it is, less its secrets (:func:`redacted`)."""
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return redacted(value)
    return getattr(value, "name", None) or f"<{type(value).__name__}>"


def identity_value(value: Any) -> Any:
    """A setting as the identity records it: in-memory rows or documents by their
    contents' digest (two lists are told apart), anything else by :func:`setting_label`."""
    if isinstance(value, (list, tuple)):
        digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()[:16]
        return f"<{len(value)} items, sha256 {digest}>"
    return setting_label(value)


def input_digests(**inputs: Any) -> dict[str, str]:
    """``{name}_sha256`` for each input that is a file or folder on disk: a run resumed
    after its dataset was edited in place is refused, as a run with other settings is,
    instead of scoring half its episodes against the old answers. A folder's digest
    covers its files' names and contents."""
    digests = {}
    for name, value in inputs.items():
        path = Path(value) if isinstance(value, (str, Path)) else None
        if path is not None and path.exists():
            digests[f"{name}_sha256"] = contents_digest(path)
    return digests


def contents_digest(path: Path) -> str:
    """sha256 (16 hex digits) of a file's bytes, or of a folder's files (each name with its
    bytes' sha256)."""
    from ..models import sha256_of

    if path.is_file():
        return sha256_of(path)[:16]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = "".join(f"{file.relative_to(path)}\0{sha256_of(file)}\n" for file in files)
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def simulator_backend(env: EnvConfig) -> str | None:
    """The backend an LLM simulator runs on: ``sim_backend``, or when it is None the one
    this machine chooses (vLLM with a GPU, else transformers; their documents differ).
    ``openai`` always runs on its own backend; the corpus simulators and the retrievers
    take none."""
    from ..simulators.registry import choose_backend, llm_model

    if not isinstance(env.sim, (str, Path)):
        return env.sim_backend
    if str(env.sim) == "openai":
        return "openai"
    if env.sim_backend is not None or llm_model(env.sim) is None:
        return env.sim_backend
    return choose_backend(None)


def agent_settings(agent: Any) -> dict[str, Any]:
    """The settings of ``agent`` that can change its actions, for a run folder's identity.

    An agent may say them itself with a ``settings`` dict (or a method returning one).
    Otherwise they are its public attributes that hold plain values (numbers, strings,
    lists and dicts of them, dataclasses such as a sampling config), less
    :data:`AGENT_NOT_IDENTITY`; objects (a model, a client) are left out, and so are
    secrets.

    >>> from zerosearch_env.evaluation.agents import RandomAgent, ScriptedBatchAgent
    >>> agent_settings(ScriptedBatchAgent(max_searches=2, seed=7))
    {'max_searches': 2, 'seed': 7}
    """
    declared = getattr(agent, "settings", None)
    declared = declared() if callable(declared) else declared
    if isinstance(declared, dict):
        values = declared
    else:
        values = {k: v for k, v in getattr(agent, "__dict__", {}).items() if not k.startswith("_") and k not in AGENT_NOT_IDENTITY}
    settings = {key: plain for key, value in values.items() if (plain := _plain(value)) is not _NOT_PLAIN}
    return redacted(settings)


_NOT_PLAIN = object()


def _plain(value: Any) -> Any:
    """``value`` as JSON values, or ``_NOT_PLAIN`` if it holds an object."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        mapped = {k: _plain(v) for k, v in value.items()}
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in mapped.values()) else mapped
    return _NOT_PLAIN
