"""Shared pieces of the benchmark suites."""

from __future__ import annotations

from zerosearch_env.testing import FixedSimulator

DOCS = tuple(f"Document {i} about the topic, with about thirty words of filler text to be realistic in size." for i in range(5))


def fixed_documents_simulator() -> FixedSimulator:
    """Five fixed documents at once, nothing recorded: isolates the environment's own overhead."""
    return FixedSimulator(DOCS, prompt_tokens=0, completion_tokens=0, record=False)


def record_mean(store: dict, key, benchmark) -> None:
    """Keep a benchmark's mean for a ratio test (absent under --benchmark-disable)."""
    if benchmark.stats is not None:
        store[key] = benchmark.stats.stats.mean


def scored_learner(path, rows: int, tokens: int, *, lr: float = 1e-4, **settings):
    """A GRPO learner with a KL reference on the policy folder ``path``, and one scored
    micro-batch of ``rows`` x ``tokens`` random tokens (30% of them policy tokens), ready
    for ``update.optimize``. ``settings`` go to the training config (e.g. ``chunked_head``)."""
    import torch

    from zerosearch_agents.config import make_config
    from zerosearch_agents.policy import load_policy
    from zerosearch_agents.update import Learner, compute_advantages, score_batch

    model, tokenizer = load_policy(path, dtype=torch.float32)
    reference, _ = load_policy(path, dtype=torch.float32)
    cfg = make_config(questions_per_step=rows // 4, group_size=4, micro_batch_size=rows, lr=lr, kl_coef=0.001, **settings)
    learner = Learner(cfg, model, torch.optim.AdamW(model.parameters(), lr=cfg.lr), ref_model=reference.requires_grad_(False))
    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(10, len(tokenizer), (rows, tokens), generator=g),
        "attention_mask": torch.ones(rows, tokens, dtype=torch.long),
        "loss_mask": (torch.rand(rows, tokens, generator=g) < 0.3).float(),
        "rewards": torch.rand(rows, generator=g),
        "group_ids": torch.arange(rows // 4).repeat_interleave(4),
        "token_rewards": torch.zeros(rows, tokens),
    }
    score_batch(learner, batch)
    compute_advantages(cfg, batch)
    return learner, batch
