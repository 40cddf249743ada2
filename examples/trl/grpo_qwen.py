"""GRPO with TRL on ZeroSearch-v0 at the paper's scale: Qwen2.5-3B (base), the released
7B simulation LLM served over HTTP, the noise curriculum from 0 to 0.5.

Three kinds of processes, each on its own GPUs (six of one node shown):

    # 1. the simulator, an OpenAI-compatible server (vllm serve or SGLang)
    CUDA_VISIBLE_DEVICES=0 vllm serve sunhaonlp/Simulation_LLM_google_7B_V2 --port 6001
    # 2. the policy's generation server, kept in step with the trainer's weights by TRL
    CUDA_VISIBLE_DEVICES=1 trl vllm-serve --model Qwen/Qwen2.5-3B --port 8000
    # 3. the trainer (the data: zerosearch world data/zerosearch --parquet, or the
    #    released sunhaonlp/ZeroSearch_dataset train.parquet)
    CUDA_VISIBLE_DEVICES=2,3,4,5 accelerate launch --num_processes 4 examples/trl/grpo_qwen.py \\
        --data ZeroSearch_dataset/train.parquet --sim-url http://127.0.0.1:6001/v1

Every training process posts its episodes' turns to the policy server as token ids
(``generate="vllm_server"``); the searches go to the simulator. The settings are those of
``zerosearch_agents/configs/grpo_qwen3b.yaml`` in TRL's names. Needs
``pip install "zerosearch-env[hf,trl]" "trl[vllm]"`` and GPUs; nothing here runs on a CPU.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Search-R1 parquet of training questions (train.parquet)")
    parser.add_argument("--policy", default="Qwen/Qwen2.5-3B", help="policy model (default Qwen/Qwen2.5-3B)")
    parser.add_argument("--sim-url", default="http://127.0.0.1:6001/v1", help="the simulator server's /v1 URL")
    parser.add_argument("--sim-model", default="sunhaonlp/Simulation_LLM_google_7B_V2", help="the served simulator's name")
    parser.add_argument("--policy-server", default="http://127.0.0.1:8000", help="trl vllm-serve's URL")
    parser.add_argument("--steps", type=int, default=203, help="GRPO steps (default 203, the reference's)")
    parser.add_argument("--out", default="runs/trl-grpo-qwen2.5-3b", help="output folder")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

    from trl import GRPOConfig, GRPOTrainer

    from zerosearch_env.data import load_questions
    from zerosearch_env.integrations.trl import make_rollout_func, prompt_dataset, zerosearch_reward

    settings = {
        "sim": "openai",
        "sim_kwargs": {"base_urls": [args.sim_url], "model": args.sim_model, "temperature": 0.8, "max_new_tokens": 600, "concurrency": 64},
        "topk": 5,
        "max_turns": 5,
        "curriculum": {"start": 0.0, "end": 0.5, "base": 4},  # spans the trainer's max_steps
    }
    rows = load_questions(args.data)
    config = GRPOConfig(
        output_dir=args.out,
        max_steps=args.steps,
        learning_rate=1e-6,
        warmup_ratio=0.95,
        per_device_train_batch_size=4,  # x 4 processes = 16 episodes a micro-batch
        gradient_accumulation_steps=20,  # 320 episodes a step, generated together: 64 questions x 5
        num_generations=5,
        max_completion_length=3584,  # policy turns and documents together
        temperature=1.0,
        top_p=0.95,
        beta=0.001,
        bf16=True,
        gradient_checkpointing=True,
        use_vllm=True,
        vllm_mode="server",
        vllm_server_base_url=args.policy_server,
        logging_steps=1,
        save_steps=50,
        report_to=["tensorboard"],
    )
    trainer = GRPOTrainer(
        model=args.policy,
        reward_funcs=[zerosearch_reward],
        args=config,
        train_dataset=prompt_dataset(settings, rows),
        rollout_func=make_rollout_func(settings, rows, generate="vllm_server", max_tokens_per_turn=500, max_observation_tokens=2048),
    )
    trainer.train()
    trainer.save_model(args.out)


if __name__ == "__main__":
    main()
