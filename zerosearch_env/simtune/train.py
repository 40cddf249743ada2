"""Fine-tune a causal LM into a simulator: the loss on the documents only.

Each example is rendered through the model's chat template exactly as a backend will
prompt it (:func:`~zerosearch_env.simulators.prompts.render_chat`'s text: the released
prompt as the user turn after an empty system message), followed by the completion and
the template's end-of-turn marker. Only the completion's tokens (documents and end
marker) carry a loss: the model learns to write documents, and to stop (the examples
become token rows and batches in :mod:`.tokens`).

Training runs on transformers' ``Trainer`` (CPU, one GPU, or several with ``accelerate
launch``), full fine-tuning or LoRA (``peft``; merged into the weights before saving, so
every backend loads the folder as it loads the released simulators). ``model="tiny"``
trains a small Llama from scratch with a byte-level tokenizer learned from the examples
(the CPU preset). The output folder holds the weights, the tokenizer with its chat
template, a ``generation_config.json`` whose end tokens stop generation, the training log
and a model card (:mod:`.card`).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..config_flags import setting
from ..errors import ConfigError
from .examples import SimExample, answer_first, balance, read_examples
from .snapshots import SNAPSHOTS, save_snapshot
from .tokens import Row, TokenizedGroups, answer_token_sequences, end_token_ids, pad_batch, tokenize_example, twin_groups, unlikely_tokens

T = TypeVar("T")
TRAIN_LOG = "train_log.jsonl"
TRAIN_CONFIG = "simtune_config.json"
#: What a saved simulator folder holds: a folder with any of them is not written over unasked.
SAVED_FILES = ("config.json", "model.safetensors", "README.md", TRAIN_CONFIG, TRAIN_LOG)


@dataclass
class SimTuneConfig:
    """What to fine-tune, on which examples, how long."""

    examples: str = setting("", "Examples jsonl written by zerosearch simtune label.")
    out_dir: str = setting("runs/simtune/model", "Folder the tuned simulator is saved to (loads with sim=<folder>).")
    model: str = setting(
        "tiny",
        "A model folder, hub id or named model (smollm2-135m) to fine-tune (an instruct model: it needs a chat template), or tiny: a small Llama from scratch.",
    )
    lora: bool = setting(False, "Train LoRA adapters (merged into the weights when saved) instead of every weight.")
    lora_r: int = setting(16, "LoRA rank.")
    lora_alpha: int = setting(32, "LoRA alpha.")
    lora_dropout: float = setting(0.05, "LoRA dropout.")
    epochs: float = setting(1.0, "Passes over the examples (ignored when max_steps > 0).")
    max_steps: int = setting(0, "Optimizer steps; 0: run the epochs.")
    max_minutes: float | None = setting(None, "Stop after this many minutes of training (the schedule still follows max_steps/epochs).")
    learning_rate: float = setting(1e-5, "Peak learning rate (cosine decay after a warm-up).")
    warmup_share: float = setting(0.03, "Share of the steps spent warming the learning rate up.")
    weight_decay: float = setting(0.0, "AdamW weight decay.")
    batch_size: int = setting(8, "Examples per device per step.")
    grad_accum: int = setting(1, "Gradient accumulation steps.")
    max_length: int = setting(2048, "Longest example in tokens (longer ones are dropped, and counted).")
    eval_share: float = setting(0.05, "Share of the examples held out for the evaluation loss.")
    seed: int = setting(0, "Seeds the split, the order, the initial weights of a tiny model.")
    tiny_hidden_size: int = setting(128, "tiny model: hidden size.")
    tiny_layers: int = setting(4, "tiny model: layers.")
    tiny_heads: int = setting(4, "tiny model: attention heads.")
    tiny_mlp_ratio: int = setting(4, "tiny model: MLP width as a multiple of the hidden size.")
    tiny_vocab_size: int = setting(1024, "tiny model: size of the byte-level BPE learned from the examples.")
    tiny_split_digits: bool = setting(True, "tiny model: one token per digit, so numbers are copied digit by digit.")
    noisy_answer_penalty: float = setting(
        0.0,
        "Weight of an unlikelihood term on noisy examples: -log(1 - p) of a golden answer's next token (its first, or the one after an answer prefix the document has just written), summed over a document's tokens and averaged over noisy documents, so noisy mode learns not to write the answer (0: off).",
    )
    pair_twins: bool = setting(
        False,
        "Put each useful search and its noisy twin (same query and question) in one batch, so every step contrasts the two modes; batch_size then counts examples in pairs.",
    )
    answer_first: bool = setting(
        False,
        "Move the answer-bearing sentences of each useful document up to just after its title, so the modes differ at one position right after the title (noisy documents are left as they are).",
    )
    train_top_layers: int = setting(
        0, "Train only the top N decoder layers (full or LoRA) and freeze the rest: the backward pass stops there (0: every layer)."
    )
    snapshot_minutes: list[float] = setting(
        [], "Save a copy of the simulator once training has run this many minutes, into OUT/snapshots/ (measure them with zerosearch simtune curve OUT)."
    )
    gradient_checkpointing: bool = setting(False, "Recompute activations in the backward pass (less GPU memory).")
    torch_threads: int | None = setting(None, "CPU threads for torch (1 is often fastest on a busy 2-core machine).")
    overwrite: bool = setting(False, "Replace a simulator already saved in --out-dir (its weights, card and logs); without it such a folder is refused.")

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum", "max_length", "lora_r", "tiny_hidden_size", "tiny_layers", "tiny_heads", "tiny_mlp_ratio", "tiny_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"SimTuneConfig.{name} expects a positive int, got {value!r}")
        if not 0 <= self.eval_share < 1:
            raise ConfigError(f"eval_share expects a share in [0, 1), got {self.eval_share!r}")
        if self.noisy_answer_penalty < 0:
            raise ConfigError(f"noisy_answer_penalty expects a weight >= 0, got {self.noisy_answer_penalty!r}")
        if self.train_top_layers < 0:
            raise ConfigError(f"train_top_layers expects 0 (every layer) or a positive number of layers, got {self.train_top_layers!r}")
        if self.pair_twins and self.batch_size % 2:
            raise ConfigError(f"pair_twins puts a useful example and its noisy twin in one batch: batch_size must be even, got {self.batch_size}")
        self.snapshot_minutes = sorted(float(m) for m in self.snapshot_minutes)
        if any(m <= 0 for m in self.snapshot_minutes):
            raise ConfigError(f"snapshot_minutes expects minutes of training > 0, got {self.snapshot_minutes!r}")
        if self.max_steps < 0 or not 0 < self.epochs < math.inf:
            raise ConfigError(f"expects max_steps >= 0 and a finite number of epochs > 0, got {self.max_steps!r} and {self.epochs!r}")
        for name in ("learning_rate", "warmup_share", "weight_decay", "lora_dropout", "noisy_answer_penalty"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"SimTuneConfig.{name} expects a finite number, got {getattr(self, name)!r}")
        if self.max_minutes is not None and not 0 < self.max_minutes < math.inf:
            raise ConfigError(f"max_minutes expects a finite number of minutes > 0 (or none), got {self.max_minutes!r}")


@dataclass
class SimTuneResult:
    """What a fine-tuning run measured."""

    out_dir: Path
    examples: int
    balance: dict[str, int]
    dropped_too_long: int
    steps: int
    train_loss: float
    eval_loss: float | None
    wall_s: float
    parameters: int
    history: list[dict[str, float]] = field(default_factory=list)
    train_s: float = 0.0  # in the training loop alone (wall_s also counts loading and saving)


# ----------------------------------------------------------------------------- model


def load_tokenizer(cfg: SimTuneConfig, examples: Sequence[SimExample]) -> Any:
    """The model's own tokenizer, or a byte-level BPE learned from the examples for ``tiny``."""
    from .tokenizer import build_tokenizer, check_round_trip

    if cfg.model == "tiny":
        texts = [e.prompt for e in examples[:2000]] + [e.completion for e in examples]
        tokenizer = build_tokenizer(texts, cfg.tiny_vocab_size, split_digits=cfg.tiny_split_digits)
    else:
        from transformers import AutoTokenizer

        from ..models import resolve_weights

        tokenizer = AutoTokenizer.from_pretrained(resolve_weights(cfg.model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    check_round_trip(tokenizer, [examples[0].prompt, examples[0].completion])
    return tokenizer


def load_model(cfg: SimTuneConfig, tokenizer: Any) -> Any:
    """A small Llama from scratch (seeded), or the pretrained model, with LoRA adapters if asked."""
    import torch

    model: Any  # a transformers causal LM, with LoRA adapters if asked
    if cfg.model == "tiny":
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=cfg.tiny_hidden_size, intermediate_size=cfg.tiny_hidden_size * cfg.tiny_mlp_ratio,
            num_hidden_layers=cfg.tiny_layers, num_attention_heads=cfg.tiny_heads, num_key_value_heads=cfg.tiny_heads,
            max_position_embeddings=max(2048, cfg.max_length), pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
        )  # fmt: skip
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            model = LlamaForCausalLM(config)
    else:
        from transformers import AutoModelForCausalLM

        from ..models import resolve_weights

        dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
        model = AutoModelForCausalLM.from_pretrained(resolve_weights(cfg.model), dtype=dtype)
    frozen_below = _freeze_below_top_layers(model, cfg.train_top_layers)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.lora:
        from ..lora import add_lora

        targets: str | list[str] = "all-linear"
        if frozen_below is not None:  # the linear layers of the trained layers, by their full names
            top = {f"model.layers.{i}." for i in range(frozen_below, model.config.num_hidden_layers)}
            targets = [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear) and name.startswith(tuple(top))]
        model = add_lora(model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets, task_type="CAUSAL_LM")
    return model


def _freeze_below_top_layers(model: Any, top: int) -> int | None:
    """Freeze every weight but the top ``top`` decoder layers and the final norm; the
    index of the lowest trained layer, or None when every layer trains (``top`` 0)."""
    if not top:
        return None
    layers = model.model.layers
    if top > len(layers):
        raise ConfigError(f"train_top_layers={top} but the model has {len(layers)} layers")
    first = len(layers) - top
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for module in [*layers[first:], model.model.norm]:
        for parameter in module.parameters():
            parameter.requires_grad_(True)
    return first


# ----------------------------------------------------------------------------- the run


def split_examples(examples: Sequence[T], eval_share: float, seed: int) -> tuple[list[T], list[T]]:
    """A seeded shuffle, then the last ``eval_share`` held out (at least one when the share
    is positive). Twins are split as groups, so a pair is never on both sides."""
    order = list(examples)
    random.Random(seed).shuffle(order)
    held = min(len(order) - 1, max(1, round(len(order) * eval_share))) if eval_share > 0 else 0
    return order[: len(order) - held], order[len(order) - held :]


def _SimTuneTrainer(penalty: float, **kwargs: Any) -> Any:
    """transformers' ``Trainer`` with the noisy-answer unlikelihood term added to the
    language-model loss (built here: transformers loads only when training starts)."""
    from transformers import Trainer

    class SimTuneTrainer(Trainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            unlikely = inputs.pop("unlikely", None)  # (N, 3): row, position, token
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
            if penalty > 0 and unlikely is not None and unlikely.numel():
                rows, positions, tokens = unlikely.unbind(-1)
                logits = outputs.logits[rows, positions - 1].float()  # (N, V): the logits that predict each position
                p = logits.log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1).exp()  # (N,)
                # summed over a document's tokens, averaged over noisy documents: the few
                # positions where the answer could come are not diluted by the many where it cannot
                loss = loss + penalty * -(1 - p).clamp_min(1e-6).log().sum() / rows.unique().numel()
            return (loss, outputs) if return_outputs else loss

    return SimTuneTrainer(**kwargs)


def train_simulator(cfg: SimTuneConfig, *, progress: bool = True, fidelity: dict[str, Any] | None = None) -> SimTuneResult:
    """Fine-tune on ``cfg.examples`` and save the simulator folder to ``cfg.out_dir``."""
    import torch
    from transformers import TrainerCallback, TrainingArguments

    from .card import write_card

    started = time.perf_counter()
    out = Path(cfg.out_dir)
    saved = [name for name in SAVED_FILES if (out / name).exists()]
    if saved and not cfg.overwrite:
        raise ConfigError(f"{out} holds a saved simulator already ({', '.join(saved)}); pass --overwrite to replace it, or another --out-dir")
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    examples = read_examples(cfg.examples) if cfg.examples else []
    if len(examples) < 2:
        raise ConfigError(f"simtune train needs at least 2 examples, got {len(examples)} from {cfg.examples!r}; write them with zerosearch simtune label")
    if cfg.answer_first:
        examples = [answer_first(e) for e in examples]
    groups = twin_groups(examples) if cfg.pair_twins else [[e] for e in examples]
    train_groups, eval_groups = split_examples(groups, cfg.eval_share, cfg.seed)
    train_set = [e for group in train_groups for e in group]
    tokenizer = load_tokenizer(cfg, train_set)

    def row(example: SimExample) -> Row:
        ids, labels = tokenize_example(tokenizer, example)
        penalised = cfg.noisy_answer_penalty > 0 and example.quality == "noisy"
        unlikely = unlikely_tokens(labels, answer_token_sequences(tokenizer, example.golden_answers)) if penalised else []
        return ids, labels, unlikely

    def tokenized(groups: list[list[SimExample]]) -> list[list[Row]]:
        rows = [[row(e) for e in group] for group in groups]
        return [group for group in rows if all(len(ids) <= cfg.max_length for ids, _, _ in group)]

    kept = tokenized(train_groups)
    dropped = len(train_set) - sum(map(len, kept))
    eval_rows = tokenized(eval_groups)
    if not kept:
        raise ConfigError(f"every example is longer than max_length={cfg.max_length} tokens; raise --max-length")
    model = load_model(cfg, tokenizer)

    out.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, float]] = []
    per_device = cfg.batch_size // 2 if cfg.pair_twins else cfg.batch_size  # groups per device and step
    per_step = per_device * cfg.grad_accum * max(1, int(os.environ.get("WORLD_SIZE", "1")))
    steps = cfg.max_steps or max(1, math.ceil(len(kept) * cfg.epochs / per_step))

    snapshots_due = list(enumerate(cfg.snapshot_minutes))
    if snapshots_due:
        shutil.rmtree(out / SNAPSHOTS, ignore_errors=True)  # a retrained folder's snapshots are of this run only
    trained_from: list[float] = []

    class _Log(TrainerCallback):
        """Keeps the loss curve in ``train_log.jsonl``, saves the snapshots, and stops at the time budget."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            trained_from.append(time.perf_counter())

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            if logs and state.is_world_process_zero:
                record = {
                    "step": state.global_step,
                    "elapsed_s": round(time.perf_counter() - started, 2),
                    **{k: float(v) for k, v in logs.items() if isinstance(v, (int, float))},
                }
                history.append(record)
                with (out / TRAIN_LOG).open("a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
            minutes = (time.perf_counter() - trained_from[0]) / 60
            while snapshots_due and minutes >= snapshots_due[0][1]:
                index, due = snapshots_due.pop(0)
                if state.is_world_process_zero:
                    info = {"due_minutes": due, "minutes": round(minutes, 2), "step": state.global_step}
                    save_snapshot(model, tokenizer, out / SNAPSHOTS / f"{index:02d}-min-{due:g}", info, save=save_simulator)
            if cfg.max_minutes is not None and time.perf_counter() - started > cfg.max_minutes * 60:
                control.should_training_stop = True
            return control

    (out / TRAIN_LOG).unlink(missing_ok=True)
    args = TrainingArguments(
        output_dir=str(out / "trainer"), per_device_train_batch_size=per_device, per_device_eval_batch_size=per_device,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate, max_steps=steps,
        warmup_steps=int(steps * cfg.warmup_share), lr_scheduler_type="cosine", weight_decay=cfg.weight_decay,
        logging_steps=max(1, steps // 50), save_strategy="no", report_to=[], seed=cfg.seed, data_seed=cfg.seed,
        disable_tqdm=not progress, remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported() and cfg.model != "tiny",
    )  # fmt: skip
    trainer = _SimTuneTrainer(
        cfg.noisy_answer_penalty, model=model, args=args, train_dataset=TokenizedGroups(kept), eval_dataset=TokenizedGroups(eval_rows) if eval_rows else None,
        data_collator=pad_batch(tokenizer.pad_token_id), callbacks=[_Log()],
    )  # fmt: skip
    if not progress:  # Trainer prints each log as a dict when its progress bar is off
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    output = trainer.train()
    train_s = time.perf_counter() - trained_from[0]
    eval_loss = trainer.evaluate()["eval_loss"] if eval_rows else None
    trained = trainer.model
    if cfg.lora:
        trained = trained.merge_and_unload()
    result = SimTuneResult(
        out_dir=out, examples=len(examples), balance=balance(examples), dropped_too_long=dropped, steps=trainer.state.global_step,
        train_loss=float(output.training_loss), eval_loss=None if eval_loss is None else float(eval_loss),
        wall_s=time.perf_counter() - started, parameters=sum(p.numel() for p in trained.parameters()), history=history,
        train_s=train_s,
    )  # fmt: skip
    if trainer.is_world_process_zero():
        save_simulator(trained, tokenizer, out)
        (out / TRAIN_CONFIG).write_text(json.dumps(asdict(cfg), indent=2) + "\n")
        write_card(out, cfg, result, examples, fidelity=fidelity)
    return result


def save_simulator(model: Any, tokenizer: Any, out: Path) -> None:
    """Weights, tokenizer (with its chat template) and a generation config whose end tokens
    stop a reply, with the released simulators' sampling (temperature 0.8). Training padded
    on the right; the backends pad a batch on the left themselves."""
    from transformers import GenerationConfig

    ends = end_token_ids(tokenizer)
    model.config.use_cache = True
    model.generation_config = GenerationConfig(
        eos_token_id=ends if len(ends) > 1 else ends[0], pad_token_id=tokenizer.pad_token_id, do_sample=True, temperature=0.8, top_p=1.0
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
