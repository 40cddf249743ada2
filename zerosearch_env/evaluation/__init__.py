"""Evaluation: any agent, any search engine, per-data-source scores with intervals.

``run_eval(agent, EvalConfig(...), out_dir)`` plays an agent (anything with
``act(episodes) -> actions``) over a question set and writes ``trajectories.jsonl``,
``metrics.json``, ``report.md`` and ``scores.png``; ``zerosearch eval`` is its CLI.

Modules, bottom up: ``metrics`` (scores and intervals), ``config`` (what a run is asked
and returns), ``episodes`` (the agent protocol and the one episode loop), ``agents`` (the
shipped agents, ``make_agent``), ``openai_agent``, ``harness`` (``run_eval``, resume),
``report`` (table, markdown, plot).
"""

from __future__ import annotations

from ..env_config import EnvConfig
from .agents import RandomAgent, ScriptedBatchAgent, make_agent
from .config import EvalConfig, EvalResult
from .episodes import Agent, EpisodeStart, EpisodeView, PlayedEpisode, play_episodes
from .harness import run_eval, select_rows
from .metrics import Interval, SourceSummary, bootstrap_interval, summarize

__all__ = [
    "Agent",
    "EnvConfig",
    "EpisodeStart",
    "EpisodeView",
    "EvalConfig",
    "EvalResult",
    "Interval",
    "PlayedEpisode",
    "RandomAgent",
    "ScriptedBatchAgent",
    "SourceSummary",
    "bootstrap_interval",
    "make_agent",
    "play_episodes",
    "run_eval",
    "select_rows",
    "summarize",
]
