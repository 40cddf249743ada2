"""The learner learns: GRPO, PPO and REINFORCE raise the reward of a one-turn bandit.

A tiny Llama answers a fixed prompt with one token; the reward is 1 when that token is
one of a fixed set of "right answers" (about 6% of the vocabulary, so a random policy
earns about 0.06). Each algorithm must lift the mean reward well above that within a
few dozen updates, through the same ``update`` the training loop calls.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from zerosearch_agents.config import make_config
from zerosearch_agents.generation import HFGenerator, Sampling
from zerosearch_agents.policy import Critic, ValueHead
from zerosearch_agents.update import Learner, update
from zerosearch_env.testing import build_tiny_llama

PROMPTS = 8
GROUP = 8
STEPS = 30


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from transformers.utils import logging

    logging.disable_progress_bar()
    return build_tiny_llama(tmp_path_factory.mktemp("bandit") / "tiny")


def _bandit_batch(generator, tokenizer, right, seed):
    """PROMPTS x GROUP one-token episodes as learner tensors."""
    prompts = [tokenizer(f"Question {i}: which answer?")["input_ids"] for i in range(PROMPTS)]
    contexts = [p for p in prompts for _ in range(GROUP)]
    turns = generator.generate(contexts, [1] * len(contexts), Sampling(1.0), torch.Generator().manual_seed(seed))
    width = max(len(c) for c in contexts) + 1
    n = len(contexts)
    batch = {
        "input_ids": torch.full((n, width), tokenizer.pad_token_id),
        "attention_mask": torch.zeros((n, width), dtype=torch.long),
        "loss_mask": torch.zeros((n, width)),
        "sampling_logprobs": torch.zeros((n, width)),
        "token_rewards": torch.zeros((n, width)),
    }
    rewards = torch.tensor([float(t.token_ids[0] in right) for t in turns])
    for i, (context, turn) in enumerate(zip(contexts, turns)):
        last = len(context)
        batch["input_ids"][i, : last + 1] = torch.tensor(context + turn.token_ids)
        batch["attention_mask"][i, : last + 1] = 1
        batch["loss_mask"][i, last] = 1
        batch["sampling_logprobs"][i, last] = turn.logprobs[0]
        batch["token_rewards"][i, last] = rewards[i]
    batch["rewards"] = rewards
    batch["group_ids"] = torch.arange(PROMPTS).repeat_interleave(GROUP)
    return batch


@pytest.mark.parametrize(
    "algo, overrides",
    [
        ("grpo", {}),
        ("ppo", {"critic": "head"}),
        ("ppo", {"critic": "model"}),
        ("reinforce", {"reinforce_baseline": "group_mean"}),
    ],
)
def test_reward_rises_on_a_one_turn_bandit(tiny_path, algo, overrides):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    right = set(range(100, 100 + len(tokenizer) // 16))
    config = make_config(
        algo=algo,
        questions_per_step=PROMPTS,
        group_size=GROUP,
        micro_batch_size=32,
        lr=2e-2,
        kl_coef=0.0,
        temperature=1.0,
        **overrides,
    )
    value_head = ValueHead(model.config.hidden_size) if algo == "ppo" and config.critic == "head" else None
    critic = Critic(AutoModelForCausalLM.from_pretrained(tiny_path)) if algo == "ppo" and config.critic == "model" else None
    params = [p for m in (model, value_head, critic) if m is not None for p in m.parameters()]
    learner = Learner(config, model, torch.optim.Adam(params, lr=config.lr), value_head=value_head, critic=critic)
    generator = HFGenerator(model, tokenizer)

    rewards = []
    for step in range(STEPS):
        batch = _bandit_batch(generator, tokenizer, right, seed=step)
        rewards.append(batch["rewards"].mean().item())
        metrics = update(learner, batch)
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert first < 0.2, "a random policy should rarely hit the right answers"
    assert last > first + 0.3, f"{algo}: mean reward went from {first:.2f} to {last:.2f}"
    assert metrics["logprob_mismatch"] < 1e-4  # the sampler's log-probs are the learner's
    if algo == "ppo":
        assert "value_loss" in metrics


@pytest.mark.parametrize("critic_kind, seed", [("head", 0), ("head", 1), ("head", 2), ("model", 0), ("model", 1)])
def test_ppo_critic_reads_the_state_before_the_action(tiny_path, critic_kind, seed):
    """A one-token bandit, reward 1 for one token: PPO must drive its probability to ~1.

    With lambda = 1 the advantage is R - V. If V were read at the action token, the
    critic would learn Q(s, a) = R and the advantage would vanish (the policy stalls
    anywhere, 0.001 to 0.38 over these seeds); with V(s) read one token earlier it is a
    baseline and every seed converges (0.98)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    prompt = tokenizer("Question: which answer?")["input_ids"]
    with torch.no_grad():
        target = int(model(torch.tensor([prompt])).logits[0, -1].argsort(descending=True)[20])  # sampled now and then
    config = make_config(algo="ppo", critic=critic_kind, questions_per_step=64, group_size=1, micro_batch_size=64, lr=3e-3, kl_coef=0.0)
    value_head = ValueHead(model.config.hidden_size) if critic_kind == "head" else None
    critic = Critic(AutoModelForCausalLM.from_pretrained(tiny_path)) if critic_kind == "model" else None
    params = [p for m in (model, value_head, critic) if m is not None for p in m.parameters()]
    learner = Learner(config, model, torch.optim.Adam(params, lr=config.lr), value_head=value_head, critic=critic)
    generator = HFGenerator(model, tokenizer)
    n, width = 64, len(prompt) + 1
    for step in range(80):
        turns = generator.generate([prompt] * n, [1] * n, Sampling(1.0), torch.Generator().manual_seed(1000 * seed + step))
        rewards = torch.tensor([float(turn.token_ids[0] == target) for turn in turns])
        batch = {
            "input_ids": torch.tensor([prompt + turn.token_ids for turn in turns]),
            "attention_mask": torch.ones(n, width, dtype=torch.long),
            "loss_mask": torch.zeros(n, width),
            "sampling_logprobs": torch.zeros(n, width),
            "token_rewards": torch.zeros(n, width),
            "rewards": rewards,
            "group_ids": torch.arange(n),
        }
        batch["loss_mask"][:, -1] = 1
        batch["sampling_logprobs"][:, -1] = torch.tensor([turn.logprobs[0] for turn in turns])
        batch["token_rewards"][:, -1] = rewards
        update(learner, batch)
    with torch.no_grad():
        final = torch.softmax(model(torch.tensor([prompt])).logits[0, -1], -1)[target].item()
    assert final > 0.9, f"PPO ({critic_kind} critic, seed {seed}) left the rewarded token at p = {final:.3f}"
