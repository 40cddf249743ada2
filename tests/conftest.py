"""Fixtures every test folder shares: a fixed simulator, toy rows, HTTP servers, the shared data."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from zerosearch_env.testing import FixedSimulator, JSONServer

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: Path, name: str) -> types.ModuleType:
    """A script that is not in a package (``benchmarks/*.py``) as module ``name``,
    registered in ``sys.modules`` while it executes: dataclasses look their module up there."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ROWS = [
    {"question": "Who founded Acme?", "golden_answers": ["Jane Doe"], "data_source": "toy"},
    {"question": "When was Acme founded?", "golden_answers": ["1901"], "data_source": "toy"},
]


@pytest.fixture
def fixed_sim() -> FixedSimulator:
    return FixedSimulator()


@pytest.fixture
def toy_rows() -> list[dict]:
    return [dict(row) for row in ROWS]


@pytest.fixture
def start_server():
    """``start_server(ServerClass, **kwargs)``: a :class:`~zerosearch_env.testing.JSONServer`
    (or subclass) stopped after the test."""
    started: list[JSONServer] = []

    def start(kind=JSONServer, *args, **kwargs):
        started.append(kind(*args, **kwargs))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def shared_data() -> Path:
    """The project's shared data folder (a real 200-row NQ slice): beside the checkout,
    inside it, or where this workplace keeps it; the test is skipped without it."""
    for candidate in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data", Path("/work/shared/data")):
        if (candidate / "nq_search_test_200.parquet").exists():
            return candidate
    pytest.skip("../shared/data/nq_search_test_200.parquet is not on this machine")


@pytest.fixture
def fake_vllm(monkeypatch):
    """A recording stand-in for the ``vllm`` package (see ``tests/fake_vllm.py``); its
    ``engines`` lists every ``LLM`` the test started."""
    from .fake_vllm import install

    return install(monkeypatch)
