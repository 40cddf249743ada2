"""Supervised warm start: behaviour cloning on trajectories, with the RL loss's mask.

A model that has never seen the tag protocol cannot be improved by RL: it never writes
``<answer>`` and never earns a reward. Cloning demonstrations first teaches the format.
The demonstrations are tokenized exactly as rollouts are (prompt, policy turns,
observations), and only the policy turns are trained on.

Sources: ``"scripted"`` plays :class:`~zerosearch_env.baselines.ScriptedAgent` on the
training questions, or a jsonl file of ``{"prompt": str, "turns": [{"action": str,
"observation": str}, ...]}`` records from any agent.

:func:`warm_start` is the training run's stage: demonstrations from ``cfg.bc_source``,
tokenized, cloned into the policy, and the KL reference reset to the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation.agents import ScriptedBatchAgent
from zerosearch_env.protocol import drop_thoughts

from .losses import masked_mean
from .policy import forward_logprobs
from .rollout import Episode, RolloutBatch, prompt_ids, text_ids

if TYPE_CHECKING:
    from .config import TrainConfig
    from .update import Learner


@dataclass
class Demonstration:
    """One episode of text: the prompt, then (action, observation) per turn."""

    prompt: str
    turns: list[tuple[str, str]]


def scripted_demonstrations(
    env_kwargs: dict[str, Any],
    *,
    no_search_share: float = 0.0,
    keep_think: bool = True,
    seed: int = 0,
    batch_size: int = 64,
    questions: int | None = None,
    on_played: Callable[[Any], object] | None = None,
) -> list[Demonstration]:
    """Play the scripted agent once on every row of the environment's dataset (the first
    ``questions`` rows when given).

    Row ``i`` is played with reset seed ``seed + i``. ``no_search_share`` of the episodes
    (chosen with ``seed``) come from the agent told to answer at once (a typed guess),
    giving a warm start that sometimes skips search. ``on_played`` is given the env's
    :class:`~zerosearch_env.vector.StepStats` totals once every row is played: with an
    LLM simulator they cost what the rollouts' searches cost, one by one (see :mod:`.sim_usage`).
    """
    from zerosearch_env.evaluation.episodes import EpisodeStart, play_episodes
    from zerosearch_env.vector import ZeroSearchVectorEnv

    envs = ZeroSearchVectorEnv(num_envs=batch_size, **env_kwargs)
    skip_search = np.random.default_rng(seed).random(len(envs.rows)) < no_search_share
    agent = _Demonstrator(skip_search, seed)
    played = range(len(envs.rows) if questions is None else min(questions, len(envs.rows)))
    starts = [EpisodeStart(index, index=index, seed=seed + index) for index in played]
    demos = {}
    for episode in play_episodes(envs, agent, starts):
        turns = [(turn.action if keep_think else drop_thoughts(turn.action), turn.observation) for turn in episode.turns]
        demos[episode.start.episode_id] = Demonstration(episode.prompt, turns)
    envs.close()
    if on_played is not None:
        on_played(envs.total_stats)
    return [demos[index] for index in played]


class _Demonstrator(ScriptedBatchAgent):
    """The scripted agent with its own seed per row, and no search on the rows ``skip_search`` marks."""

    def __init__(self, skip_search: np.ndarray, seed: int):
        super().__init__()
        self.skip_search = skip_search
        self.base_seed = seed

    def new_agent(self, episode_id: int) -> Any:
        from zerosearch_env.baselines import ScriptedAgent

        return ScriptedAgent(max_searches=0 if self.skip_search[episode_id] else 3, seed=self.base_seed + episode_id)


def load_demonstrations(path: str | Path) -> list[Demonstration]:
    """Demonstrations from a jsonl file; a malformed line fails with its number."""
    demos = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            demos.append(Demonstration(record["prompt"], [(t["action"], t.get("observation", "")) for t in record["turns"]]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: expects {{'prompt': str, 'turns': [{{'action': str, 'observation': str}}]}}, got {line[:120]!r}") from error
    return demos


def tokenize_demonstration(demo: Demonstration, tokenizer: Any, *, chat: bool, max_total_tokens: int) -> Episode:
    """The demonstration as rollouts lay episodes out: policy turns masked in, the rest out."""
    ids = prompt_ids(tokenizer, demo.prompt, chat)
    episode = Episode([], [], [], prompt_length=len(ids))
    episode.append(ids, policy=False)
    for action, observation in demo.turns:
        episode.append(text_ids(tokenizer, action), policy=True)
        episode.append(text_ids(tokenizer, observation), policy=False)
    if len(episode.token_ids) > max_total_tokens:
        keep = max_total_tokens
        episode.token_ids, episode.loss_mask, episode.logprobs = (
            episode.token_ids[:keep],
            episode.loss_mask[:keep],
            episode.logprobs[:keep],
        )
        # A turn cut by the limit keeps its head; turns past it go (the reward sits on a
        # span's last token, which must exist).
        episode.turn_spans = [(start, min(end, keep)) for start, end in episode.turn_spans if start < keep]
        episode.hit_total_limit = True
    return episode


def batches(episodes: Sequence[Episode], batch_size: int, seed: int, *, pool: int = 32) -> Iterator[list[Episode]]:
    """Shuffled mini-batches of similar length, epoch after epoch, from a seeded generator.

    Each pool of ``pool`` batches' worth of episodes is sorted by length before it is cut
    into batches (then the batches are shuffled), so little compute goes into padding:
    about twice as fast as plain shuffling on the synthetic world's episodes."""
    if len(episodes) < batch_size:  # no whole batch could ever be cut: it would spin forever
        raise ConfigError(
            f"behaviour cloning has {len(episodes)} demonstrations, fewer than one batch of {batch_size}; "
            "lower the batch size (bc_batch_size) or clone more questions (bc_questions)"
        )
    rng = np.random.default_rng(seed)
    lengths = np.array([len(e.token_ids) for e in episodes])
    while True:
        order = rng.permutation(len(episodes))
        chunk = batch_size * pool
        cut: list[np.ndarray] = []
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(lengths[part], kind="stable")]
            cut += [part[i : i + batch_size] for i in range(0, len(part) - batch_size + 1, batch_size)]
        for index in rng.permutation(len(cut)):
            yield [episodes[i] for i in cut[index]]


def behaviour_cloning(
    model: Any,
    episodes: Sequence[Episode],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    pad_id: int,
    seed: int = 0,
    accelerator: Any = None,
    progress: bool = True,
    swap_groups: Sequence[Sequence[int]] = (),
) -> list[float]:
    """Minimise the policy tokens' negative log-likelihood; returns the loss per step.

    ``swap_groups``: groups of token ids (invented names of one role: cities, surnames,
    ...) that each step permutes at random within each group, in its whole batch, the same
    way in every position of an episode. A name's facts then change from step to step, so
    the policy learns to copy whichever name the documents give rather than to memorise the
    names it was shown; what kind of name it is stays the same.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 10)))
    if accelerator is not None:
        model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    losses = []
    bar = tqdm(zip(range(steps), batches(episodes, batch_size, seed)), total=steps, desc="warm start (behaviour cloning)", disable=not progress)
    swaps = [torch.tensor(list(group), dtype=torch.long) for group in swap_groups if len(group) > 1]
    swap_generator = torch.Generator().manual_seed(seed)
    for _, batch in bar:
        t = {k: v.to(device) for k, v in RolloutBatch(batch).tensors(pad_id).items()}
        if swaps:
            t["input_ids"] = _swap(t["input_ids"], swaps, swap_generator)
        logprobs = forward_logprobs(model, t["input_ids"], t["attention_mask"])["logprobs"]
        loss = -masked_mean(logprobs, t["loss_mask"])
        if accelerator is not None:
            accelerator.backward(loss)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(nll=f"{loss.item():.3f}")
    return losses


def _swap(input_ids: torch.Tensor, groups: Sequence[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """``input_ids`` (B, T) with each group's tokens permuted among themselves at random."""
    table = torch.arange(int(max(input_ids.max(), *(group.max() for group in groups))) + 1)
    for group in groups:
        table[group] = group[torch.randperm(len(group), generator=generator)]
    return table.to(input_ids.device)[input_ids]


def name_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """The ids of the words that the tokenizer keeps whole (single tokens), sorted."""
    ids = set()
    for word in words:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(pieces) == 1 and pieces[0] != tokenizer.unk_token_id:
            ids.add(pieces[0])
    return sorted(ids)


def warm_start(
    cfg: TrainConfig, learner: Learner, tokenizer: Any, *, chat: bool, progress: bool = True, on_played: Callable[[Any], object] | None = None
) -> float:
    """Clone the demonstrations of ``cfg.bc_source`` into the policy for ``cfg.bc_steps`` steps.

    A frozen KL reference is then reset to the warm start (not the random init). Returns
    the mean loss of the last ten cloning steps (``bc_final_nll`` in the trainer state).
    ``on_played``: see :func:`scripted_demonstrations` (a file of demonstrations searches nothing).
    """
    if cfg.bc_source == "scripted":
        demos = scripted_demonstrations(
            cfg.env.env_kwargs(difficulty=cfg.curriculum_start),
            no_search_share=cfg.bc_no_search_share,
            keep_think=cfg.bc_keep_think,
            seed=cfg.seed,
            questions=cfg.bc_questions,
            on_played=on_played,
        )
    elif cfg.bc_source is not None:
        demos = load_demonstrations(cfg.bc_source)
    else:
        raise ConfigError("bc_steps > 0 needs bc_source ('scripted' or a trajectories jsonl)")
    episodes = [tokenize_demonstration(d, tokenizer, chat=chat, max_total_tokens=cfg.max_total_tokens) for d in demos]
    swap_groups: list[list[int]] = []
    if cfg.bc_swap_names:  # TrainConfig made sure the dataset is the synthetic world
        from zerosearch_env.data import synthetic_world

        world = synthetic_world(cfg.env.dataset)
        assert world is not None
        swap_groups = [name_token_ids(tokenizer, words) for words in world.invented_words().values()]
    model = learner.accelerator.unwrap_model(learner.model)
    bc_losses = behaviour_cloning(
        model,
        episodes,
        steps=cfg.bc_steps,
        lr=cfg.bc_lr,
        batch_size=cfg.bc_batch_size,
        pad_id=tokenizer.pad_token_id,
        seed=cfg.seed,
        progress=progress,
        swap_groups=swap_groups,
    )
    if isinstance(learner.ref_model, torch.nn.Module):
        learner.ref_model.load_state_dict(_merged(model).state_dict())
    return float(np.mean(bc_losses[-10:]))


def _merged(model: Any) -> Any:
    """The model's weights as a plain model: a LoRA adapter merged into a copy of its
    base (the policy itself is left as it is), or the model itself."""
    if hasattr(model, "merge_and_unload"):
        import copy

        return copy.deepcopy(model).merge_and_unload()
    return model
