"""Typed errors of zerosearch-env.

Every error the package raises on purpose derives from :class:`ZeroSearchError`, so a
caller can catch the whole family with one ``except``. Each message names the problem
and the fix ("expects X, got Y; do Z").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .redaction import redact_text

if TYPE_CHECKING:
    from .simulators.base import SimulatorFault


class ZeroSearchError(Exception):
    """Root of every error raised on purpose by zerosearch-env. Its message never carries
    a secret (:func:`~zerosearch_env.redaction.redact_text`): messages name URLs, and they
    reach stderr and run files."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))


class ConfigError(ZeroSearchError, ValueError):
    """An argument has a wrong value or two arguments contradict each other."""


class DatasetError(ZeroSearchError, ValueError):
    """A dataset cannot be found, read, or has a malformed row."""


class UnknownSimulatorError(ConfigError):
    """A ``sim=`` name that no simulator is registered under."""


class SimulatorError(ZeroSearchError, RuntimeError):
    """A simulator could not produce documents for a request (after its retries).

    ``fault`` (a :class:`~zerosearch_env.simulators.base.SimulatorFault`, when the
    backend knows it) says what kind of failure it was and how many attempts were made.
    """

    def __init__(self, message: str, fault: SimulatorFault | None = None) -> None:
        super().__init__(message)
        self.fault = fault


class MissingDependencyError(ZeroSearchError, ImportError):
    """An optional package is needed for the requested feature; the message has the pip line."""


class MissingWeightsError(ZeroSearchError, FileNotFoundError):
    """Model weights are not on this machine; the message has the download command."""


class CheckpointError(ConfigError):
    """A checkpoint a run cannot resume from: an older (pickled) one, or one written with
    other settings. Raised before any step runs, like a configuration error."""
