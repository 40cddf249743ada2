"""The shipped agents, make_agent, and the view an agent gets of an episode."""

from __future__ import annotations

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import EnvConfig, EpisodeView, EvalConfig, make_agent, run_eval


def test_episode_view_rebuilds_the_transcript():
    view = EpisodeView(3, "Q: x?\n", ("<search> x </search>",), ("\n\n<information>Doc 1: y</information>\n\n",))
    assert view.transcript == "Q: x?\n<search> x </search>\n\n<information>Doc 1: y</information>\n\n"
    assert view.observation.startswith("\n\n<information>") and EpisodeView(0, "p").observation == "p"


def test_make_agent_names_the_choices_and_imports_third_party_agents(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown agent 'gpt'.*scripted.*module:ClassName"):
        make_agent("gpt")
    (tmp_path / "my_agents.py").write_text(
        "class AlwaysParis:\n    name = 'always-paris'\n    def act(self, episodes):\n        return ['<answer> Paris </answer>' for _ in episodes]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = make_agent("my_agents:AlwaysParis")
    result = run_eval(agent, EvalConfig(limit=5), progress=False)
    assert all(len(r["turns"]) == 1 and r["answer"] == "Paris" for r in result.records)
    with pytest.raises(ConfigError, match="cannot import 'Nope'"):
        make_agent("my_agents:Nope")


def test_transformers_agent_plays_a_tiny_checkpoint(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from zerosearch_agents.policy import build_tiny_policy

    path = build_tiny_policy(tmp_path / "policy")
    agent = make_agent(f"hf:{path}", max_turn_tokens=12, batch_size=4)
    config = EvalConfig(EnvConfig(max_turns=2), limit=6, batch_size=6)
    a = run_eval(agent, config, progress=False)
    b = run_eval(make_agent(f"hf:{path}", max_turn_tokens=12, batch_size=4), config, progress=False)
    assert len(a.records) == 6 and a.records == b.records  # greedy: deterministic
    assert all(1 <= len(r["turns"]) <= 3 for r in a.records)
    with pytest.raises(ConfigError, match="cannot load the model"):
        make_agent(f"hf:{tmp_path / 'missing'}")

    from zerosearch_env.evaluation.config import agent_settings

    seeded = [agent_settings(make_agent(f"hf:{path}", seed=seed, temperature=1.0)) for seed in (1, 2)]
    assert seeded[0]["seed"] == 1 and seeded[0] != seeded[1]  # a resumed evaluation notices another seed


def test_transformers_agent_prompts_a_trained_policy_as_its_run_did(tmp_path):
    """A run records whether its prompts went through the chat template (the Qwen base
    presets train with it off) and its turn budgets; the agent follows the record unless
    told otherwise."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from zerosearch_agents.policy import build_tiny_policy, load_policy, write_policy_card

    path = build_tiny_policy(tmp_path / "policy")
    _, tokenizer = load_policy(path)
    tokenizer.chat_template = "{% for m in messages %}<user> {{ m['content'] }} <eos>{% endfor %}"
    tokenizer.save_pretrained(path)
    assert make_agent(f"hf:{path}").chat  # no record: the template is used when there is one
    assert make_agent(f"hf:{path}").max_turn_tokens == 500
    write_policy_card(path, chat=False, prompt_template="Question: {question}\n", max_turn_tokens=24, max_total_tokens=512)
    agent = make_agent(f"hf:{path}")
    assert not agent.chat and (agent.max_turn_tokens, agent.max_total_tokens) == (24, 512)  # the run's budgets too
    assert make_agent(f"hf:{path}", chat_template="on", max_turn_tokens=40).chat
