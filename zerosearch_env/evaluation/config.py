"""What an evaluation is asked to do (:class:`EvalConfig`) and what it returns (:class:`EvalResult`).

Both the harness that plays a run and the report that describes it read these types, so
they sit below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_flags import setting
from ..data import is_synthetic
from ..env_config import EnvConfig
from ..errors import ConfigError
from .metrics import SourceSummary

#: Settings that must match for a run folder to be resumed. ``limit`` and ``sample`` are
#: not among them: an episode depends only on its row and these, so a larger ``--limit``
#: reuses the episodes already played.
IDENTITY = ("agent", "dataset", "split", "sim", "corpus", "difficulty", "max_turns", "topk", "seed", "prompt_template")


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

    def identity(self, agent_name: str) -> dict[str, Any]:
        """The settings a run folder is resumed under (:data:`IDENTITY`)."""
        settings = {**vars(self.env), **vars(self), "agent": agent_name, "split": self.split}
        return {key: setting_label(settings[key]) for key in IDENTITY}


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
    in-memory rows) by name, everything else as it is."""
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return getattr(value, "name", None) or f"<{type(value).__name__}>"
