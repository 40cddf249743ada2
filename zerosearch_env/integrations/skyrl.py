"""ZeroSearch-v0 as a SkyRL environment: ``env_class: zerosearch``.

SkyRL's generator builds one ``BaseTextEnv`` per trajectory with
``skyrl_gym.make(env_class, env_config=..., extras=row)``, renders the row's prompt
itself, and calls ``step(text)`` with each policy turn (in a thread), keeping token ids
and the loss mask on its side. :class:`ZeroSearchTextEnv` plays the ZeroSearch episode
behind that: the same ``<search>``/``<answer>`` protocol as SkyRL's own ``search`` env,
with one of our simulators in place of its retriever, our curriculum, F1 reward and
fault handling, and the episode's numbers in ``get_metrics()``.

- The row: the Search-R1 parquet columns (``question``, ``reward_spec`` or
  ``reward_model`` with ``ground_truth.target``, ``data_source``, ``extra_info``).
- Turns: SkyRL's ``max_turns`` counts every policy turn; ZeroSearch's counts search
  rounds before the forced answer, so the environment gets ``max_turns - 1``.
- Settings: the keys of :class:`~zerosearch_env.integrations.episodes.AdapterConfig`,
  from ``env_config`` when SkyRL has a config section for the env, else those registered
  with :func:`register_zerosearch` (SkyRL's stock config has no section for new envs).
- The curriculum's step: SkyRL does not hand its global step to environments. A row may
  carry ``training_step``; otherwise the environment counts the training episodes this
  process has finished and divides by ``episodes_per_step`` (``train_batch_size`` x
  ``n_samples_per_prompt`` for one generator process). Episodes at a fixed
  ``difficulty`` (evaluation) do not count.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, MissingDependencyError
from .episodes import AdapterConfig, EpisodeTally, episode_env, plain, row_record

try:
    from skyrl_gym.envs import registration
    from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput
except ImportError as error:
    raise MissingDependencyError(f'the SkyRL environment needs skyrl-gym ({error}): pip install "zerosearch-env[skyrl]"') from error

ENV_ID = "zerosearch"
_METADATA_KEYS = ("action", "query", "answer", "doc_quality", "noise_prob", "searches", "training_step", "f1", "em", "cover_em")
_FINISHED: Counter[str] = Counter()  # training episodes finished in this process, per configuration
_FINISHED_LOCK = threading.Lock()


class ZeroSearchTextEnv(BaseTextEnv):
    """One ZeroSearch episode for SkyRL (see the module docstring).

    Args:
        env_config: settings from SkyRL's ``environment.skyrl_gym.<env_class>`` section.
        extras: the dataset row (and SkyRL's ``max_turns``).
        settings: what :func:`register_zerosearch` registered, used when ``env_config`` is empty.
    """

    def __init__(self, env_config: Mapping[str, Any] | None = None, extras: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None):
        super().__init__()
        merged = dict(plain(env_config or {}) or plain(settings or {}))  # a config section, else the registered defaults
        self.episodes_per_step = merged.pop("episodes_per_step", None)
        if self.episodes_per_step is not None and (
            isinstance(self.episodes_per_step, bool) or not isinstance(self.episodes_per_step, int) or self.episodes_per_step < 1
        ):
            raise ConfigError(f"env {ENV_ID!r}: episodes_per_step expects a positive int, got {self.episodes_per_step!r}")
        self.config = AdapterConfig.from_mapping(merged, f"env {ENV_ID!r}", also=("episodes_per_step",))
        row = dict(plain(extras or {}))
        self.record = row_record(row, "skyrl dataset")
        self.env = episode_env(self.config)
        if row.get("max_turns") is not None:
            turns = row["max_turns"]
            if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
                raise ConfigError(f"SkyRL's max_turns expects an int >= 1 (policy turns, the answer's included), got {turns!r}")
            self.max_turns = turns
            self.env.max_turns = max(self.max_turns - 1, 0)
        else:
            self.max_turns = self.env.max_turns + 1
        self.env.set_training_step(self._training_step(row))
        self.tally = EpisodeTally()

    def _training_step(self, row: Mapping[str, Any]) -> int:
        if row.get("training_step") is not None:
            return int(row["training_step"])
        if not self.config.is_scheduled:
            return 0
        if self.episodes_per_step is None:
            raise ConfigError(
                f"env {ENV_ID!r}: the curriculum needs the training step, and SkyRL does not give it to environments; "
                "set episodes_per_step (train_batch_size x n_samples_per_prompt) in the settings, "
                "or a 'training_step' column in the rows, or a fixed 'difficulty'"
            )
        with _FINISHED_LOCK:
            return _FINISHED[self.config.key()] // self.episodes_per_step

    def init(self, prompt: Any) -> tuple[Any, dict[str, Any]]:
        """Start the episode; the prompt goes back unchanged (SkyRL renders its own)."""
        self.env.reset(options={"row": self.record})
        return prompt, {}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.tally.observe(info)
        done = terminated or truncated
        if done and self.config.is_scheduled:
            with _FINISHED_LOCK:
                _FINISHED[self.config.key()] += 1
        metadata = {key: info.get(key) for key in _METADATA_KEYS}
        metadata["sim_error"] = info["sim_error"].kind if info.get("sim_error") is not None else None
        return BaseTextEnvStepOutput(
            observations=[{"role": "user", "content": observation}] if observation else [],
            reward=float(reward),
            done=done,
            metadata=metadata,
        )

    def get_metrics(self) -> dict[str, Any]:
        """The episode's numbers: F1, EM, searches, noisy share, simulator tokens, faults."""
        return self.tally.metrics()


def register_zerosearch(settings: Mapping[str, Any] | None = None, *, env_id: str = ENV_ID) -> None:
    """Register ``env_id`` with ``settings`` as its defaults (replacing an earlier
    registration): call it in the process that builds SkyRL's environments."""
    if env_id in registration.registry:
        registration.deregister(env_id)
    registration.register(id=env_id, entry_point=f"{__name__}:ZeroSearchTextEnv", kwargs={"settings": dict(plain(settings or {}))})


def read_settings(path: str) -> dict[str, dict[str, Any]]:
    """A settings file: ``{env_id: settings}`` (``${oc.env:VAR,default}`` resolved), as
    ``examples/skyrl/zerosearch.yaml``; register each with :func:`register_zerosearch`."""
    from omegaconf import OmegaConf  # skyrl-gym's own dependency

    settings = plain(OmegaConf.load(path))
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise ConfigError(f"{path}: expected a mapping of environment ids to their settings, got {settings!r}")
    return settings


if ENV_ID not in registration.registry:
    register_zerosearch()
