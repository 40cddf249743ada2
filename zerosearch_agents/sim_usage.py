"""The simulator's usage over a training run, for ``zerosearch cost``.

A run's simulator cost is every search it made: the training rollouts, the scripted
warm start's demonstrations and the held-out evaluations (all on the run's simulator). :class:`RunUsage` sums what the vector envs measured
(:attr:`~zerosearch_env.vector.ZeroSearchVectorEnv.total_stats`: searches sent, tokens,
wall time waiting on the simulator) over the processes, keeps the totals in the trainer
state that checkpoints carry, and writes them to ``sim_usage.json`` after every step.

A resumed run starts from the checkpoint's totals, so its file covers the whole run: the
steps a killed run did after its last checkpoint are done again and counted once, as
``metrics.jsonl`` keeps them once.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from zerosearch_env.evaluation.cost import SimUsage, write_sim_usage

STATE_KEY = "sim_usage"
#: The parts of a run, in the file's order, and the name each gets there.
PARTS = {"train": "{sim}", "warm_start": "{sim} (warm-start demonstrations)", "eval": "{sim} (held-out evaluation)"}


class RunUsage:
    """Running totals per part (``"train"``, ``"warm_start"``, ``"eval"``), kept in ``state["sim_usage"]``
    (the trainer state a checkpoint saves), so they continue across a resume.

    Every process calls :meth:`add` (the totals are summed over processes); only the
    process given an ``out_dir`` writes the file.
    """

    def __init__(self, sim: str, state: dict[str, Any], out_dir: Path | None = None):
        self.sim = sim
        self.out_dir = out_dir
        carried = state.get(STATE_KEY)
        if carried is None and state.get("step", 0) > 0 and out_dir is not None:
            print(f"resume: the checkpoint of step {state['step']} records no simulator usage (an older run); "
                  f"{out_dir / 'sim_usage.json'} counts from here on")  # fmt: skip
        self.state = state
        state[STATE_KEY] = {part: dict(usage) for part, usage in (carried or {}).items() if part in PARTS}

    def totals(self) -> list[SimUsage]:
        """One entry per part that made searches or was run, training first."""
        kept = self.state[STATE_KEY]
        return [SimUsage(**{**kept[part], "sim": PARTS[part].format(sim=self.sim)}) for part in PARTS if part in kept]

    def add(self, part: str, stats: Any, accelerator: Any = None) -> SimUsage:
        """Add what ``stats`` (a :class:`~zerosearch_env.vector.StepStats`, this process's)
        measured, summed over the processes, to ``part``; write the file; return the sum."""
        values = [stats.sim_requests, stats.sim_prompt_tokens, stats.sim_completion_tokens, stats.sim_wall_s]
        searches, prompt, completion, wall = summed_over_processes(values, accelerator)
        added = SimUsage(self.sim, round(searches), round(prompt), round(completion), max(0.0, wall))
        kept = self.state[STATE_KEY]
        before = SimUsage(self.sim, **kept[part]) if part in kept else SimUsage(self.sim, 0, 0, 0, 0.0)
        kept[part] = {k: v for k, v in asdict(before + added).items() if k != "sim"}
        if self.out_dir is not None:
            write_sim_usage(self.out_dir, "train", self.totals())
        return added


def summed_over_processes(values: list[float], accelerator: Any = None) -> list[float]:
    """``values`` summed over the training processes (each steps its own share of the
    episodes, on its own simulator calls); as they are with one process."""
    if accelerator is None or accelerator.num_processes == 1:
        return [float(v) for v in values]
    import torch

    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=accelerator.device)
    return accelerator.reduce(tensor, reduction="sum").tolist()
