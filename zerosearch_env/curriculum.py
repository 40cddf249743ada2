"""Noise schedules: the probability that a search returns noisy documents.

ZeroSearch raises the share of noisy documents over training so that the policy first
learns the search format on easy retrieval, then learns to reason through noise. At
training step ``t`` of ``T`` with start ``s``, end ``e`` and base ``b``::

    p(t) = s + (b ** (t / T) - 1) / (b - 1) * (e - s),   p(t) = e for t >= T

Per search the environment draws ``u ~ U(0, 1)``: documents are useful if ``u > p``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigError


@runtime_checkable
class Curriculum(Protocol):
    """Maps a training step to the probability of noisy documents."""

    def __call__(self, step: int) -> float: ...


def _check_probability(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} expects a probability in [0, 1], got {value!r}")


def _check_steps(total_steps: int) -> None:
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
        raise ConfigError(f"total_steps expects a positive int, got {total_steps!r}")


def _check_step(step: int) -> None:
    if step < 0:
        raise ConfigError(f"training step expects a non-negative int, got {step!r}")


@dataclass(frozen=True)
class ConstantCurriculum:
    """A fixed noise probability: ``difficulty=p``.

    >>> ConstantCurriculum(0.3)(0), ConstantCurriculum(0.3)(10_000)
    (0.3, 0.3)
    """

    noise_prob: float = 0.0

    def __post_init__(self) -> None:
        _check_probability("noise_prob", self.noise_prob)

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self.noise_prob)


@dataclass(frozen=True)
class LinearCurriculum:
    """Noise probability rising linearly from ``start`` to ``end`` over ``total_steps``.

    >>> LinearCurriculum(0.0, 0.5, 100)(50)
    0.25
    """

    start: float = 0.0
    end: float = 0.5
    total_steps: int = 203

    def __post_init__(self) -> None:
        _check_probability("start", self.start)
        _check_probability("end", self.end)
        _check_steps(self.total_steps)

    def __call__(self, step: int) -> float:
        _check_step(step)
        if step >= self.total_steps:
            return float(self.end)
        return self.start + step / self.total_steps * (self.end - self.start)


@dataclass(frozen=True)
class ExponentialCurriculum:
    """The ZeroSearch schedule: slow at first, faster later (base ``b`` > 1).

    >>> c = ExponentialCurriculum(start=0.0, end=0.5, total_steps=203, base=4)
    >>> c(0), c(203), round(c(101), 4)
    (0.0, 0.5, 0.1655)
    """

    start: float = 0.0
    end: float = 0.5
    total_steps: int = 203
    base: float = 4.0

    def __post_init__(self) -> None:
        _check_probability("start", self.start)
        _check_probability("end", self.end)
        _check_steps(self.total_steps)
        if not isinstance(self.base, (int, float)) or self.base <= 0 or self.base == 1:
            raise ConfigError(f"base expects a positive number other than 1, got {self.base!r}")

    def __call__(self, step: int) -> float:
        _check_step(step)
        if step >= self.total_steps:
            return float(self.end)
        growth = (self.base ** (step / self.total_steps) - 1) / (self.base - 1)
        return self.start + growth * (self.end - self.start)


_KINDS = {"exponential": ExponentialCurriculum, "linear": LinearCurriculum, "constant": ConstantCurriculum}


def make_curriculum(spec: Curriculum | Mapping[str, Any] | float | None) -> Curriculum:
    """Build a curriculum from an object, a float (constant) or a mapping.

    A mapping has an optional ``kind`` (``exponential`` default, ``linear``,
    ``constant``) and that class's fields.

    >>> make_curriculum({"start": 0, "end": 0.5, "total_steps": 10})(10)
    0.5
    >>> make_curriculum(0.2)(3)
    0.2
    """
    if spec is None:
        return ConstantCurriculum(0.0)
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return ConstantCurriculum(float(spec))
    if isinstance(spec, Mapping):
        fields = dict(spec)
        kind = fields.pop("kind", "exponential")
        if kind not in _KINDS:
            raise ConfigError(f"curriculum kind expects one of {sorted(_KINDS)}, got {kind!r}")
        try:
            return _KINDS[kind](**fields)
        except TypeError as e:
            raise ConfigError(f"curriculum {kind!r}: {e}") from e
    if callable(spec):
        return spec
    raise ConfigError(f"curriculum expects a Curriculum, a mapping like {{'start': 0, 'end': 0.5, 'total_steps': 203}}, or a float; got {spec!r}")
