#!/usr/bin/env bash
# GRPO on Qwen2.5-3B with verl 0.9 and the ZeroSearch-v0 agent loop: the settings of
# zerosearch_agents/configs/grpo_qwen3b.yaml, in verl's names. The simulator is served
# apart (vllm serve or SGLang) and reached over HTTP; see docs/scaling-out.md.
#
#   one node:   ZEROSEARCH_SIM_URL=http://127.0.0.1:6001/v1 bash examples/verl/train_grpo.sh
#   two nodes:  ray start --head on node 1, ray start --address=<node 1>:6379 on node 2, then on node 1:
#               NNODES=2 bash examples/verl/train_grpo.sh   (with both simulator URLs in agent_loop.yaml)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${DATA:-ZeroSearch_dataset}        # train.parquet, test.parquet (test rows: agent_name zerosearch_eval)
POLICY=${POLICY:-Qwen/Qwen2.5-3B}

python3 -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  algorithm.use_kl_in_reward=false \
  data.train_files="$DATA/train.parquet" \
  data.val_files="$DATA/test.parquet" \
  data.train_batch_size=64 \
  data.max_prompt_length=512 \
  data.max_response_length=3584 \
  actor_rollout_ref.model.path="$POLICY" \
  actor_rollout_ref.model.enable_gradient_checkpointing=true \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0.95 \
  actor_rollout_ref.actor.ppo_mini_batch_size=32 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.actor.use_kl_loss=true \
  actor_rollout_ref.actor.kl_loss_coef=0.001 \
  actor_rollout_ref.actor.kl_loss_type=low_var_kl \
  actor_rollout_ref.actor.entropy_coeff=0.001 \
  actor_rollout_ref.actor.clip_ratio=0.2 \
  actor_rollout_ref.actor.loss_agg_mode=token-mean \
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.rollout.name="${ROLLOUT:-vllm}" \
  actor_rollout_ref.rollout.n=5 \
  actor_rollout_ref.rollout.temperature=1.0 \
  actor_rollout_ref.rollout.top_p=0.95 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
  actor_rollout_ref.rollout.gpu_memory_utilization=0.5 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.rollout.agent.agent_loop_config_path="$HERE/agent_loop.yaml" \
  actor_rollout_ref.rollout.agent.default_agent_loop=zerosearch \
  trainer.nnodes="${NNODES:-1}" \
  trainer.n_gpus_per_node="${GPUS_PER_NODE:-8}" \
  trainer.total_training_steps=203 \
  trainer.test_freq=50 \
  trainer.save_freq=50 \
  trainer.logger="['console','tensorboard']" \
  trainer.project_name=zerosearch \
  trainer.experiment_name=grpo-qwen2.5-3b \
  "$@"
