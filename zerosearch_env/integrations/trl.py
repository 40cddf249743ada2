"""ZeroSearch-v0 inside TRL's ``GRPOTrainer``: a rollout function and a reward function.

TRL (1.16) lets a trainer's generation be replaced by ``rollout_func(prompts, trainer)``,
which returns token ids, sampled log-probs and an ``env_mask`` that becomes the loss
mask. :func:`make_rollout_func` plays a ZeroSearch episode for every prompt it gets:

- the prompt names its dataset row (build the trainer's dataset with
  :func:`prompt_dataset` from the same rows);
- each round makes one batched generation call for every live episode
  (:mod:`~zerosearch_env.integrations.trl_engines`: the vLLM server, the colocated vLLM
  engine, or the model itself), then steps their environments together (concurrent
  searches reach an in-process simulator as one batch);
- the policy's ids are the ones generated (mask 1, with their log-probs), the
  ``<information>`` block's ids get mask 0; an episode that ends gets an end id with mask
  0, so TRL counts it finished; one that runs out of ``max_completion_length`` does not
  (TRL's ``clipped_ratio``, and ``mask_truncated_completions`` drops it);
- the curriculum follows ``trainer.state.global_step``; without ``total_steps`` it spans
  ``trainer.state.max_steps``.

:func:`zerosearch_reward` returns each episode's reward (F1, or the configured score)
and logs EM, searches, noisy share, simulator faults and the noise level through TRL's
``log_metric``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..env import ZeroSearchEnv, policy_prompt
from ..errors import ConfigError, DatasetError, MissingDependencyError
from ..records import QARow
from ..row_fields import Where, prompt_text
from .episodes import AdapterConfig, EpisodeTally, episode_env, plain, row_record, step_executor, token_limit
from .trl_engines import MODES, Turn, TurnEngine, engine_for

try:
    import trl  # noqa: F401  (the trainer that calls us; imported so a missing one is named here)
except ImportError as error:
    raise MissingDependencyError(f'the TRL rollout needs trl 1.16 ({error}): pip install "zerosearch-env[trl]" (Python >= 3.11)') from error

__all__ = ["MODES", "ZeroSearchRollout", "make_rollout_func", "prompt_dataset", "zerosearch_reward"]

EPISODE_KEY = "zerosearch_episode"  # the rollout's per-episode numbers, as a reward-function keyword
REWARD_KEY = "zerosearch_score"


def make_rollout_func(
    settings: Mapping[str, Any] | AdapterConfig | None = None,
    rows: Iterable[QARow | Mapping[str, Any]] | None = None,
    *,
    generate: str | Callable[[Any], TurnEngine] = "auto",
    max_tokens_per_turn: int | None = None,
    max_observation_tokens: int | None = None,
) -> ZeroSearchRollout:
    """A ``rollout_func`` for ``GRPOTrainer`` that plays ZeroSearch episodes.

    Args:
        settings: the environment's settings, flat (``sim``, ``dataset``, ``topk``,
            ``max_turns``, ``prompt_template``, ``curriculum`` or ``difficulty``, ...: see
            :class:`~zerosearch_env.integrations.episodes.AdapterConfig`).
        rows: the questions the trainer's prompts come from (:class:`QARow` or dataset
            rows, read by the rules of every loader); default: the settings' dataset.
        generate: ``auto`` (the trainer's vLLM mode, else ``transformers``),
            ``vllm_server``, ``vllm_colocate``, ``transformers``, or a callable that takes
            the trainer and returns an engine (a subclass of
            :class:`~zerosearch_env.integrations.trl_engines.IndependentEngine`).
        max_tokens_per_turn: new tokens per policy turn (default: what is left).
        max_observation_tokens: an ``<information>`` block longer than this is cut.
    """
    return ZeroSearchRollout(settings, rows, generate=generate, max_tokens_per_turn=max_tokens_per_turn, max_observation_tokens=max_observation_tokens)


def prompt_dataset(
    settings: Mapping[str, Any] | AdapterConfig | None = None,
    rows: Iterable[QARow | Mapping[str, Any]] | None = None,
    *,
    chat: bool = False,
) -> Any:
    """A ``datasets.Dataset`` for the trainer: one ``prompt`` per row (the text the
    environment opens the episode with, or one user message when ``chat``), with
    ``data_source`` and ``golden_answers`` beside it."""
    import datasets

    config = _config(settings)
    records = []
    for row in _rows(config, rows):
        prompt = policy_prompt(row, config.env.prompt_template)
        records.append(
            {
                "prompt": [{"role": "user", "content": prompt}] if chat else prompt,
                "data_source": row.data_source,
                "golden_answers": list(row.golden_answers),
            }
        )
    return datasets.Dataset.from_list(records)


def zerosearch_reward(completions: Sequence[Any], *, log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
    """The episodes' rewards (a ``reward_funcs`` entry beside ``make_rollout_func``);
    logs the means of their numbers as ``zerosearch/<name>``."""
    episodes = columns.get(EPISODE_KEY)
    scores = columns.get(REWARD_KEY)
    if episodes is None or scores is None:
        raise ConfigError(
            "zerosearch_reward scores the episodes that make_rollout_func played; pass "
            "rollout_func=make_rollout_func(settings, rows) to GRPOTrainer together with it"
        )
    if log_metric is not None and episodes:
        for name in ("f1", "em", "searches", "noisy_share", "noise_prob", "sim_faults", "invalid_turns", "answered", "truncated"):
            log_metric(f"zerosearch/{name}", float(np.mean([episode[name] for episode in episodes])))
    return [float(score) for score in scores]


@dataclass
class _Episode:
    """One episode in flight: its environment and the completion built so far."""

    env: ZeroSearchEnv
    prompt_ids: list[int]
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    tally: EpisodeTally = field(default_factory=EpisodeTally)
    reward: float = 0.0
    live: bool = True
    truncated: bool = False

    def add(self, ids: Sequence[int], mask: int, logprobs: Sequence[float] | None = None) -> None:
        self.ids += ids
        self.mask += [mask] * len(ids)
        self.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)


class ZeroSearchRollout:
    """The rollout function :func:`make_rollout_func` returns (see the module docstring)."""

    def __init__(
        self,
        settings: Mapping[str, Any] | AdapterConfig | None,
        rows: Iterable[QARow | Mapping[str, Any]] | None,
        *,
        generate: str | Callable[[Any], TurnEngine] = "auto",
        max_tokens_per_turn: int | None = None,
        max_observation_tokens: int | None = None,
    ):
        if not callable(generate) and generate not in MODES:
            raise ConfigError(f"generate expects one of {list(MODES)} or a callable(trainer) -> engine, got {generate!r}")
        self.config = _config(settings)
        self.rows = _rows(self.config, rows)
        self.by_prompt = _index(self.rows, self.config.env.prompt_template)
        self.generate = generate
        self.max_tokens_per_turn = token_limit("max_tokens_per_turn", max_tokens_per_turn, "make_rollout_func")
        self.max_observation_tokens = token_limit("max_observation_tokens", max_observation_tokens, "make_rollout_func")
        self._engine: TurnEngine | None = None
        self._episode_config: AdapterConfig | None = None
        self._calls = itertools.count()

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        limit = int(trainer.max_completion_length)
        if limit < 2:
            raise ConfigError(f"max_completion_length is {limit}: an episode needs at least one policy token and the closing end id")
        rows = [self.row_for(prompt, i) for i, prompt in enumerate(prompts)]
        if self._engine is None or self._episode_config is None:  # the first call sets both
            self._engine = engine_for(trainer, self.generate)
            self._episode_config = self.config.spanning(
                int(getattr(trainer.state, "max_steps", 0) or 0), "the trainer's state has no max_steps yet; add total_steps to the curriculum"
            )
        engine, tokenizer = self._engine, _tokenizer(trainer)
        step = int(trainer.state.global_step)
        seeds = np.random.SeedSequence([int(trainer.args.seed), step, int(trainer.accelerator.process_index), next(self._calls)]).generate_state(
            max(len(rows), 1)
        )
        episodes = []
        for row, prompt_ids, seed in zip(rows, _prompt_ids(trainer, prompts), seeds):
            env = episode_env(self._episode_config)
            env.set_training_step(step)
            env.reset(seed=int(seed), options={"row": row})
            episodes.append(_Episode(env, prompt_ids))
        end_id = _end_id(trainer, tokenizer)
        end_ids = set(getattr(trainer, "eos_token_ids", None) or [end_id])

        with engine.session():
            while engine.keep_going(any(e.live for e in episodes)):
                live = [e for e in episodes if e.live]
                budgets = [limit - 1 - len(e.ids) for e in live]  # one place kept for the closing end id
                if self.max_tokens_per_turn is not None:
                    budgets = [min(b, self.max_tokens_per_turn) for b in budgets]
                turns = engine([e.prompt_ids + e.ids for e in live], budgets)
                if len(turns) != len(live):
                    raise ConfigError(f"the generation engine returned {len(turns)} turns for {len(live)} episodes")
                self._play(live, turns, tokenizer, end_ids, end_id, limit)

        metrics = []
        for e in episodes:
            numbers = e.tally.metrics()
            numbers.update(training_step=float(step), noise_prob=float(e.env.noise_prob), truncated=float(e.truncated))
            metrics.append(numbers)
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.ids for e in episodes],
            "logprobs": [e.logprobs for e in episodes],
            "env_mask": [e.mask for e in episodes],
            REWARD_KEY: [e.reward for e in episodes],
            EPISODE_KEY: metrics,
        }

    def row_for(self, prompt: Any, index: int = 0) -> QARow:
        """The row a trainer's prompt was built from (a conversation's user message, by
        the rule every loader reads a ``prompt`` column with)."""
        key = prompt_text(plain(prompt), Where("the trainer's prompts", index))
        row = self.by_prompt.get(key) if key is not None else None
        if row is None:
            raise DatasetError(
                f"prompt {str(key)[:120]!r} is not one of the {len(self.by_prompt)} rows given to make_rollout_func; build the "
                "trainer's dataset with prompt_dataset(settings, rows) from the same rows and settings"
            )
        return row

    def _play(self, live: list[_Episode], turns: list[Turn], tokenizer: Any, end_ids: set[int], end_id: int, limit: int) -> None:
        """Add each turn, then step every environment that has an action to take."""
        from ..protocol import cut_at_stop, parse_action

        acting: list[tuple[_Episode, str]] = []
        for episode, turn in zip(live, turns):
            if not turn.token_ids:  # no room was left for the policy
                episode.live, episode.truncated = False, True
                continue
            episode.add(turn.token_ids, 1, turn.logprobs)
            text = tokenizer.decode(turn.token_ids, skip_special_tokens=True)
            if turn.token_ids[-1] in end_ids or len(episode.ids) >= limit - 1:
                episode.live = False  # the policy ended, or no room for documents: only an answer still scores
                episode.truncated = turn.token_ids[-1] not in end_ids
                if parse_action(cut_at_stop(text)[0]).kind != "answer":
                    continue
            acting.append((episode, text))
        results = list(step_executor().map(lambda pair: pair[0].env.step(pair[1]), acting))
        for (episode, _), (observation, reward, terminated, truncated, info) in zip(acting, results):
            episode.tally.observe(info)
            if terminated or truncated:
                episode.reward = float(reward)
                if episode.live:
                    episode.add([end_id], 0)
                episode.live = False
                continue
            if not episode.live:
                continue
            room = limit - 1 - len(episode.ids)
            obs_ids = tokenizer.encode(observation, add_special_tokens=False)
            cap = min(room, self.max_observation_tokens or room)
            episode.add(obs_ids[:cap], 0)
            if len(obs_ids) > room:  # the documents did not fit: the episode is out of room
                episode.live, episode.truncated = False, True


def _config(settings: Mapping[str, Any] | AdapterConfig | None) -> AdapterConfig:
    if isinstance(settings, AdapterConfig):
        return settings
    if settings is not None and not isinstance(settings, Mapping):
        raise ConfigError(f"settings expects a mapping of environment settings or an AdapterConfig, got {type(settings).__name__}")
    return AdapterConfig.from_mapping(settings, "make_rollout_func settings")


def _rows(config: AdapterConfig, rows: Iterable[QARow | Mapping[str, Any]] | None) -> list[QARow]:
    if rows is None:
        from ..data import resolve_dataset

        return resolve_dataset(config.env.dataset, config.env.split)[0]
    if isinstance(rows, (str, bytes, Mapping)):
        raise ConfigError(f"rows expects an iterable of QARow or dataset rows, got {type(rows).__name__}; put a dataset path in settings['dataset']")
    read = [row if isinstance(row, QARow) else row_record(row, f"rows[{i}]") for i, row in enumerate(rows)]
    if not read:
        raise DatasetError("make_rollout_func got no rows; pass the questions the trainer's prompts come from")
    return read


def _index(rows: Sequence[QARow], template: str | None) -> dict[str, QARow]:
    """Prompt text -> row; one prompt may stand for several rows only if they agree on the answers."""
    index: dict[str, QARow] = {}
    for row in rows:
        prompt = policy_prompt(row, template)
        earlier = index.setdefault(prompt, row)
        if set(earlier.golden_answers) != set(row.golden_answers):
            raise DatasetError(
                f"rows {earlier.id or earlier.question!r} and {row.id or row.question!r} share the prompt {prompt[:120]!r} "
                f"but not the answers ({list(earlier.golden_answers)} vs {list(row.golden_answers)}); merge or drop one"
            )
    return index


def _tokenizer(trainer: Any) -> Any:
    processing = trainer.processing_class
    return getattr(processing, "tokenizer", processing)


def _prompt_ids(trainer: Any, prompts: list[Any]) -> list[list[int]]:
    """The prompts' token ids as TRL itself would make them (the chat template for conversations)."""
    tokenizer = _tokenizer(trainer)
    if all(isinstance(plain(p), str) for p in prompts):
        return [list(ids) for ids in tokenizer(text=[plain(p) for p in prompts])["input_ids"]]
    kwargs = dict(getattr(trainer, "chat_template_kwargs", None) or {})
    if getattr(trainer, "chat_template", None) is not None:
        kwargs["chat_template"] = trainer.chat_template
    return [list(tokenizer.apply_chat_template(plain(p), add_generation_prompt=True, tokenize=True, return_dict=True, **kwargs)["input_ids"]) for p in prompts]


def _end_id(trainer: Any, tokenizer: Any) -> int:
    ids = getattr(trainer, "eos_token_ids", None) or [tokenizer.eos_token_id]
    if ids[0] is None:
        raise ConfigError("the policy's tokenizer has no end id (eos_token_id): set one, so finished episodes can be closed")
    return int(ids[0])
