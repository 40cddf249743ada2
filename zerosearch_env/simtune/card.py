"""The model card of a tuned simulator: what it was trained on and how well it simulates.

A simulator folder travels (to a GPU machine, to the hub), and a reader must be able to
tell from it alone what it is: the base model, the examples and their label balance,
the training run, and its fidelity scores against a real engine once measured
(``zerosearch fidelity``). The facts are kept in ``simtune_card.json``; ``README.md`` is
rendered from them, so adding the fidelity scores later re-renders the whole card.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..evaluation.store import read_settings, write_atomically

if TYPE_CHECKING:
    from .examples import SimExample
    from .train import SimTuneConfig, SimTuneResult

CARD = "README.md"
CARD_FACTS = "simtune_card.json"


def write_card(out: Path, cfg: SimTuneConfig, result: SimTuneResult, examples: list[SimExample], *, fidelity: dict[str, Any] | None = None) -> None:
    """Write ``simtune_card.json`` and render ``README.md`` from it."""
    sources = Counter(re.sub(r"(:\d+)+$", "", e.source) for e in examples if e.source)  # "file:line:turn" -> file
    training = {
        "method": ("LoRA (merged)" if cfg.lora else "full fine-tuning" if cfg.model != "tiny" else "from scratch")
        + (f", top {cfg.train_top_layers} layers only" if cfg.train_top_layers else "")
        + (", useful/noisy twins paired in every batch" if cfg.pair_twins else ""),
        "steps": result.steps, "train_loss": result.train_loss, "eval_loss": result.eval_loss,
        "wall_minutes": round(result.wall_s / 60, 2), "train_minutes": round(result.train_s / 60, 2), "parameters": result.parameters,
        "dropped_too_long": result.dropped_too_long, "settings": asdict(cfg),
    }  # fmt: skip
    facts = {
        "base_model": cfg.model if cfg.model != "tiny" else f"none (a {result.parameters:,}-parameter Llama trained from scratch)",
        "examples_file": cfg.examples,
        "examples": result.examples,
        "balance": result.balance,
        "labels": dict(Counter(e.label or "unknown" for e in examples)),
        "documents_per_example": dict(sorted(Counter(len(e.documents) for e in examples).items())),
        "sources": dict(sources.most_common(10)),
        "training": training,
        "fidelity": fidelity,
    }
    (out / CARD_FACTS).write_text(json.dumps(facts, indent=2, default=str) + "\n")
    render_card(out)


def read_card_facts(folder: Path) -> dict[str, Any]:
    """``simtune_card.json`` of a simulator folder, checked: a typed error names the file."""
    facts = read_settings(folder / CARD_FACTS)
    for key in ("training", "balance"):
        if not isinstance(facts.get(key), dict):
            raise ConfigError(f"{folder / CARD_FACTS} has no {key!r} object; it was not written by zerosearch simtune train (train the folder again)")
    return facts


def add_fidelity(out: str | Path, fidelity: dict[str, Any]) -> None:
    """Record fidelity scores (a dict of named figures and where they were measured) and re-render."""
    folder = Path(out)
    facts = read_card_facts(folder)
    facts["fidelity"] = fidelity
    write_atomically(folder / CARD_FACTS, json.dumps(facts, indent=2, default=str) + "\n")
    render_card(folder)


def render_card(out: Path) -> str:
    """``README.md`` from ``simtune_card.json``."""
    facts = read_card_facts(out)
    training = facts["training"]
    balance = facts["balance"]
    total = max(1, sum(balance.values()))
    lines = [
        "---",
        "tags: [zerosearch, search-simulation, zerosearch-env]",
        "---",
        "",
        f"# Search simulator: {out}",
        "",
        "A simulation LLM for ZeroSearch-style RL: given a search query, the question and its answer, and a quality "
        "word, it writes `Doc i:` documents that are useful (they help answer) or noisy (on topic, without the answer). "
        "It is prompted with the released simulators' prompt, byte for byte, through its chat template.",
        "",
        "```python",
        "import gymnasium as gym",
        "import zerosearch_env",
        "",
        f'env = gym.make("ZeroSearch-v0", sim="{out}")  # with sim_backend="hf", "vllm" or "openai"',
        "```",
        "",
        "## Data",
        "",
        f"- base model: {facts['base_model']}",
        f"- examples: {facts['examples']:,} from `{facts['examples_file']}` "
        f"({balance.get('useful', 0):,} useful = {balance.get('useful', 0) / total:.0%}, {balance.get('noisy', 0):,} noisy)",
        f"- labelled by: {', '.join(f'{k} ({v:,})' for k, v in facts['labels'].items())}",
        f"- documents per example: {', '.join(f'{k}: {v:,}' for k, v in facts['documents_per_example'].items())}",
    ]
    if facts["sources"]:
        lines.append(f"- trajectories: {', '.join(f'`{k}` ({v:,})' for k, v in facts['sources'].items())}")
    eval_loss = "n/a" if training["eval_loss"] is None else f"{training['eval_loss']:.4f}"
    lines += [
        "",
        "## Training",
        "",
        f"- {training['method']}, {training['parameters']:,} parameters, {training['steps']:,} steps in {training['wall_minutes']} min",
        f"- loss on the documents only: train {training['train_loss']:.4f}, held-out {eval_loss}",
        f"- settings: `{json.dumps({k: v for k, v in training['settings'].items() if v not in (None, '')}, default=str)}`",
        "",
        "## Fidelity",
        "",
    ]
    fidelity = facts.get("fidelity")
    if fidelity:
        where = fidelity.get("measured", "")
        lines += [f"Measured with `zerosearch fidelity`{f' ({where})' if where else ''}:", "", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in fidelity.items() if k != "measured"]
    else:
        lines.append("Not measured yet: `zerosearch fidelity <this folder> --out <run>` scores it against a real engine.")
    text = "\n".join(lines) + "\n"
    (out / CARD).write_text(text)
    return text
