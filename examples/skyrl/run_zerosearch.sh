#!/usr/bin/env bash
# GRPO on Qwen2.5-3B with SkyRL, the ZeroSearch-v0 environment and a served simulator
# (the settings of zerosearch_agents/configs/grpo_qwen3b.yaml, in SkyRL's names).
# First: rows with env_class columns, and a simulator server.
#   zerosearch world data/zerosearch --parquet     # or the ZeroSearch dataset with an env_class column
#   vllm serve sunhaonlp/Simulation_LLM_google_7B_V2 --port 6001 &   # or SGLang; $ZEROSEARCH_SIM_URL if elsewhere
set -euo pipefail
DATA=${DATA:-data/zerosearch}
export ZEROSEARCH_SIM_URL=${ZEROSEARCH_SIM_URL:-http://127.0.0.1:6001/v1}

python "$(dirname "$0")/main_zerosearch.py" \
  data.train_data="['$DATA/train.parquet']" \
  data.val_data="['$DATA/test.parquet']" \
  environment.env_class=zerosearch \
  trainer.policy.model.path=Qwen/Qwen2.5-3B \
  trainer.algorithm.advantage_estimator=grpo \
  trainer.algorithm.use_kl_loss=true \
  trainer.algorithm.kl_loss_coef=0.001 \
  trainer.algorithm.kl_estimator_type=k3 \
  trainer.policy.optimizer_config.lr=1.0e-6 \
  trainer.train_batch_size=64 \
  trainer.policy_mini_batch_size=64 \
  trainer.max_training_steps=203 \
  trainer.max_prompt_length=1024 \
  trainer.placement.colocate_all=true \
  trainer.placement.policy_num_gpus_per_node=${GPUS:-8} \
  generator.n_samples_per_prompt=5 \
  generator.max_turns=6 \
  generator.use_conversation_multi_turn=false \
  generator.sampling_params.max_generate_length=500 \
  generator.sampling_params.temperature=1.0 \
  generator.sampling_params.top_p=0.95 \
  generator.sampling_params.stop="['</search>', '</answer>']" \
  generator.inference_engine.num_engines=${GPUS:-8} \
  generator.inference_engine.tensor_parallel_size=1 \
  generator.inference_engine.gpu_memory_utilization=0.5 \
  trainer.logger=tensorboard \
  trainer.project_name=zerosearch \
  "$@"
