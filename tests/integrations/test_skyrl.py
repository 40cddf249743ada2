"""The SkyRL environment, built as SkyRL's generator builds it: ``skyrl_gym.make(env_class,
env_config=..., extras=row)``, then ``init`` and ``step`` with each policy turn."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

skyrl_gym = pytest.importorskip("skyrl_gym", reason="skyrl-gym is not installed (pip install 'zerosearch-env[skyrl]')")

from zerosearch_env.errors import ConfigError
from zerosearch_env.integrations.skyrl import ZeroSearchTextEnv, read_settings, register_zerosearch
from zerosearch_env.protocol import answer_action, search_action
from zerosearch_env.testing import JSONServer

from .conftest import searching_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "skyrl" / "zerosearch.yaml"


def rows(path: Path) -> list[dict]:
    """The rows as SkyRL's dataset hands them over: every column but prompt and env_class."""
    return [{k: v for k, v in row.items() if k not in ("prompt", "env_class")} for row in pq.read_table(path).to_pylist()]


def prompt_of(path: Path, index: int) -> list[dict]:
    return pq.read_table(path).to_pylist()[index]["prompt"]


def play(env, prompt) -> list[dict]:
    """The scripted policy against ``env``, the transcript kept as SkyRL keeps it."""
    chat, _ = env.init(prompt)
    text, outputs = chat[-1]["content"], []
    while True:
        action = searching_policy(text)
        out = env.step(action)
        outputs.append(out)
        text += action + "".join(message["content"] for message in out["observations"])
        if out["done"]:
            return outputs


@pytest.fixture
def registry_restored(monkeypatch):
    """Registrations made by the test are undone after it."""
    from skyrl_gym.envs import registration

    monkeypatch.setattr(registration, "registry", dict(registration.registry))


def test_the_example_settings_register_training_and_evaluation(world_parquet, simulator_server, registry_restored):
    settings = read_settings(str(EXAMPLE))
    assert set(settings) == {"zerosearch", "zerosearch_eval"}
    assert settings["zerosearch"]["sim_kwargs"]["base_urls"] == [simulator_server.url]  # $ZEROSEARCH_SIM_URL
    for env_id, values in settings.items():
        register_zerosearch(values, env_id=env_id)
    row = rows(world_parquet)[0]
    env = skyrl_gym.make("zerosearch_eval", env_config={}, extras={**row, "max_turns": 6})
    outputs = play(env, prompt_of(world_parquet, 0))
    assert [o["done"] for o in outputs] == [False, True]
    assert outputs[0]["reward"] == 0.0 and outputs[0]["metadata"]["doc_quality"] == "useful"
    [observation] = outputs[0]["observations"]
    assert observation["role"] == "user" and observation["content"].startswith("\n\n<information>Doc 1: The answer is ")
    assert outputs[1]["reward"] == 1.0 and outputs[1]["metadata"]["f1"] == 1.0
    metrics = env.get_metrics()
    assert metrics["f1"] == 1.0 and metrics["searches"] == 1.0 and metrics["sim_prompt_tokens"] == 40.0
    assert ZeroSearchTextEnv.aggregate_metrics([metrics, metrics])["f1"] == 1.0  # SkyRL averages them per batch


def served(url: str, **settings) -> dict:
    return {"sim": "openai", "sim_kwargs": {"base_urls": [url], "retries": 0}, **settings}


def test_the_curriculum_moves_with_finished_training_episodes(world_parquet, simulator_server):
    settings = served(simulator_server.url, curriculum={"start": 0.0, "end": 0.5, "total_steps": 2}, episodes_per_step=2)
    seen = []
    for row in rows(world_parquet)[:6]:
        env = skyrl_gym.make("zerosearch", env_config=settings, extras=row)
        play(env, [{"role": "user", "content": row_prompt(row)}])
        seen.append((env.get_metrics()["training_step"], env.get_metrics()["noise_prob"]))
    assert seen == [(0, 0.0), (0, 0.0), (1, pytest.approx(1 / 6)), (1, pytest.approx(1 / 6)), (2, 0.5), (2, 0.5)]


def row_prompt(row: dict) -> str:
    return f"Question: {row['question']}\n"


def test_a_rows_training_step_wins(world_parquet, simulator_server):
    settings = served(simulator_server.url, curriculum={"start": 0.0, "end": 0.5, "total_steps": 10})
    row = {**rows(world_parquet)[0], "training_step": 10}
    env = skyrl_gym.make("zerosearch", env_config=settings, extras=row)
    play(env, [{"role": "user", "content": row_prompt(row)}])
    assert env.get_metrics()["noise_prob"] == 0.5


def test_a_curriculum_without_a_clock_is_refused(world_parquet, simulator_server):
    settings = served(simulator_server.url, curriculum={"start": 0.0, "end": 0.5, "total_steps": 10})
    with pytest.raises(ConfigError, match="episodes_per_step"):
        skyrl_gym.make("zerosearch", env_config=settings, extras=rows(world_parquet)[0])


def test_skyrls_max_turns_counts_the_answer_turn(world_parquet, simulator_server):
    env = skyrl_gym.make("zerosearch", env_config=served(simulator_server.url, difficulty=0.0), extras={**rows(world_parquet)[0], "max_turns": 2})
    env.init([])
    assert not env.step(search_action("first"))["done"]
    last = env.step(search_action("second"))  # the second turn had to answer
    assert last["done"] and last["reward"] == 0.0 and env.get_metrics()["searches"] == 1.0


@pytest.mark.parametrize("turns", ["five", 0, 2.5, True])
def test_a_max_turns_that_is_not_a_count_is_named(world_parquet, simulator_server, turns):
    with pytest.raises(ConfigError, match="max_turns expects an int >= 1"):
        skyrl_gym.make("zerosearch", env_config=served(simulator_server.url, difficulty=0.0), extras={**rows(world_parquet)[0], "max_turns": turns})


def test_a_failed_search_is_counted_and_the_episode_goes_on(world_parquet, start_server):
    server = start_server(JSONServer, lambda path, body: (500, {"error": "overloaded"}))
    env = skyrl_gym.make("zerosearch", env_config=served(server.url, difficulty=0.0), extras=rows(world_parquet)[0])
    env.init([])
    out = env.step(search_action("anything"))
    assert out["metadata"]["sim_error"] == "http" and out["observations"][0]["content"] == "\n\n<information></information>\n\n"
    assert env.step(answer_action("unknown"))["done"]
    assert env.get_metrics()["sim_faults"] == 1.0


def test_rows_from_pandas_and_reward_spec(world_parquet, simulator_server):
    """SkyRL's own search rows carry ``reward_spec``; pandas hands over numpy arrays."""
    import numpy as np

    row = rows(world_parquet)[0]
    answers = row.pop("golden_answers")
    row.pop("reward_model")
    row["reward_spec"] = {"method": "rule", "ground_truth": {"target": np.array(answers, dtype=object)}}
    env = skyrl_gym.make("zerosearch", env_config=served(simulator_server.url, difficulty=0.0), extras=row)
    env.init([])
    assert env.step(answer_action(answers[0]))["reward"] == 1.0


def test_unknown_settings_are_named(world_parquet):
    with pytest.raises(ConfigError, match=r"unknown settings \['simm'\]"):
        skyrl_gym.make("zerosearch", env_config={"simm": "openai"}, extras=rows(world_parquet)[0])
