"""Multi-turn rollouts: a causal LM plays a batch of ZeroSearch episodes.

Each turn the policy generates until ``</search>``, ``</answer>`` or EOS; the
environment's observation (an ``<information>`` block or the invalid-turn feedback) is
tokenized and appended. Every episode becomes one token sequence with a *loss mask*:
1 for the tokens the policy sampled, 0 for the prompt and everything the environment
wrote. The final reward sits on the last policy token.

All episodes of a step run in one native vector env, so every search of a turn reaches
the simulator in one batched call; finished episodes are skipped with ``None`` actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .generation import GeneratedTurn, Sampling

#: Final StepInfo fields copied into each episode's record.
EPISODE_INFO_KEYS = ("f1", "em", "cover_em", "searches", "noisy_searches", "turn", "episode_sim_prompt_tokens", "episode_sim_completion_tokens")


@dataclass(frozen=True)
class RolloutLimits:
    """Token budgets: per policy turn, per observation, and per episode (prompt included)."""

    max_turn_tokens: int = 500
    max_obs_tokens: int = 2048
    max_total_tokens: int = 4096


@dataclass
class Episode:
    """One episode as a token sequence, ready for the learner."""

    token_ids: list[int]
    loss_mask: list[int]  # 1 = sampled by the policy
    logprobs: list[float]  # sampling log-probs on policy tokens, 0 elsewhere
    prompt_length: int
    group: int = 0
    question_index: int | None = None
    turn_spans: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of each policy turn
    reward: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    invalid_turns: int = 0
    cut_turns: int = 0  # turns that hit max_turn_tokens
    cut_observations: int = 0  # observations cut to max_obs_tokens
    hit_total_limit: bool = False  # ended by max_total_tokens (reward 0)
    done: bool = False

    def append(self, ids: Sequence[int], *, policy: bool, logprobs: Sequence[float] | None = None) -> None:
        start = len(self.token_ids)
        self.token_ids.extend(ids)
        self.loss_mask.extend([int(policy)] * len(ids))
        self.logprobs.extend(logprobs if logprobs is not None else [0.0] * len(ids))
        if policy:
            self.turn_spans.append((start, len(self.token_ids)))

    @property
    def policy_tokens(self) -> int:
        return sum(self.loss_mask)


@dataclass
class RolloutBatch:
    """The episodes of one step and their padded tensors."""

    episodes: list[Episode]

    def tensors(self, pad_id: int) -> dict[str, torch.Tensor]:
        """Right-padded (B, T) tensors plus per-episode ``rewards`` and ``group_ids`` (B,)."""
        width = max(len(e.token_ids) for e in self.episodes)
        b = len(self.episodes)
        out = {
            "input_ids": torch.full((b, width), pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((b, width), dtype=torch.long),
            "loss_mask": torch.zeros((b, width)),
            "sampling_logprobs": torch.zeros((b, width)),
            "token_rewards": torch.zeros((b, width)),
        }
        for i, e in enumerate(self.episodes):
            n = len(e.token_ids)
            out["input_ids"][i, :n] = torch.tensor(e.token_ids)
            out["attention_mask"][i, :n] = 1
            out["loss_mask"][i, :n] = torch.tensor(e.loss_mask, dtype=torch.float)
            out["sampling_logprobs"][i, :n] = torch.tensor(e.logprobs)
            if e.turn_spans:
                out["token_rewards"][i, e.turn_spans[-1][1] - 1] = e.reward
        out["rewards"] = torch.tensor([e.reward for e in self.episodes])
        out["group_ids"] = torch.tensor([e.group for e in self.episodes])
        return out

    def totals(self) -> dict[str, float]:
        """Sums over the batch's episodes, from which :func:`batch_metrics` takes its
        means: sums add up over the processes of a run, means do not."""
        episodes = self.episodes
        return {
            "episodes": float(len(episodes)),
            "reward": sum(e.reward for e in episodes),
            "f1": sum(e.info.get("f1") or 0.0 for e in episodes),
            "em": sum(e.info.get("em") or 0.0 for e in episodes),
            "cover_em": sum(e.info.get("cover_em") or 0.0 for e in episodes),
            "searches": float(sum(e.info.get("searches", 0) for e in episodes)),
            "noisy_searches": float(sum(e.info.get("noisy_searches", 0) for e in episodes)),
            "turns": float(sum(len(e.turn_spans) for e in episodes)),
            "invalid_turns": float(sum(e.invalid_turns for e in episodes)),
            "answered": float(sum(bool(e.info.get("answered", False)) for e in episodes)),
            "policy_tokens": float(sum(e.policy_tokens for e in episodes)),
            "episode_tokens": float(sum(len(e.token_ids) for e in episodes)),
            "cut_turns": float(sum(e.cut_turns for e in episodes)),
            "cut_observations": float(sum(e.cut_observations for e in episodes)),
            "hit_total_limit": float(sum(e.hit_total_limit for e in episodes)),
            "sim_prompt_tokens": float(sum(e.info.get("episode_sim_prompt_tokens", 0) for e in episodes)),
            "sim_completion_tokens": float(sum(e.info.get("episode_sim_completion_tokens", 0) for e in episodes)),
        }

    def metrics(self) -> dict[str, float]:
        """Episode statistics for the logs (means over the batch)."""
        return batch_metrics(self.totals())


def batch_metrics(totals: dict[str, float]) -> dict[str, float]:
    """The logged episode statistics from :meth:`RolloutBatch.totals` (of one process, or
    summed over every process of the step)."""
    n = totals["episodes"]

    def per(key: str, count: float) -> float:
        return totals[key] / count if count else 0.0

    return {
        "episodes": n,
        "reward": per("reward", n),
        "f1": per("f1", n),
        "em": per("em", n),
        "cover_em": per("cover_em", n),
        "searches_per_episode": per("searches", n),
        "noisy_share": per("noisy_searches", totals["searches"]),
        "turns_per_episode": per("turns", n),
        "invalid_turn_rate": totals["invalid_turns"] / max(totals["turns"], 1.0),
        "answered_rate": per("answered", n),
        "policy_tokens_per_episode": per("policy_tokens", n),
        "episode_tokens": per("episode_tokens", n),
        **{key: totals[key] for key in ("cut_turns", "cut_observations", "hit_total_limit", "sim_prompt_tokens", "sim_completion_tokens")},
    }


def use_chat_template(tokenizer: Any, setting: str = "auto") -> bool:
    """Whether the first prompt goes through the tokenizer's chat template."""
    if setting == "on":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("chat_template='on' but the tokenizer has no chat template; use 'off' for a base model")
        return True
    return setting == "auto" and bool(getattr(tokenizer, "chat_template", None))


def prompt_ids(tokenizer: Any, prompt: str, chat: bool) -> list[int]:
    """Token ids of the policy prompt: through the chat template (instruct models) or
    as plain text (base models), as the reference feeds both."""
    if chat:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt)["input_ids"]


def text_ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def collect_rollouts(
    envs: Any,
    generator: Any,
    tokenizer: Any,
    *,
    indices: Sequence[int],
    groups: Sequence[int] | None = None,
    limits: RolloutLimits = RolloutLimits(),
    sampling: Sampling = Sampling(),
    chat: bool = False,
    seed: int = 0,
) -> RolloutBatch:
    """Play one episode per sub-env of ``envs`` (a ZeroSearch vector env), sub-env ``i``
    on dataset row ``indices[i]``; ``groups[i]`` tags GRPO groups. Sampling draws from a
    generator seeded with ``seed``, so the same seed and weights give the same batch."""
    n = envs.num_envs
    if len(indices) != n:
        raise ValueError(f"collect_rollouts expects one row index per sub-env ({n}), got {len(indices)}")
    groups = list(groups) if groups is not None else list(range(n))
    torch_generator = torch.Generator(device=getattr(generator, "device", "cpu")).manual_seed(seed)  # vLLM draws seeds on the CPU
    observations, _ = envs.reset(seed=seed, options={"index": list(indices)})
    episodes = []
    for i in range(n):
        ids = prompt_ids(tokenizer, observations[i], chat)
        episode = Episode([], [], [], prompt_length=len(ids), group=groups[i], question_index=int(indices[i]))
        episode.append(ids, policy=False)
        episode.hit_total_limit = len(ids) >= limits.max_total_tokens
        episode.done = episode.hit_total_limit
        episodes.append(episode)

    while True:
        live = [i for i in range(n) if not episodes[i].done]
        if not live:
            break
        budgets = [min(limits.max_turn_tokens, limits.max_total_tokens - len(episodes[i].token_ids)) for i in live]
        turns: list[GeneratedTurn] = generator.generate([episodes[i].token_ids for i in live], budgets, sampling, torch_generator)
        actions: list[str | None] = [None] * n
        for i, turn, budget in zip(live, turns, budgets):
            episode = episodes[i]
            episode.append(turn.token_ids, policy=True, logprobs=turn.logprobs)
            episode.cut_turns += turn.stop == "length" and budget == limits.max_turn_tokens
            actions[i] = turn.text
        observations, rewards, terminated, truncated, _ = envs.step(actions)
        for i in live:
            episode, info = episodes[i], envs.last_infos[i]
            if info.action == "invalid":
                episode.invalid_turns += 1
            if terminated[i] or truncated[i]:
                episode.reward = float(rewards[i])
                episode.info = {key: getattr(info, key) for key in EPISODE_INFO_KEYS}
                episode.info["answered"] = bool(terminated[i])
                episode.done = True
                continue
            obs_ids = text_ids(tokenizer, observations[i])
            if len(obs_ids) > limits.max_obs_tokens:
                obs_ids = obs_ids[: limits.max_obs_tokens]
                episode.cut_observations += 1
            room = limits.max_total_tokens - len(episode.token_ids)
            if len(obs_ids) >= room:  # no room left to answer: the episode ends unanswered
                episode.append(obs_ids[:room], policy=False)
                episode.hit_total_limit = True
                episode.info = {key: getattr(info, key) for key in EPISODE_INFO_KEYS}
                episode.info.update(f1=0.0, em=0.0, cover_em=0.0, answered=False)
                episode.done = True
            else:
                episode.append(obs_ids, policy=False)
    return RolloutBatch(episodes)
