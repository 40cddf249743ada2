"""The agents that ship with the evaluation harness, and ``make_agent`` for ``--agent``.

- :class:`ScriptedBatchAgent`: the rule-based baseline;
- :class:`RandomAgent`: format fuzzing for robustness runs;
- ``openai``: :class:`~.openai_agent.OpenAIAgent`, any OpenAI-compatible server;
- ``hf:<path>``: a local checkpoint played as in training rollouts; it is built from the
  learner's generation code, so it lives in ``zerosearch_agents`` and is found by a
  string entry point (:data:`HF_AGENT`), as Gymnasium finds environments;
- ``package.module:Name``: a third-party agent.

The protocol they implement (:class:`~.episodes.Agent`) is in :mod:`.episodes`: nothing
here is needed to write an agent, and nothing here depends on the learner.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..import_utils import load_entry_point
from .episodes import Agent, EpisodeView

#: Where the ``hf:<path>`` agent lives (imported only when asked for).
HF_AGENT = "zerosearch_agents.hf_agent:TransformersAgent"


class ScriptedBatchAgent:
    """The rule-based baseline (:class:`~zerosearch_env.baselines.ScriptedAgent`), one
    per live episode. Strong on the synthetic world, whose phrasing it knows; a weak
    reader anywhere else."""

    def __init__(self, max_searches: int = 3, seed: int | None = 0):
        self.name = "scripted"
        self.max_searches = max_searches
        self.seed = seed
        self._agents: dict[int, Any] = {}

    def new_agent(self, episode_id: int) -> Any:
        """The scripted agent that plays episode ``episode_id`` (a subclass may vary it per episode)."""
        from ..baselines import ScriptedAgent

        return ScriptedAgent(self.max_searches, seed=self.seed)

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]:
        actions = []
        for view in episodes:
            if not view.turns or view.episode_id not in self._agents:  # a new (or replayed) episode
                self._agents[view.episode_id] = self.new_agent(view.episode_id)
                if view.turns:  # joined midway (a reader handed a transcript): plan from the prompt first
                    self._agents[view.episode_id].act(view.prompt)
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
        return _construct(ScriptedBatchAgent, spec, options)
    if spec == "random":
        return _construct(RandomAgent, spec, options)
    if spec == "openai":
        from .openai_agent import OpenAIAgent  # httpx loads only for this agent

        return _construct(OpenAIAgent, spec, options)
    if spec.startswith("hf:"):
        path = spec.removeprefix("hf:")
        if not path:
            raise ConfigError("agent 'hf:<path>' expects a model folder or hub id after the colon, e.g. hf:runs/demo/final")
        return _construct(load_entry_point(HF_AGENT), spec, options, path)
    if ":" in spec:
        return _import_agent(spec, options)
    raise ConfigError(f"unknown agent {spec!r}; expected 'scripted', 'random', 'openai', 'hf:<model path>' or 'package.module:ClassName' for your own agent")


def _construct(factory: Any, spec: str, options: dict[str, Any], *args: Any) -> Any:
    """``factory(*args, **options)``, after checking that it takes every option: a typo in
    ``--agent-arg`` is named with the options the agent does take."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return factory(*args, **options)
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        names = [name for name, p in parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)][len(args) :]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ConfigError(f"agent {spec!r} takes no option {', '.join(unknown)}; its options are {', '.join(names)} (--agent-arg KEY=VALUE)")
    return factory(*args, **options)


def _import_agent(spec: str, options: dict[str, Any]) -> Agent:
    try:
        factory = load_entry_point(spec)
    except (ImportError, AttributeError) as error:
        module_name, _, attribute = spec.partition(":")
        raise ConfigError(f"agent {spec!r}: cannot import {attribute!r} from {module_name!r} ({error})") from error
    agent = _construct(factory, spec, options)
    if not callable(getattr(agent, "act", None)):
        raise ConfigError(f"agent {spec!r} built a {type(agent).__name__}, which has no act(episodes) method")
    if not hasattr(agent, "name"):
        agent.name = spec
    return agent
