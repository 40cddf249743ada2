"""GRPO with TRL on ZeroSearch-v0, on a CPU: a tiny policy, the BM25-free corpus simulator
of the synthetic world, and the noise curriculum from 0 to 0.5.

The tiny policy starts from random weights, so it first clones the scripted agent's
episodes for a thousand steps (behaviour cloning, as ``zerosearch train --preset
cpu-demo`` does); TRL's ``GRPOTrainer`` then trains it with ``rollout_func`` playing
ZeroSearch episodes and ``zerosearch_reward`` scoring them (F1).

    pip install torch==2.13.0 -e ".[hf,trl]"
    python examples/trl/grpo_cpu.py          # 40 steps, about a minute on 2 cores

It shows the plumbing, not a learning result: 4 questions a step make a noisy reward,
and the noise rises. The CPU run that learns is ``zerosearch train --preset cpu-demo``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from zerosearch_env.integrations.trl import make_rollout_func, prompt_dataset, zerosearch_reward

SETTINGS = {
    "sim": "corpus",  # the synthetic world's own documents: no model, no download
    "dataset": "synthetic",
    "prompt_template": "Question: {question}\n",  # a tiny policy needs no instructions
    "topk": 1,
    "max_turns": 2,
    "curriculum": {"start": 0.0, "end": 0.5, "kind": "linear"},  # no total_steps: it spans the trainer's max_steps
}


def tiny_policy(out: Path, questions: int, bc_steps: int) -> Path:
    """A tiny Llama of our own, warm-started on the scripted agent's episodes."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zerosearch_agents.warm_start import behaviour_cloning, scripted_demonstrations, tokenize_demonstration
    from zerosearch_env.testing import build_tiny_llama

    path = build_tiny_llama(out / "tiny-policy", hidden_size=64)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    env = {key: value for key, value in SETTINGS.items() if key != "curriculum"}
    demos = scripted_demonstrations({**env, "difficulty": 0.0}, keep_think=False, questions=questions)
    episodes = [tokenize_demonstration(d, tokenizer, chat=False, max_total_tokens=256) for d in demos]
    behaviour_cloning(model, episodes, steps=bc_steps, lr=3e-3, batch_size=min(8, questions), pad_id=tokenizer.pad_token_id)
    model.save_pretrained(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="GRPO steps (default 40)")
    parser.add_argument("--questions", type=int, default=16, help="training questions of the synthetic world (default 16)")
    parser.add_argument("--bc-steps", type=int, default=1000, help="behaviour-cloning steps before RL (default 1000)")
    parser.add_argument("--lr", type=float, default=2e-4, help="GRPO learning rate (default 2e-4)")
    parser.add_argument("--out", type=Path, default=Path("runs/trl-cpu"), help="output folder (default runs/trl-cpu)")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental in trl 1.16

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from zerosearch_env.worlds.synthetic import make_world

    started = time.perf_counter()
    rows = make_world().questions("train")[: args.questions]
    policy = tiny_policy(args.out, args.questions, args.bc_steps)
    config = GRPOConfig(
        output_dir=str(args.out / "grpo"),
        max_steps=args.steps,
        per_device_train_batch_size=16,  # 4 questions x 4 generations per step
        num_generations=4,
        max_completion_length=256,  # policy turns and documents together
        learning_rate=args.lr,
        temperature=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,  # float32 on a CPU
        seed=0,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(policy),
        processing_class=AutoTokenizer.from_pretrained(policy),
        reward_funcs=[zerosearch_reward],
        args=config,
        train_dataset=prompt_dataset(SETTINGS, rows),
        rollout_func=make_rollout_func(SETTINGS, rows, max_tokens_per_turn=24),
    )
    trainer.train()
    print("\n step  reward (F1)  searches  noise")
    for entry in trainer.state.log_history:
        if "reward" in entry:
            print(f"{int(entry['step']):5d}  {entry['reward']:11.3f}  {entry['zerosearch/searches']:8.2f}  {entry['zerosearch/noise_prob']:5.2f}")
    print(f"{args.steps} GRPO steps in {time.perf_counter() - started:.0f} s (behaviour cloning included)")


if __name__ == "__main__":
    main()
