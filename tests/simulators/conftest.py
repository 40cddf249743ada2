"""Helpers of the simulator tests: a toy corpus, and the marker of GPU-only tests."""

from __future__ import annotations

import pytest

from zerosearch_env.records import CorpusDoc

#: A small corpus about an anvil maker: the searches of the corpus and retriever tests.
ANVIL_CORPUS = [
    CorpusDoc("d0", '"Acme"\nAcme is a maker of anvils. Acme was founded by Jane Doe in 1901.'),
    CorpusDoc("d1", '"Acme history"\nThe anvil company Acme grew fast in the twentieth century.'),
    CorpusDoc("d2", '"Jane Doe"\nJane Doe was an engineer who founded the anvil maker Acme.'),
    CorpusDoc("d3", '"Anvils"\nAn anvil is a block of iron. Many companies make anvils.'),
    CorpusDoc("d4", '"Beta Corp"\nBeta Corp is a rival anvil company founded by Max Roe.'),
    CorpusDoc("d5", '"Gardening"\nTomatoes need sun and water.'),
]


def _has_vllm_gpu() -> bool:
    from zerosearch_env.import_utils import cuda_device_count, is_vllm_available

    return is_vllm_available() and cuda_device_count() > 0


#: GPU-only tests; their CPU twins (same prompts, same parsing) run everywhere.
require_vllm = pytest.mark.skipif(not _has_vllm_gpu(), reason="needs the vllm package and a CUDA GPU")
