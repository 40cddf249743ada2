"""RunUsage: the simulator's usage of a training run, per part, summed over processes,
carried by the trainer state across a resume, written by the main process only."""

from __future__ import annotations

import pytest

from zerosearch_agents.sim_usage import RunUsage, summed_over_processes
from zerosearch_env.evaluation.cost import SimUsage, read_sim_usage
from zerosearch_env.vector import StepStats


def stats(searches, completion=0, wall=0.0):
    return StepStats(sim_calls=1, sim_requests=searches, sim_prompt_tokens=2 * completion, sim_completion_tokens=completion, sim_wall_s=wall)


def test_parts_add_up_and_the_file_follows(tmp_path):
    state = {"step": 0}
    usage = RunUsage("sft-7b", state, tmp_path)
    usage.add("train", stats(4, 100, 0.5))
    usage.add("eval", stats(2, 10, 0.25))
    added = usage.add("train", stats(6, 300, 1.0))
    assert added == SimUsage("sft-7b", 6, 600, 300, 1.0)
    kind, written = read_sim_usage(tmp_path)
    assert kind == "train"
    assert written == [SimUsage("sft-7b", 10, 800, 400, 1.5), SimUsage("sft-7b (held-out evaluation)", 2, 20, 10, 0.25)]
    assert state["sim_usage"]["train"]["searches"] == 10  # in the trainer state a checkpoint saves


def test_a_resumed_run_continues_from_the_carried_totals_and_only_the_main_process_writes(tmp_path):
    state = {"step": 0}
    RunUsage("corpus", state, None).add("warm_start", stats(50, wall=0.1))
    assert not (tmp_path / "sim_usage.json").exists()  # no out_dir: not the main process
    carried = {"step": 3, "sim_usage": {k: dict(v) for k, v in state["sim_usage"].items()}}  # as trainer_state.json reads back
    resumed = RunUsage("corpus", carried, tmp_path)
    resumed.add("train", stats(7))
    _, written = read_sim_usage(tmp_path)
    assert [(u.sim, u.searches) for u in written] == [("corpus", 7), ("corpus (warm-start demonstrations)", 50)]


def test_an_older_checkpoint_without_usage_is_said(tmp_path, capsys):
    RunUsage("corpus", {"step": 5}, tmp_path)
    assert "records no simulator usage" in capsys.readouterr().out


class _TwoProcesses:
    """accelerate's reduce as two processes with the same values would give it."""

    num_processes = 2
    device = "cpu"

    def reduce(self, tensor, reduction):
        assert reduction == "sum"
        return tensor * 2


def test_usage_is_summed_over_the_processes():
    pytest.importorskip("torch")
    assert summed_over_processes([3, 10, 5, 0.5]) == [3.0, 10.0, 5.0, 0.5]
    assert summed_over_processes([3, 10, 5, 0.5], _TwoProcesses()) == [6.0, 20.0, 10.0, 1.0]
    state = {"step": 0}
    assert RunUsage("corpus", state).add("train", stats(3, 5, 0.5), _TwoProcesses()) == SimUsage("corpus", 6, 20, 10, 1.0)
