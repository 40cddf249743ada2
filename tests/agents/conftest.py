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


#: A tiny training run on the synthetic world, for runs of several processes (each test
#: adds its steps and batch).
#: The smallest training run that exercises every phase: a 1-layer tiny policy, 2 questions
#: x 2 rollouts a step, one search per episode. Tests add what they vary.
SMALL_RUN = dict(
    policy="tiny",
    tiny_hidden_size=16,
    tiny_layers=1,
    questions_per_step=2,
    group_size=2,
    micro_batch_size=4,
    max_turns=1,
    topk=2,
    max_turn_tokens=12,
    max_obs_tokens=120,
    max_total_tokens=400,
    lr=1e-3,
    eval_questions=4,
    tensorboard=False,
    curriculum_steps=4,
)


TINY_RUN_FLAGS = (
    "--policy tiny --tiny-hidden-size 16 --tiny-layers 1 --group-size 2 --micro-batch-size 4 --max-turns 1 --topk 2 "
    "--max-turn-tokens 12 --max-obs-tokens 120 --max-total-tokens 400 --tensorboard false --checkpoint-every 0"
).split()


def two_processes(*args: str, **env: str):
    """``torchrun --nproc_per_node 2 ARGS`` on CPU (gloo), as ``accelerate launch`` runs two
    GPUs: a script and its arguments, or ``-m module ...``. One thread per process: they
    share this machine's cores. ``env`` adds environment variables."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", *args]
    return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1", **env}, capture_output=True, text=True, timeout=600)


def train_on_two_processes(out_dir, *flags: str):
    """``zerosearch_agents.train`` of a tiny run on two CPU processes (accelerate's MULTI_CPU)."""
    return two_processes("-m", "zerosearch_agents.train", *TINY_RUN_FLAGS, "--out-dir", str(out_dir), *flags, ACCELERATE_USE_CPU="true")
