"""The optimizer: the policy and the critic learn at their own rates, warm up on their own
schedules, and have their gradients clipped separately."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zerosearch_agents.build import make_optimizer
from zerosearch_agents.config import make_config
from zerosearch_agents.update import Learner


def test_the_critic_is_its_own_parameter_group_with_its_own_warm_up():
    # 10 steps x 2 optimizer steps (mini-batches of 3 of 4 trajectories: 3, then 1) = 20
    cfg = make_config(algo="ppo", steps=10, questions_per_step=2, group_size=2, mini_batch_size=3, lr=1e-3,
                      critic_lr=1e-2, lr_warmup_ratio=0.5, critic_lr_warmup_ratio=0.1)  # fmt: skip
    assert cfg.optimizer_steps_per_step == 2
    policy, critic = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
    optimizer, scheduler = make_optimizer(cfg, policy, critic)
    actor_group, critic_group = optimizer.param_groups
    assert [id(p) for p in actor_group["params"]] == [id(p) for p in policy.parameters()]
    assert [id(p) for p in critic_group["params"]] == [id(p) for p in critic.parameters()]
    rates = []
    for _ in range(12):
        rates.append((actor_group["lr"], critic_group["lr"]))
        optimizer.step()
        scheduler.step()
    assert rates[0] == (0.0, 0.0)  # the first warm-up step, as in the reference schedule
    assert rates[1] == pytest.approx((1e-4, 5e-3)) and rates[2] == pytest.approx((2e-4, 1e-2))  # 10 and 2 warm-up steps
    assert rates[11] == pytest.approx((1e-3, 1e-2))


def test_without_a_critic_there_is_one_group_at_a_constant_rate():
    optimizer, scheduler = make_optimizer(make_config(lr=3e-4), torch.nn.Linear(2, 2))
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["lr"] == 3e-4
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 3e-4


def test_policy_and_critic_gradients_are_clipped_separately():
    policy, value_head = torch.nn.Linear(4, 1, bias=False), torch.nn.Linear(4, 1, bias=False)
    learner = Learner(make_config(algo="ppo", max_grad_norm=1.0), policy, torch.optim.SGD([*policy.parameters()], lr=0.1), value_head=value_head)
    policy.weight.grad = torch.full_like(policy.weight, 0.79)  # norm 1.58
    value_head.weight.grad = torch.full_like(value_head.weight, 5.0)  # norm 10
    norms = learner.clip_gradients()
    assert norms == pytest.approx({"grad_norm": 1.58, "critic_grad_norm": 10.0})
    assert float(policy.weight.grad.norm()) == pytest.approx(1.0)  # one joint norm would leave 0.156
    assert float(value_head.weight.grad.norm()) == pytest.approx(1.0)


def test_a_kl_penalty_in_the_reward_replaces_the_kl_loss():
    from zerosearch_agents.update import penalize_kl_in_reward

    cfg = make_config(algo="ppo", kl_coef=0.1, kl_in_reward=True, kl_estimator="k1")
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]])
    batch = {
        "loss_mask": mask,
        "old_logprobs": torch.tensor([[0.0, -1.0, -2.0, 0.0, -0.5]]),
        "ref_logprobs": torch.tensor([[-9.0, -2.0, -2.0, -9.0, -1.5]]),  # k1 = 1, 0, 1 on the policy tokens
        "token_rewards": torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]]),
        "rewards": torch.tensor([1.0]),
    }
    penalize_kl_in_reward(cfg, batch)
    assert torch.allclose(batch["token_rewards"], torch.tensor([[0.0, -0.1, 0.0, 0.0, 0.9]]))
    assert torch.allclose(batch["rewards"], torch.tensor([0.8]))  # GRPO/REINFORCE read the episode's sum


@pytest.mark.parametrize("loss_agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_micro_batches_of_any_size_make_the_same_update(tmp_path, loss_agg):
    """Gradient accumulation over micro-batches (sorted by length, each cut to its own
    width) must give the update of one big batch."""
    pytest.importorskip("transformers")
    from transformers import AutoModelForCausalLM

    from zerosearch_agents.update import update
    from zerosearch_env.testing import build_tiny_llama

    path = build_tiny_llama(tmp_path / "tiny", hidden_size=16, layers=1)
    generator = torch.Generator().manual_seed(0)
    lengths = [5, 12, 7, 9, 12, 3, 8, 10]
    n, width = len(lengths), max(lengths)
    batch = {
        "input_ids": torch.randint(5, 200, (n, width), generator=generator),
        "attention_mask": torch.zeros(n, width, dtype=torch.long),
        "loss_mask": torch.zeros(n, width),
        "token_rewards": torch.zeros(n, width),
        "rewards": torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0, 0.0, 1.0, 0.2]),
        "group_ids": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]),
    }
    for i, length in enumerate(lengths):
        batch["attention_mask"][i, :length] = 1
        batch["loss_mask"][i, 2:length] = 1.0
        batch["token_rewards"][i, length - 1] = batch["rewards"][i]
    weights = []
    for micro in (1, 3, n):
        model = AutoModelForCausalLM.from_pretrained(path)
        cfg = make_config(questions_per_step=4, group_size=2, micro_batch_size=micro, loss_agg=loss_agg, kl_coef=0.0, max_grad_norm=0.0)
        update(Learner(cfg, model, torch.optim.SGD(model.parameters(), lr=1.0)), {k: v.clone() for k, v in batch.items()})
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(weights[0], weights[2], atol=1e-6) and torch.allclose(weights[1], weights[2], atol=1e-6)
