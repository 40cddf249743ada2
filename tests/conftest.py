"""Shared fixtures: the fakes of ``zerosearch_env.testing``, a toy corpus and toy rows."""

from __future__ import annotations

import pytest

from zerosearch_env.records import CorpusDoc
from zerosearch_env.testing import FailingSimulator, FixedSimulator, JSONServer

__all__ = ["ANVIL_CORPUS", "ROWS", "FailingSimulator", "FixedSimulator", "JSONServer", "episode_mask", "require_vllm"]


#: A small corpus about an anvil maker: the searches of the corpus and retriever tests.
ANVIL_CORPUS = [
    CorpusDoc("d0", '"Acme"\nAcme is a maker of anvils. Acme was founded by Jane Doe in 1901.'),
    CorpusDoc("d1", '"Acme history"\nThe anvil company Acme grew fast in the twentieth century.'),
    CorpusDoc("d2", '"Jane Doe"\nJane Doe was an engineer who founded the anvil maker Acme.'),
    CorpusDoc("d3", '"Anvils"\nAn anvil is a block of iron. Many companies make anvils.'),
    CorpusDoc("d4", '"Beta Corp"\nBeta Corp is a rival anvil company founded by Max Roe.'),
    CorpusDoc("d5", '"Gardening"\nTomatoes need sun and water.'),
]

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
