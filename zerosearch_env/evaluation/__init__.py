"""Evaluation: any agent, any search engine, per-data-source scores with intervals.

``run_eval(agent, EvalConfig(...), out_dir)`` plays an agent (anything with
``act(episodes) -> actions``) over a question set and writes ``trajectories.jsonl``,
``metrics.json``, ``report.md`` and ``scores.png``; ``zerosearch eval`` is its CLI.

Modules, bottom up: ``metrics`` (scores and intervals), ``config`` (what a run is asked
and returns), ``episodes`` (the agent protocol and the one episode loop), ``agents`` (the
shipped agents, ``make_agent``), ``openai_agent``, ``store`` (a resumable run folder),
``harness`` (``run_eval``, resume), ``report`` (table, markdown, plot).

``run_fidelity(engines, FidelityConfig(...), out_dir)`` scores search engines against a
query-only reference before anyone trains on them (``fidelity``, ``fidelity_metrics``,
``fidelity_report``; ``zerosearch fidelity``); ``cost`` turns a run's simulator usage into
GPU-hours and dollars (``zerosearch cost``).
"""

from __future__ import annotations

from ..env_config import EnvConfig
from .agents import RandomAgent, ScriptedBatchAgent, make_agent
from .config import EvalConfig, EvalResult
from .episodes import Agent, EpisodeStart, EpisodeView, PlayedEpisode, play_episodes
from .fidelity import Engine, FidelityConfig, FidelityResult, run_fidelity
from .harness import run_eval, select_rows
from .metrics import Interval, SourceSummary, bootstrap_interval, summarize

__all__ = [
    "Agent",
    "Engine",
    "EnvConfig",
    "EpisodeStart",
    "EpisodeView",
    "EvalConfig",
    "EvalResult",
    "FidelityConfig",
    "FidelityResult",
    "Interval",
    "PlayedEpisode",
    "RandomAgent",
    "ScriptedBatchAgent",
    "SourceSummary",
    "bootstrap_interval",
    "make_agent",
    "play_episodes",
    "run_eval",
    "run_fidelity",
    "select_rows",
    "summarize",
]
