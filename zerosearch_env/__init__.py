"""zerosearch-env: ZeroSearch as a Gymnasium environment.

``import zerosearch_env`` registers ``ZeroSearch-v0`` (and its presets) with Gymnasium.
It imports nothing heavy: torch, transformers and vllm load only inside the simulator
backends that need them.
"""

from __future__ import annotations

from typing import Any

from .curriculum import ConstantCurriculum, ExponentialCurriculum, LinearCurriculum, make_curriculum
from .env_config import EnvConfig
from .errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    MissingDependencyError,
    MissingWeightsError,
    SimulatorError,
    UnknownSimulatorError,
    ZeroSearchError,
)
from .records import CorpusDoc, Passage, QARow
from .registration import ENV_IDS, register_envs
from .reward import cover_exact_match, exact_match, f1_score, normalize_answer
from .simulators.base import SearchRequest, SearchResult, Simulator, SimulatorFault
from .spaces import TextSpace

register_envs()


def __getattr__(name: str) -> Any:
    # The env class pulls in gymnasium's Env machinery and the registry; load on use.
    if name == "ZeroSearchEnv":
        from .env import ZeroSearchEnv

        return ZeroSearchEnv
    if name == "make_simulator":
        from .simulators.registry import make_simulator

        return make_simulator
    if name == "load_questions":
        from .data import load_questions

        return load_questions
    if name == "__version__":  # importlib.metadata costs about 25 ms: read only when asked
        from importlib import metadata

        try:
            return metadata.version("zerosearch-env")
        except metadata.PackageNotFoundError:  # run from a checkout that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module 'zerosearch_env' has no attribute {name!r}")


__all__ = [
    "ENV_IDS",
    "CheckpointError",
    "ConfigError",
    "ConstantCurriculum",
    "CorpusDoc",
    "DatasetError",
    "EnvConfig",
    "ExponentialCurriculum",
    "LinearCurriculum",
    "MissingDependencyError",
    "MissingWeightsError",
    "Passage",
    "QARow",
    "SearchRequest",
    "SearchResult",
    "Simulator",
    "SimulatorError",
    "SimulatorFault",
    "TextSpace",
    "UnknownSimulatorError",
    "ZeroSearchEnv",
    "ZeroSearchError",
    "cover_exact_match",
    "exact_match",
    "f1_score",
    "load_questions",
    "make_curriculum",
    "make_simulator",
    "normalize_answer",
]
