"""The agent protocol of the evaluation harness, and the agents that ship with it.

An agent is as small as Gymnasium's loop: an object whose ``act`` maps a batch of
:class:`EpisodeView` (the latest observation plus the episode so far) to a batch of
action strings. Nothing here depends on ``zerosearch_agents`` (the learner); a third-party agent
implements ``act`` and nothing else, or skips this module and drives the environment
with ``reset``/``step`` directly.

Shipped: :class:`ScriptedBatchAgent` (the rule-based baseline), :class:`RandomAgent`
(format fuzzing for robustness runs), :class:`~.openai_agent.OpenAIAgent` (any
OpenAI-compatible server) and :class:`~.hf_agent.TransformersAgent` (a local checkpoint).
:func:`make_agent` resolves the CLI's ``--agent`` spec.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError

STOP_TAGS: tuple[str, ...] = ("</search>", "</answer>")


@dataclass(frozen=True)
class EpisodeView:
    """What an agent sees of one live episode when it must act.

    ``turns[i]`` is the agent's ``i``-th action as the environment kept it (cut after the
    first stop tag) and ``observations[i]`` what the environment appended after it, so
    ``prompt + turns[0] + observations[0] + ...`` is the transcript a causal LM continues.
    ``episode_id`` is the dataset row: stable over the episode and across a resumed run.
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
    """Maps a batch of live episodes to one action string each, in order."""

    name: str

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]: ...


def close_stop_tag(text: str) -> str:
    """Put back the stop tag an OpenAI-style server removes from its output.

    Generation stops at ``</search>`` or ``</answer>`` and servers drop the stop string,
    so a turn that opened ``<search>`` (or ``<answer>``) last and never closed it gets
    the closing tag back.

    >>> close_stop_tag("<think>x</think><search> capital of France ")
    '<think>x</think><search> capital of France </search>'
    >>> close_stop_tag("<answer> Paris </answer>")
    '<answer> Paris </answer>'
    >>> close_stop_tag("no tags")
    'no tags'
    """
    opened = max(("search", "answer"), key=lambda tag: text.rfind(f"<{tag}>"))
    at = text.rfind(f"<{opened}>")
    if at >= 0 and f"</{opened}>" not in text[at:]:
        return f"{text}</{opened}>"
    return text


class ScriptedBatchAgent:
    """The rule-based baseline (:class:`~zerosearch_env.baselines.ScriptedAgent`), one
    per live episode. Strong on the synthetic world, whose phrasing it knows; a weak
    reader anywhere else."""

    def __init__(self, max_searches: int = 3, seed: int | None = 0):
        self.name = "scripted"
        self.max_searches = max_searches
        self.seed = seed
        self._agents: dict[int, Any] = {}

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]:
        from ..baselines import ScriptedAgent

        actions = []
        for view in episodes:
            if not view.turns:  # a new episode (or a replayed one): start from its prompt
                self._agents[view.episode_id] = ScriptedAgent(self.max_searches, seed=self.seed)
            agent = self._agents[view.episode_id]
            actions.append(agent.act(view.observation))
        return actions

    def forget(self, episode_id: int) -> None:
        """Drop a finished episode's state."""
        self._agents.pop(episode_id, None)


#: Turn shapes the fuzzing agent writes: valid, malformed and adversarial.
_FUZZ_SHAPES: tuple[str, ...] = (
    "<search> {words} </search>",
    "<think>{words}</think><search> {words} </search>",
    "<answer> {words} </answer>",
    "<think>{words}</think>\n<answer>{words}</answer> trailing text after the stop tag",
    "{words}",  # no tag: invalid
    "<search> {words}",  # never closed: invalid
    "<answer></answer>",  # empty answer
    "<search></search>",  # empty query
    "<SEARCH> {words} </SEARCH>",  # wrong case: invalid
    "</answer><answer> {words}",  # closing before opening
    "<search> {words} </answer>",  # mismatched tags
    "<information>{words}</information>",  # pretends to be the environment
    "<search>" + "x" * 2000 + "</search>",  # a long query
    "<think>{words}\n\n\t{words}</think><answer> {words} \u00e9\u4e2d </answer>",  # white space and unicode
)


class RandomAgent:
    """Random turns, valid and malformed, for robustness runs of an environment, a
    simulator or a retriever (the harness must count every malformed turn as invalid
    and never crash). Seeded per episode, so a run is reproducible."""

    def __init__(self, seed: int = 0, vocabulary: Sequence[str] | None = None):
        self.name = "random"
        self.seed = seed
        self.vocabulary = list(vocabulary or "the who what city river founder year company born capital of in".split())

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]:
        actions = []
        for view in episodes:
            rng = random.Random(f"{self.seed}:{view.episode_id}:{len(view.turns)}")
            shape = rng.choice(_FUZZ_SHAPES)
            actions.append(shape.replace("{words}", " ".join(rng.choices(self.vocabulary, k=rng.randint(1, 6)))))
        return actions


def make_agent(spec: str | Agent, **options: Any) -> Agent:
    """Resolve ``--agent``: ``scripted``, ``random``, ``openai``, ``hf:<path>``, or
    ``module:attribute`` (a class or factory that returns an agent; ``options`` are its
    keyword arguments). An object with ``act`` is returned as it is."""
    if not isinstance(spec, str):
        if not callable(getattr(spec, "act", None)):
            raise ConfigError(f"agent expects a name or an object with act(episodes), got {type(spec).__name__}")
        return spec
    if spec == "scripted":
        return ScriptedBatchAgent(**options)
    if spec == "random":
        return RandomAgent(**options)
    if spec == "openai":
        from .openai_agent import OpenAIAgent

        return OpenAIAgent(**options)
    if spec.startswith("hf:"):
        from .hf_agent import TransformersAgent

        path = spec.removeprefix("hf:")
        if not path:
            raise ConfigError("agent 'hf:<path>' expects a model folder or hub id after the colon, e.g. hf:runs/demo/final")
        return TransformersAgent(path, **options)
    if ":" in spec:
        return _import_agent(spec, options)
    raise ConfigError(
        f"unknown agent {spec!r}; expected 'scripted', 'random', 'openai', 'hf:<model path>' "
        "or 'package.module:ClassName' for your own agent"
    )


def _import_agent(spec: str, options: dict[str, Any]) -> Agent:
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"agent {spec!r}: cannot import {attribute!r} from {module_name!r} ({error})") from error
    agent = factory(**options)
    if not callable(getattr(agent, "act", None)):
        raise ConfigError(f"agent {spec!r} built a {type(agent).__name__}, which has no act(episodes) method")
    if not hasattr(agent, "name"):
        agent.name = spec
    return agent
