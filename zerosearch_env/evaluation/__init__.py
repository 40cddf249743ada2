"""Evaluation: any agent, any search engine, per-data-source scores with intervals.

``run_eval(agent, EvalConfig(...), out_dir)`` plays an agent (anything with
``act(episodes) -> actions``) over a question set and writes ``trajectories.jsonl``,
``metrics.json``, ``report.md`` and ``scores.png``; ``zerosearch eval`` is its CLI.
"""

from __future__ import annotations

from .agents import Agent, EpisodeView, RandomAgent, ScriptedBatchAgent, close_stop_tag, make_agent
from .harness import EvalConfig, EvalResult, run_eval, select_rows
from .metrics import Interval, SourceSummary, bootstrap_interval, summarize

__all__ = [
    "Agent",
    "EpisodeView",
    "EvalConfig",
    "EvalResult",
    "Interval",
    "RandomAgent",
    "ScriptedBatchAgent",
    "SourceSummary",
    "bootstrap_interval",
    "close_stop_tag",
    "make_agent",
    "run_eval",
    "select_rows",
    "summarize",
]
