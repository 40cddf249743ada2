"""The run's log: per-step metrics to metrics.jsonl, TensorBoard and Weights & Biases,
read back as a history, and drawn as the reward curve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import TrainConfig


class RunLogger:
    """Per-step metrics to metrics.jsonl, TensorBoard and (if asked) Weights & Biases."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, enabled: bool, *, resume_step: int | None = None):
        """``resume_step``: the step a resumed run continues from. A run killed after it
        logged a step but before that step's checkpoint logs the step again, so the records
        of that step and later are dropped from metrics.jsonl and TensorBoard first."""
        self.path = out_dir / "metrics.jsonl"
        self.enabled = enabled
        self.tb = self.wandb = None
        if not enabled:
            return
        if resume_step is not None:
            keep_history_before(self.path, resume_step)
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tb"), purge_step=resume_step)
            except ImportError:
                print("TensorBoard logging is off: pip install tensorboard")
        if cfg.wandb_project:
            from zerosearch_env.import_utils import require

            require("wandb", "Weights & Biases logging (wandb_project)")
            import wandb

            self.wandb = wandb.init(project=cfg.wandb_project, config=cfg.to_dict(), dir=str(out_dir))

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        step = record.get("step", 0)
        for key, value in record.items():
            if isinstance(value, (int, float)) and key != "step" and self.tb is not None:
                self.tb.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(record, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def read_history(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file, in order; empty if there is no file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curve(history: list[dict[str, Any]], path: Path, eval_before: dict[str, float], eval_after: dict[str, float]) -> None:
    """Training reward and F1 per step, with the held-out F1 before and after RL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    rewards = [h["reward"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, rewards, color="tab:blue", alpha=0.35, linewidth=1, label="training reward (mean per step)")
    ax.plot(steps, moving_average(rewards, 5), color="tab:blue", linewidth=2, label="training reward, 5-step moving average")
    ax.plot(steps, [h["noise_prob"] for h in history], "--", color="gray", label="noise probability (curriculum)")
    ax.plot(steps, [min(h["searches_per_episode"], 1.0) for h in history], ":", color="tab:green", label="searches per episode (capped at 1)")
    evals = [(h["step"], h["eval_f1"]) for h in history if "eval_f1" in h]
    if eval_before:
        evals = [(-1, eval_before["f1"]), *evals]
    if eval_after:
        evals = [*evals, (steps[-1] + 1, eval_after["f1"])]
    if evals:
        ax.plot(*zip(*evals), "o-", color="tab:red", label="held-out F1 (greedy)")
    ax.set_xlabel("training step")
    ax.set_ylabel("F1 / probability")
    ax.set_ylim(0, 1)
    title = "ZeroSearch training"
    if eval_before and eval_after:
        title += f": held-out F1 {eval_before['f1']:.3f} -> {eval_after['f1']:.3f}"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def moving_average(values: list[float], window: int) -> list[float]:
    """The mean of each value and the ``window - 1`` before it (fewer at the start).

    >>> moving_average([1.0, 2.0, 3.0, 4.0], 2)
    [1.0, 1.5, 2.5, 3.5]
    """
    return [sum(values[max(0, i + 1 - window) : i + 1]) / (i + 1 - max(0, i + 1 - window)) for i in range(len(values))]


def keep_history_before(path: Path, step: int) -> None:
    """Keep only the records of steps before ``step`` in a metrics.jsonl file (a line
    cut short by a kill goes too)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", -1) < step:
            kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept))
