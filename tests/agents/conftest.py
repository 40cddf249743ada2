"""Helpers of the learner's tests."""

from __future__ import annotations


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
