"""The one episode loop for text agents, and the agent protocol it plays.

An agent is as small as Gymnasium's loop: an object whose ``act`` maps a batch of
:class:`EpisodeView` (the latest observation plus the episode so far) to a batch of
action strings. :func:`play_episodes` plays such an agent in the native vector env, so
every search of a turn reaches the simulator (or retriever) in one call, and hands back
each episode as it ends. The evaluation harness, ``zerosearch demo`` and the learner's
behaviour-cloning demonstrations all play through it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..env import StepInfo
    from ..vector import ZeroSearchVectorEnv


@dataclass(frozen=True)
class EpisodeView:
    """What an agent sees of one live episode when it must act.

    ``turns[i]`` is the agent's ``i``-th action as the environment kept it (cut after the
    first stop tag) and ``observations[i]`` what the environment appended after it, so
    ``prompt + turns[0] + observations[0] + ...`` is the transcript a causal LM continues.
    ``episode_id`` names the episode (the evaluation uses the dataset row): stable over
    the episode and across a resumed run.
    """

    episode_id: int
    prompt: str
    turns: tuple[str, ...] = ()
    observations: tuple[str, ...] = ()

    @property
    def observation(self) -> str:
        """The latest observation: the prompt on the first turn."""
        return self.observations[-1] if self.observations else self.prompt

    @property
    def transcript(self) -> str:
        """Prompt, turns and observations so far, concatenated."""
        parts = [self.prompt]
        for turn, observation in zip(self.turns, self.observations):
            parts += [turn, observation]
        return "".join(parts)


@runtime_checkable
class Agent(Protocol):
    """Maps a batch of live episodes to one action string each, in order.

    An agent may also have ``forget(episode_id)``, called when an episode ends, to drop
    what it kept about it.
    """

    name: str

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]: ...


@dataclass(frozen=True)
class EpisodeStart:
    """How one episode begins: the reset ``seed`` and dataset row ``index`` (None: the
    sub-env's own RNG continues / draws the row), and the ``episode_id`` the agent sees."""

    episode_id: int
    index: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class PlayedTurn:
    """One turn of a played episode: the action as the agent sent it, what the
    environment answered, and the step's info."""

    action: str
    observation: str
    info: StepInfo


@dataclass
class PlayedEpisode:
    """A finished episode: how it began, its prompt and reset info, and its turns."""

    start: EpisodeStart
    prompt: str
    first_info: StepInfo
    turns: list[PlayedTurn] = field(default_factory=list)

    @property
    def final_info(self) -> StepInfo:
        """The info of the last step: final scores and episode counters."""
        return self.turns[-1].info

    @property
    def truncated(self) -> bool:
        """The episode ended without an answer."""
        return self.final_info.action != "answer"


def play_episodes(envs: ZeroSearchVectorEnv, agent: Agent, starts: Sequence[EpisodeStart]) -> Iterator[PlayedEpisode]:
    """Play one episode per start, ``envs.num_envs`` at a time (a wave), yielding each
    episode as it ends.

    Sub-envs past the end of the last wave sit idle: they are neither reset nor stepped.
    An episode depends only on its start (and a deterministic agent), never on its wave.
    """
    n = envs.num_envs
    for begin in range(0, len(starts), n):
        yield from _play_wave(envs, agent, list(starts[begin : begin + n]))


def _play_wave(envs: ZeroSearchVectorEnv, agent: Agent, wave: list[EpisodeStart]) -> Iterator[PlayedEpisode]:
    n = envs.num_envs
    idle: list[int | None] = [None] * (n - len(wave))
    observations, _ = envs.reset(
        seed=[start.seed for start in wave] + idle,
        options={"index": [start.index for start in wave] + idle, "reset_mask": [True] * len(wave) + [False] * len(idle)},
    )
    # the reset filled every slot of the wave: its infos are there
    played = {slot: PlayedEpisode(start, observations[slot], cast("StepInfo", envs.last_infos[slot])) for slot, start in enumerate(wave)}
    views = {slot: EpisodeView(start.episode_id, observations[slot]) for slot, start in enumerate(wave)}
    live = list(range(len(wave)))
    while live:
        batch = [views[slot] for slot in live]
        actions = agent.act(batch)
        _check_actions(agent, actions, len(batch))
        step_actions: list[str | None] = [None] * n
        for slot, action in zip(live, actions):
            step_actions[slot] = action
        observations, _, terminated, truncated, _ = envs.step(step_actions)
        still_live = []
        for slot, action in zip(live, actions):
            info = envs.last_infos[slot]
            assert info is not None
            played[slot].turns.append(PlayedTurn(action, observations[slot], info))
            if terminated[slot] or truncated[slot]:
                forget = getattr(agent, "forget", None)
                if callable(forget):
                    forget(views[slot].episode_id)
                yield played.pop(slot)
            else:
                view = views[slot]
                kept = action[: len(action) - len(info.ignored_text)]
                views[slot] = EpisodeView(view.episode_id, view.prompt, (*view.turns, kept), (*view.observations, observations[slot]))
                still_live.append(slot)
        live = still_live


def _check_actions(agent: Agent, actions: Any, expected: int) -> None:
    if not isinstance(actions, (list, tuple)) or len(actions) != expected or not all(isinstance(a, str) for a in actions):
        raise ConfigError(
            f"agent {getattr(agent, 'name', agent)!r} must return one str per episode: got "
            f"{type(actions).__name__} of {len(actions) if hasattr(actions, '__len__') else '?'} for {expected} episodes"
        )
