"""Shared fixtures: small simulators with known behaviour."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from zerosearch_env.errors import SimulatorError
from zerosearch_env.simulators.base import SearchRequest, SearchResult


class FixedSimulator:
    """Returns the same documents for every request and records what it was asked."""

    name = "fixed"

    def __init__(self, documents: Sequence[str] = ("Jane Doe founded Acme in 1901.", "Acme is a company.")):
        self.documents = tuple(documents)
        self.requests: list[SearchRequest] = []

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        self.requests.extend(requests)
        return [SearchResult(documents=self.documents, prompt_tokens=10, completion_tokens=20) for _ in requests]


class FailingSimulator:
    """Fails ``failures`` times, then answers like FixedSimulator."""

    name = "failing"

    def __init__(self, failures: int = 1):
        self.failures = failures
        self.fixed = FixedSimulator()

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if self.failures > 0:
            self.failures -= 1
            raise SimulatorError("backend unreachable after 3 retries")
        return self.fixed.simulate(requests)


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


def _has_vllm_gpu() -> bool:
    from zerosearch_env.import_utils import cuda_device_count, is_vllm_available

    return is_vllm_available() and cuda_device_count() > 0


#: GPU-only tests; their CPU twins (same prompts, same parsing) run everywhere.
require_vllm = pytest.mark.skipif(not _has_vllm_gpu(), reason="needs the vllm package and a CUDA GPU")


def episode_mask(batch: int, length: int, seed: int):
    """Loss masks shaped like multi-turn episodes: prompt, then policy turns separated by
    observation tokens, then padding. Row 0 has no policy token at all."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, length)
    for row in range(1, batch):
        t = int(torch.randint(0, 4, (), generator=gen))  # prompt
        end = length - int(torch.randint(0, 3, (), generator=gen))  # padding after `end`
        policy_turn = True
        while t < end:
            span = int(torch.randint(1, 4, (), generator=gen))
            mask[row, t : min(t + span, end)] = float(policy_turn)
            t += span
            policy_turn = not policy_turn
    return mask
