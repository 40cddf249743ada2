"""Simulation tuning: turn real-search trajectories into a simulator of your own.

The pipeline of ``zerosearch simtune``, one module per step:

- ``collect``: an evaluation agent plays a real search engine (``bm25``,
  ``retriever:<url>``) over a question set; ``zerosearch eval``'s trajectories keep the
  documents of every search;
- ``labels``: each search becomes an example, labelled useful or noisy (``outcome``:
  the paper's rule, by the episode's answer; ``presence``: by a golden answer in the
  documents; ``judge``: by an LLM), with the balance reported and noisy examples mixed in
  where the labels give too few;
- ``examples``: the example itself, the released chat and the documents as completion;
- ``tokens``: each example as the trainer's token ids, labels and unlikely answer tokens,
  paired with its noisy twin and padded into batches;
- ``train``: fine-tuning a causal LM on the completion only (full or LoRA), saved as a
  folder that ``sim=<folder>`` loads with every backend, with a model card.
"""

from __future__ import annotations

from .examples import SimExample, balance, read_examples, write_examples

__all__ = ["SimExample", "balance", "read_examples", "write_examples"]
