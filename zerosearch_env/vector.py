"""``ZeroSearchVectorEnv``: N episodes stepped together, one simulator call per step.

RL for LLMs runs hundreds of episodes at once and the simulator LLM is the cost. An
offline engine is fastest when it sees every query of a step in one call, so this vector
env parses every sub-environment's turn first, sends all their searches to the simulator
as one batch (each request with its own question and golden answers), then applies the
results. Sub-environments are plain :class:`ZeroSearchEnv` instances that share the
dataset rows and the simulator.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .env import StepInfo, ZeroSearchEnv, fallback_result
from .errors import ConfigError, SimulatorError
from .records import QARow
from .simulators.base import SearchRequest, SearchResult

_AUTORESET_MODES: dict[Any, AutoresetMode] = {
    "next_step": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    **{mode: mode for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)},
    **{mode.value: mode for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)},
}


#: Info keys that every sub-env info holds as a number (the fast path of _batch_infos).
_NUMERIC_INFO: dict[str, Any] = {
    **dict.fromkeys(
        (
            "turn",
            "training_step",
            "searches",
            "noisy_searches",
            "sim_prompt_tokens",
            "sim_completion_tokens",
            "episode_sim_prompt_tokens",
            "episode_sim_completion_tokens",
        ),
        np.int64,
    ),
    "noise_prob": np.float64,
    "sim_latency_s": np.float64,
}


@dataclass
class StepStats:
    """What one vector ``step`` cost: simulator calls, requests, tokens and wall time."""

    sim_calls: int = 0
    sim_requests: int = 0
    sim_prompt_tokens: int = 0
    sim_completion_tokens: int = 0
    sim_wall_s: float = 0.0
    step_wall_s: float = 0.0

    @property
    def overhead_s(self) -> float:
        """Wall time of the step outside the simulator (parsing, rewards, bookkeeping)."""
        return self.step_wall_s - self.sim_wall_s

    def __add__(self, other: StepStats) -> StepStats:
        return StepStats(
            self.sim_calls + other.sim_calls, self.sim_requests + other.sim_requests,
            self.sim_prompt_tokens + other.sim_prompt_tokens, self.sim_completion_tokens + other.sim_completion_tokens,
            self.sim_wall_s + other.sim_wall_s, self.step_wall_s + other.step_wall_s,
        )  # fmt: skip

    def __sub__(self, other: StepStats) -> StepStats:
        """What happened between two snapshots of :attr:`ZeroSearchVectorEnv.total_stats`."""
        return self + StepStats(
            -other.sim_calls, -other.sim_requests, -other.sim_prompt_tokens, -other.sim_completion_tokens,
            -other.sim_wall_s, -other.step_wall_s,
        )  # fmt: skip


class ZeroSearchVectorEnv(VectorEnv):
    """A native batched vector environment over ``num_envs`` ZeroSearch episodes.

    Registered as the ``vector_entry_point`` of every ZeroSearch id, so
    ``gym.make_vec("ZeroSearch-v0", num_envs=N, **env_kwargs)`` returns it.

    - Observations are a tuple of ``num_envs`` strings; actions a sequence of strings.
    - Autoreset: ``"next_step"`` (Gymnasium's default; the step after an episode ends
      resets that sub-env and ignores its action) or ``"same_step"`` (the sub-env is
      reset in the same step; the last observation and info of the finished episode are
      in ``infos["final_obs"]`` / ``infos["final_info"]``).
    - ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i``: the batch replays exactly the
      episodes of ``num_envs`` single envs seeded ``s, s+1, ...``.
    - ``last_step_stats`` holds the :class:`StepStats` of the latest step and
      ``total_stats`` those of every step since the env was made, summed (what a run's
      cost is computed from: take the difference of two snapshots for a stretch); and
      ``last_infos`` each sub-env's :class:`~zerosearch_env.env.StepInfo` of the latest
      ``reset`` or ``step`` (None for a sub-env it left alone): the same values as the
      batched ``infos``, one record per sub-env, for loops that follow single episodes.
    """

    def __init__(
        self,
        num_envs: int = 1,
        *,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        **env_kwargs: Any,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError(f"num_envs expects a positive int, got {num_envs!r}")
        mode = _AUTORESET_MODES.get(autoreset_mode)
        if mode is None:
            raise ConfigError(f"autoreset_mode expects 'next_step' or 'same_step', got {autoreset_mode!r}")
        if max_episode_steps is not None:
            raise ConfigError("ZeroSearch ends episodes itself (max_turns); max_episode_steps is not supported")
        first = ZeroSearchEnv(**env_kwargs)
        self.envs: list[ZeroSearchEnv] = [first] + [first.sibling() for _ in range(num_envs - 1)]
        self.simulator = first.simulator
        self.num_envs = num_envs
        self.metadata = {**ZeroSearchEnv.metadata, "autoreset_mode": mode}
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self.last_step_stats = StepStats()
        self.total_stats = StepStats()
        self.last_infos: tuple[StepInfo | None, ...] = (None,) * num_envs
        self._kept: dict[tuple[int, SearchRequest], SearchResult] = {}  # a raised step's successful searches

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> tuple[tuple[str, ...], dict[str, Any]]:
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset expects {self.num_envs} seeds, got {len(seeds)}")
        self._kept = {}
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        per_env = self._per_env_options(options)
        obs = [env.transcript if env.observation_mode == "transcript" else "" for env in self.envs]
        infos: list[StepInfo | None] = [None] * self.num_envs
        for i, env in enumerate(self.envs):
            if mask[i]:
                obs[i], infos[i] = env.begin_episode(seed=seeds[i], options=per_env[i] or None)
                self._autoreset[i] = False
        self.last_infos = tuple(infos)
        return tuple(obs), self._batch_infos(infos)

    def _per_env_options(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        """Split reset options: ``{"index": [i0, i1, ...]}`` (one row per sub-env, e.g. a
        GRPO group asking one question n times; None lets that sub-env draw its row) or
        one value for every sub-env."""
        per_env: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key, value in options.items():
            if key == "index" and isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
                if len(value) != self.num_envs:
                    raise ConfigError(f"options['index'] expects one row index per sub-env ({self.num_envs}), got {len(value)}")
                for i, index in enumerate(value):
                    if index is not None:
                        per_env[i][key] = index
            else:
                for env_options in per_env:
                    env_options[key] = value
        return per_env

    def step(self, actions: Sequence[str | None]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env. ``actions[i] = None`` leaves sub-env ``i`` untouched this
        step (empty observation, no reward, no info; a pending autoreset waits): an LLM
        rollout whose episodes end at different turns steps only the live ones."""
        started = time.perf_counter()
        if len(actions) != self.num_envs:
            raise ConfigError(f"step expects {self.num_envs} actions, got {len(actions)}")
        n = self.num_envs
        obs: list[str] = [""] * n
        rewards = [0.0] * n
        terminated = [False] * n
        truncated = [False] * n
        infos: list[StepInfo | None] = [None] * n
        autoreset = self._autoreset.tolist()  # plain lists: this loop runs per sub-env

        # 1. Decide every turn (parse, look up the noise coin). Nothing changes yet, so a
        #    simulator fault below leaves every sub-env as it was.
        pending = [None if action is None or reset_first else env.begin_turn(action) for env, action, reset_first in zip(self.envs, actions, autoreset)]

        # 2. One simulator call for every search of this step.
        searching = [i for i, turn in enumerate(pending) if turn is not None and turn.request is not None]
        results = self._simulate(pending, searching)

        # 3. Apply the turns; reset the sub-envs whose episode ended last step.
        clock = self.envs[0].training_step
        final_obs, final_info = {}, {}
        same_step = self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
        for i, (env, action, turn) in enumerate(zip(self.envs, actions, pending)):
            if action is None:
                continue
            if turn is None:
                obs[i], infos[i] = env.begin_episode()
                autoreset[i] = False
                continue
            obs[i], rewards[i], terminated[i], truncated[i], infos[i] = env.finish_turn(turn, results.get(i))
            if terminated[i] or truncated[i]:
                if same_step:
                    final_obs[i], final_info[i] = obs[i], infos[i]
                    obs[i], infos[i] = env.begin_episode()
                else:
                    autoreset[i] = True
        self._autoreset = np.array(autoreset, dtype=bool)
        if self.envs[0].curriculum_clock == "episode":  # one clock for the batch: every sub-env's episodes count
            ended = sum(t or u for t, u in zip(terminated, truncated))
            for env in self.envs:
                env.training_step = clock + ended
        self.last_infos = tuple(infos)
        batched = self._batch_infos(infos)
        if final_obs:
            batched["final_obs"] = np.array([final_obs.get(i) for i in range(n)], dtype=object)
            batched["_final_obs"] = np.array([i in final_obs for i in range(n)])
            batched["final_info"] = self._batch_infos([final_info.get(i) for i in range(n)])
            batched["_final_info"] = batched["_final_obs"].copy()
        self.last_step_stats.step_wall_s = time.perf_counter() - started
        self.total_stats = self.total_stats + self.last_step_stats
        return (
            tuple(obs),
            np.array(rewards, dtype=np.float64),
            np.array(terminated, dtype=bool),
            np.array(truncated, dtype=bool),
            batched,
        )

    def _simulate(self, pending: list, searching: list[int]) -> dict[int, Any]:
        """One simulator call for the step's searches; each failed search is handled on
        its own (``on_sim_error``). In raise mode the step raises once the batch was tried,
        and keeps the searches that succeeded: the same step again sends only the failed
        ones (a retried turn makes the same requests)."""
        stats = self.last_step_stats = StepStats()
        if not searching:
            return {}
        keys = [(i, pending[i].request) for i in searching]
        kept, self._kept = self._kept, {}
        to_send = [key for key in keys if key not in kept]
        stats.sim_requests = len(to_send)
        sim_started = time.perf_counter()
        fresh: list[SearchResult] = []
        if to_send:
            try:
                fresh = self.simulator.simulate([request for _, request in to_send])
                if len(fresh) != len(to_send):
                    raise SimulatorError(f"{self.simulator.name} returned {len(fresh)} results for {len(to_send)} requests")
            except SimulatorError as error:  # the whole call failed
                if self.envs[0].on_sim_error == "raise":
                    self._kept = kept  # no sub-env was changed: begin_turn only decides
                    raise
                fresh = [fallback_result(error)] * len(to_send)
            stats.sim_calls = 1
        results = {**kept, **dict(zip(to_send, fresh))}
        stats.sim_wall_s = time.perf_counter() - sim_started
        stats.sim_prompt_tokens = sum(r.prompt_tokens for r in fresh)
        stats.sim_completion_tokens = sum(r.completion_tokens for r in fresh)
        failed = [key for key in keys if results[key].failed]
        if failed and self.envs[0].on_sim_error == "raise":
            self._kept = {key: result for key, result in results.items() if not result.failed}
            raise _failed_searches(self.simulator.name, [(i, results[(i, request)]) for i, request in failed], len(keys))
        return {i: results[(i, request)] for i, request in keys}

    def _batch_infos(self, infos: list[StepInfo | None]) -> dict[str, Any]:
        """Gymnasium's vector info layout (``info[key][i]`` plus a ``_key`` mask), built
        column by column straight from the sub-envs' :class:`StepInfo` records: no dict
        per sub-env."""
        n = self.num_envs
        present_infos = [info for info in infos if info is not None]
        if not present_infos:
            return {}
        everyone = len(present_infos) == n
        present = np.ones(n, dtype=bool) if everyone else np.array([info is not None for info in infos])
        batched: dict[str, Any] = {}
        for key, values in zip(StepInfo._fields, zip(*present_infos)):
            dtype = _NUMERIC_INFO.get(key)
            if dtype is None and None not in values:
                kinds = set(map(type, values))
                if kinds <= {int, float, bool}:
                    dtype = bool if kinds == {bool} else (np.int64 if kinds == {int} else np.float64)
            if dtype is not None:
                column = np.zeros(n, dtype=dtype)
                if everyone:
                    column[:] = values
                else:
                    column[present] = values
            elif everyone:  # fromiter keeps list values (documents, golden answers) whole
                column = np.fromiter(values, dtype=object, count=n)
            else:
                column = np.full(n, None, dtype=object)
                column[present] = np.fromiter(values, dtype=object, count=len(values))
            batched[key] = column
            batched[f"_{key}"] = present
        return batched

    # ------------------------------------------------------------------ conveniences
    @property
    def rows(self) -> list[QARow]:
        """The dataset rows every sub-env draws its questions from (shared, read-only)."""
        return self.envs[0].rows

    @property
    def noise_prob(self) -> float:
        """The noise probability of the next search, which every sub-env shares (with
        ``curriculum_clock="episode"`` the clock counts the episodes of every sub-env)."""
        return self.envs[0].noise_prob

    def set_training_step(self, step: int) -> None:
        """Move the curriculum of every sub-env."""
        for env in self.envs:
            env.set_training_step(step)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call a method (or read an attribute) of every sub-env, like SyncVectorEnv.call."""
        results = []
        for env in self.envs:
            attribute = getattr(env, name)
            results.append(attribute(*args, **kwargs) if callable(attribute) else attribute)
        return tuple(results)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(getattr(env, name) for env in self.envs)

    def set_attr(self, name: str, values: Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ConfigError(f"set_attr expects {self.num_envs} values, got {len(values)}")
        for env, value in zip(self.envs, values):
            setattr(env, name, value)

    def render(self) -> tuple[Any, ...] | None:
        return self.call("render")

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def _failed_searches(simulator: str, failed: list[tuple[int, SearchResult]], searches: int) -> SimulatorError:
    """The error of a step whose searches failed in raise mode: which sub-envs, and why."""
    envs = ", ".join(str(i) for i, _ in failed[:10]) + (", ..." if len(failed) > 10 else "")
    faults = [result.error for _, result in failed if result.error is not None]
    fault = faults[0]
    kinds = sorted({f.kind for f in faults})
    return SimulatorError(
        f"{simulator}: {len(failed)} of {searches} searches failed (sub-envs {envs}; {', '.join(kinds)}); the first, "
        f"after {fault.attempts} attempt(s): {fault.message}. No sub-env was changed and the {searches - len(failed)} "
        "that succeeded are kept: step again with the same actions to re-send only the failed ones, "
        "or pass on_sim_error='fallback' to go on without their documents",
        fault=fault,
    )
