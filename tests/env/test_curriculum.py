import numpy as np
import pytest

from zerosearch_env.curriculum import (
    ConstantCurriculum,
    ExponentialCurriculum,
    LinearCurriculum,
    make_curriculum,
)
from zerosearch_env.errors import ConfigError


def spec_formula(t, T, s, e, b):
    return e if t >= T else s + (b ** (t / T) - 1) / (b - 1) * (e - s)


@pytest.mark.parametrize("s, e, T, b", [(0.0, 0.5, 203, 4.0), (0.1, 0.9, 10, 2.0), (0.2, 0.2, 5, 8.0), (0.5, 0.0, 50, 4.0)])
def test_exponential_matches_spec(s, e, T, b):
    c = ExponentialCurriculum(start=s, end=e, total_steps=T, base=b)
    for t in range(0, T + 20):
        assert c(t) == pytest.approx(spec_formula(t, T, s, e, b))
    assert c(0) == pytest.approx(s)
    assert c(T) == pytest.approx(e)


@pytest.mark.parametrize("kind", ["exponential", "linear"])
def test_rising_schedules_are_monotone_and_bounded(kind):
    c = make_curriculum({"kind": kind, "start": 0.0, "end": 0.5, "total_steps": 100})
    values = np.array([c(t) for t in range(150)])
    assert np.all(np.diff(values) >= 0)
    assert values[0] == 0.0 and values[-1] == 0.5
    assert np.all((values >= 0) & (values <= 0.5))


def test_exponential_starts_slower_than_linear():
    exp = ExponentialCurriculum(0.0, 0.5, 100)
    lin = LinearCurriculum(0.0, 0.5, 100)
    assert all(exp(t) < lin(t) for t in range(1, 100))


def test_constant():
    assert ConstantCurriculum(0.25)(0) == ConstantCurriculum(0.25)(10**6) == 0.25
    assert make_curriculum(None)(7) == 0.0
    assert make_curriculum(0.4)(7) == 0.4


@pytest.mark.parametrize(
    "build",
    [
        lambda: ExponentialCurriculum(start=-0.1),
        lambda: ExponentialCurriculum(end=1.5),
        lambda: ExponentialCurriculum(total_steps=0),
        lambda: ExponentialCurriculum(base=1.0),
        lambda: LinearCurriculum(total_steps=-3),
        lambda: ConstantCurriculum(2.0),
        lambda: make_curriculum({"kind": "cosine"}),
        lambda: make_curriculum({"start": 0, "ends": 1}),
        lambda: make_curriculum("hard"),
    ],
)
def test_invalid_arguments_raise_config_error(build):
    with pytest.raises(ConfigError):
        build()


def test_negative_step_rejected():
    with pytest.raises(ConfigError, match="non-negative"):
        ExponentialCurriculum()(-1)
