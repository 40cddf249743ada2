"""The verl agent loop, driven by verl's own worker (``AgentLoopWorker``), dataset and
registry, with a CPU stand-in for its policy servers. Runs where verl is installed: CI
builds a separate environment for it (verl pins its own transformers)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

pytest.importorskip("verl.experimental.agent_loop.agent_loop", reason="verl is not installed (pip install 'zerosearch-env[verl]')")

from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker, _agent_loop_registry
from verl.protocol import DataProto
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

from zerosearch_env.errors import ConfigError
from zerosearch_env.integrations import episodes
from zerosearch_env.protocol import INVALID_ACTION_FEEDBACK
from zerosearch_env.testing import JSONServer, TinyPolicyServer, build_tiny_llama
from zerosearch_env.worlds.synthetic import make_world

from .conftest import searching_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "verl" / "agent_loop.yaml"
OBSERVATION = re.compile(r"\n\n<information>.*</information>\n\n", re.DOTALL)


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("policy") / "tiny")


def verl_config(policy_dir: Path, rows: Path, agent_loops: Path = EXAMPLE, response_length: int = 256, total_steps: int = 10):
    """verl's full trainer config (its own defaults), pointed at our agent loops."""
    import verl.trainer.config

    with initialize_config_dir(config_dir=os.path.dirname(verl.trainer.config.__file__), version_base=None):
        return compose(
            "ppo_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={policy_dir}",
                "actor_rollout_ref.rollout.name=vllm",
                f"actor_rollout_ref.rollout.agent.agent_loop_config_path={agent_loops}",
                "actor_rollout_ref.rollout.agent.default_agent_loop=zerosearch",
                f"data.train_files={rows}",
                f"data.val_files={rows}",
                "data.max_prompt_length=1024",
                f"data.max_response_length={response_length}",
                f"trainer.total_training_steps={total_steps}",
            ],
        )


def rollout(config, policy, rows: Path, count: int, repeat: int = 1) -> DataProto:
    """What verl's trainer does for one step: dataset rows -> batch -> agent loop worker."""
    worker = AgentLoopWorker(config, llm_client=policy)
    dataset = RLHFDataset(data_files=str(rows), tokenizer=worker.tokenizer, config=config.data, processor=None)
    batch = DataProto.from_single_dict(collate_fn([dataset[i] for i in range(count)])).repeat(repeat, interleave=True)
    batch.meta_info["global_steps"] = 1
    return asyncio.run(worker.generate_sequences(batch))


def trajectories(out: DataProto):
    """Per trajectory: unpadded prompt ids, response ids, mask, rollout log-probs."""
    width = out.batch["prompts"].shape[1]
    for i in range(len(out)):
        attention = out.batch["attention_mask"][i]
        prompt = out.batch["prompts"][i][attention[:width].bool()].tolist()
        length = int(attention[width:].sum())
        response = out.batch["responses"][i][:length].tolist()
        mask = out.batch["response_mask"][i][:length].tolist()
        logprobs = out.batch["rollout_log_probs"][i][:length].tolist()
        yield prompt, response, mask, logprobs


def runs(mask: list[int]):
    """(start, end, value) of each run of equal mask values."""
    start = 0
    for k in range(1, len(mask) + 1):
        if k == len(mask) or mask[k] != mask[start]:
            yield start, k, mask[start]
            start = k


def check_tokens(out: DataProto, policy: TinyPolicyServer, tokenizer) -> None:
    """Mask 1 exactly on the ids the server sampled (with its log-probs), mask 0 on observations."""
    served = {tuple(prompt): turn for prompt, turn in policy.history}
    for prompt, response, mask, logprobs in trajectories(out):
        for start, end, value in runs(mask):
            if value == 1:
                turn = served[tuple(prompt + response[:start])]
                assert response[start:end] == turn.token_ids[: end - start]
                assert logprobs[start:end] == pytest.approx(turn.log_probs[: end - start], abs=1e-5)
            else:
                text = tokenizer.decode(response[start:end])
                if end == len(response):  # the last observation may be cut at the response budget
                    assert any(whole.startswith(text) for whole in (INVALID_ACTION_FEEDBACK, "\n\n<information>Doc 1:")), text
                else:
                    assert OBSERVATION.fullmatch(text) or text == INVALID_ACTION_FEEDBACK, text
                assert logprobs[start:end] == [0.0] * (end - start)


def test_the_example_config_puts_our_loop_in_verls_registry(policy_dir, world_parquet, simulator_server):
    AgentLoopWorker(verl_config(policy_dir, world_parquet), llm_client=None)
    for name in ("zerosearch", "zerosearch_eval"):
        assert _agent_loop_registry[name]["_target_"] == "zerosearch_env.integrations.verl.ZeroSearchAgentLoop"
    assert _agent_loop_registry["zerosearch_eval"]["difficulty"] == 0.0


def test_episodes_keep_the_sampled_ids_mask_the_documents_and_score_f1(policy_dir, world_parquet, simulator_server):
    config = verl_config(policy_dir, world_parquet, total_steps=10)
    policy = TinyPolicyServer(policy_dir, script=searching_policy, weights_version=10)  # the curriculum's end: p = 0.5
    out = rollout(config, policy, world_parquet, count=8, repeat=2)

    assert len(out) == 16 and policy.calls == 32  # a search turn and an answer turn each
    check_tokens(out, policy, policy.tokenizer)
    rewards = out.batch["rm_scores"].sum(-1).tolist()
    info = out.non_tensor_batch
    assert set(info["training_step"]) == {10.0} and set(info["noise_prob"]) == {0.5}
    assert set(info["searches"]) == {1.0} and list(info["tool_call_counts"]) == [1] * 16
    for reward, noisy, f1 in zip(rewards, info["noisy_searches"], info["f1"]):
        assert reward == f1 == (0.0 if noisy else 1.0)  # useful documents state the answer, noisy ones do not
    assert 0 < sum(info["noisy_searches"]) < 16
    assert set(info["sim_prompt_tokens"]) == {40.0} and set(info["sim_faults"]) == {0.0}  # the served simulator's usage
    assert "f1" in out.meta_info["reward_extra_keys"] and "noisy_share" in out.meta_info["reward_extra_keys"]
    assert list(out.non_tensor_batch["__num_turns__"]) == [4] * 16  # prompt, search, documents, answer


def test_the_curriculum_starts_at_the_servers_first_weights(policy_dir, world_parquet, simulator_server):
    policy = TinyPolicyServer(policy_dir, script=searching_policy, weights_version=0)
    out = rollout(verl_config(policy_dir, world_parquet), policy, world_parquet, count=8)
    assert set(out.non_tensor_batch["noise_prob"]) == {0.0} and sum(out.non_tensor_batch["noisy_searches"]) == 0
    assert out.batch["rm_scores"].sum().item() == 8.0


def test_a_free_running_policy_gets_feedback_and_its_own_log_probs(policy_dir, world_parquet, simulator_server, tmp_path):
    loops = write_loops(
        tmp_path / "loops.yaml", f"  sim: openai\n  sim_kwargs: {{base_urls: ['{simulator_server.url}']}}\n  difficulty: 0.0\n  max_tokens_per_turn: 12\n"
    )
    policy = TinyPolicyServer(policy_dir, weights_version=0, seed=3)  # a random tiny model: no tags, invalid turns
    out = rollout(verl_config(policy_dir, world_parquet, agent_loops=loops, response_length=160), policy, world_parquet, count=3)
    check_tokens(out, policy, policy.tokenizer)
    for _, response, mask, _ in trajectories(out):
        turns = [end - start for start, end, value in runs(mask) if value == 1]
        assert len(response) <= 160 and len(turns) >= 2 and max(turns) <= 12  # turns of 12, feedback in between
    assert out.batch["rm_scores"].sum().item() == 0.0 and sum(out.non_tensor_batch["invalid_turns"]) >= 6


def test_a_full_response_budget_ends_the_episode_unanswered(policy_dir, world_parquet, simulator_server):
    policy = TinyPolicyServer(policy_dir, script=searching_policy, weights_version=0)
    question = make_world().questions("test")[0].question
    budget = len(policy.tokenizer.encode(searching_policy(f"Question: {question}\n"), add_special_tokens=False)) + 6
    out = rollout(verl_config(policy_dir, world_parquet, response_length=budget), policy, world_parquet, count=1)
    check_tokens(out, policy, policy.tokenizer)
    [(_, response, mask, _)] = trajectories(out)
    assert len(response) == budget and mask[-6:] == [0] * 6  # the search fitted, its documents were cut
    assert out.batch["rm_scores"].sum().item() == 0.0 and list(out.non_tensor_batch["answered"]) == [0.0]
    assert list(out.non_tensor_batch["searches"]) == [1.0] and policy.calls == 1


def write_loops(path: Path, settings: str) -> Path:
    path.write_text(f"- name: zerosearch\n  _target_: zerosearch_env.integrations.verl.ZeroSearchAgentLoop\n{settings}")
    return path


def test_an_in_process_simulator_is_batched_across_trajectories(policy_dir, world_parquet, tmp_path):
    sim_dir = build_tiny_llama(tmp_path / "sim", seed=1)
    loops = write_loops(
        tmp_path / "loops.yaml",
        f"  sim: {sim_dir}\n  sim_backend: hf\n  sim_kwargs: {{max_new_tokens: 8}}\n  difficulty: 0.0\n  max_wait_ms: 200\n",
    )
    policy = TinyPolicyServer(policy_dir, script=searching_policy, weights_version=0)
    out = rollout(verl_config(policy_dir, world_parquet, agent_loops=loops), policy, world_parquet, count=8)
    front = next(env.simulator for key, env in episodes._SHARED.items() if str(sim_dir) in key)
    assert front.stats.requests == sum(out.non_tensor_batch["searches"]) == 8
    assert front.stats.batches < 8  # concurrent searches shared generations
    check_tokens(out, policy, policy.tokenizer)


def test_a_failed_search_is_counted_and_the_episode_goes_on(policy_dir, world_parquet, tmp_path, start_server):
    server = start_server(JSONServer, lambda path, body: (500, {"error": "overloaded"}))
    loops = write_loops(tmp_path / "loops.yaml", f"  sim: openai\n  sim_kwargs: {{base_urls: ['{server.url}'], retries: 0}}\n  difficulty: 0.0\n")
    policy = TinyPolicyServer(policy_dir, script=searching_policy, weights_version=0)
    out = rollout(verl_config(policy_dir, world_parquet, agent_loops=loops), policy, world_parquet, count=2)
    assert set(out.non_tensor_batch["sim_faults"]) == {1.0} and set(out.non_tensor_batch["answered"]) == {1.0}
    assert set(out.non_tensor_batch["f1"]) == {0.0}  # no documents, so "unknown"


def test_a_curriculum_without_a_step_is_refused(policy_dir, world_parquet, simulator_server):
    policy = TinyPolicyServer(policy_dir, script=searching_policy, weights_version=None)
    with pytest.raises(ConfigError, match="weights version"):
        rollout(verl_config(policy_dir, world_parquet), policy, world_parquet, count=1)


def test_unknown_settings_are_named(policy_dir, world_parquet, tmp_path):
    loops = write_loops(tmp_path / "loops.yaml", "  simm: openai\n")
    with pytest.raises(InstantiationException, match=r"unknown settings \['simm'\]"):  # hydra wraps our ConfigError
        rollout(verl_config(policy_dir, world_parquet, agent_loops=loops), TinyPolicyServer(policy_dir), world_parquet, count=1)


def script_overrides(path: Path) -> list[str]:
    """The ``key=value`` lines of a launch script, its shell defaults filled in."""
    overrides = []
    for key, value in re.findall(r"^\s+([\w.]+)=(.*?)\s*\\$", path.read_text(), re.MULTILINE):
        value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
        value = value.replace("$HERE", str(path.parent)).replace("$DATA", "ZeroSearch_dataset").replace("$POLICY", "Qwen/Qwen2.5-3B")
        overrides.append(f"{key}={value.strip(chr(34))}")
    return overrides


def test_the_launch_script_is_a_valid_verl_config_for_our_loop():
    import verl.trainer.config

    script = ROOT / "examples" / "verl" / "train_grpo.sh"
    with initialize_config_dir(config_dir=os.path.dirname(verl.trainer.config.__file__), version_base=None):
        config = compose("ppo_trainer", overrides=script_overrides(script))
    rollout_config = config.actor_rollout_ref.rollout
    assert (config.algorithm.adv_estimator, rollout_config.n, rollout_config.agent.default_agent_loop) == ("grpo", 5, "zerosearch")
    assert Path(rollout_config.agent.agent_loop_config_path) == EXAMPLE
    from omegaconf import OmegaConf

    from zerosearch_env.integrations.verl import adapter_config

    [entry] = [e for e in OmegaConf.load(EXAMPLE) if e.name == "zerosearch"]
    settings = {
        k: v for k, v in OmegaConf.to_container(entry, resolve=True).items() if k not in ("name", "_target_", "max_tokens_per_turn", "max_observation_tokens")
    }
    assert adapter_config(settings, config).curriculum == {"start": 0.0, "end": 0.5, "base": 4, "total_steps": 203}
