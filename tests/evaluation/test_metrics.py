"""Scores per data source with bootstrap intervals."""

from __future__ import annotations

import pytest

from zerosearch_env.evaluation import summarize


def test_summarize_groups_by_data_source_and_counts_rates():
    def record(source, f1, turns, invalid, truncated):
        return {
            "data_source": source,
            "em": f1,
            "cover_em": f1,
            "f1": f1,
            "searches": 1,
            "turns": [{}] * turns,
            "invalid_turns": invalid,
            "truncated": truncated,
            "sim_prompt_tokens": 10,
            "sim_completion_tokens": 20,
        }

    summaries = summarize([record("nq", 1.0, 2, 0, False), record("nq", 0.0, 4, 2, True), record("popqa", 0.5, 2, 1, False)])
    assert [s.data_source for s in summaries] == ["nq", "popqa", "overall"]
    nq = summaries[0]
    assert nq.f1.mean == 0.5 and nq.invalid_action_rate == pytest.approx(2 / 6) and nq.truncation_rate == 0.5
    assert summaries[-1].episodes == 3 and summaries[-1].sim_completion_tokens == 60
