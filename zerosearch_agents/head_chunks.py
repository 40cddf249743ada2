"""How many tokens the LM head computes at once: the only logits the learner ever holds.

Log-probs and entropy are computed from the hidden states a chunk of tokens at a time
(:mod:`.head_logprobs`); the chunk's length is chosen here, from a memory budget and
the vocabulary, so that the memory plan (:mod:`.memory_plan`) counts the chunk the
update allocates. Torch-free: ``zerosearch train --plan`` reads it without loading torch.
"""

from __future__ import annotations

#: What one chunk's temporaries may take (logits in the compute dtype, their fp32 copy,
#: the softmax and its gradient in the backward pass): the chunk's length follows the vocabulary.
CHUNK_BYTES = 1 << 30


def chunk_tokens(vocab_size: int, compute_bytes: int = 4) -> int:
    """Tokens per chunk so that a chunk's temporaries stay within :data:`CHUNK_BYTES`
    (at least 16): 441 for Qwen's 151,936 in bf16, 1,092 for SmolLM2's 49,152 in fp32.

    >>> chunk_tokens(151_936, compute_bytes=2), chunk_tokens(49_152), chunk_tokens(300)
    (441, 1092, 178956)
    """
    return max(16, CHUNK_BYTES // (vocab_size * (2 * compute_bytes + 12)))
