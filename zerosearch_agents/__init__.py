"""Token-level learners (PPO, GRPO, REINFORCE) that train a policy on ZeroSearch environments."""
