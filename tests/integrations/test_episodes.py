"""What both adapters share, without either framework: settings, the shared simulator,
dataset rows, metrics; and the install line when a framework is missing."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from zerosearch_env.errors import ConfigError, DatasetError, MissingDependencyError
from zerosearch_env.import_utils import is_available
from zerosearch_env.integrations.episodes import AdapterConfig, EpisodeTally, episode_env, plain, row_record, shared_env
from zerosearch_env.protocol import answer_action, build_policy_prompt, search_action
from zerosearch_env.simulators.batching import BatchingSimulator


def test_flat_settings_split_into_the_environments_and_the_adapters():
    config = AdapterConfig.from_mapping({"sim": "corpus", "topk": 3, "difficulty": 0.2, "max_batch": 8})
    assert (config.env.sim, config.env.topk, config.difficulty, config.max_batch) == ("corpus", 3, 0.2, 8)
    assert not config.is_scheduled and AdapterConfig(curriculum={"end": 0.5}).is_scheduled


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"simm": "corpus"}, r"unknown settings \['simm'\]"),
        ({"difficulty": 0.1, "curriculum": {"end": 0.5}}, "not both"),
        ({"on_sim_error": "ignore"}, "on_sim_error"),
        ({"topk": 0}, "topk"),
        ({"max_batch": "64"}, "max_batch expects an int"),
        ({"batching": "false"}, "batching expects true, false or null"),
        ({"max_wait_ms": float("nan")}, "max_wait_ms"),
        ({"curriculum": "0.5"}, "curriculum expects a mapping"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        AdapterConfig.from_mapping(settings)


def test_one_simulator_per_process_and_configuration_behind_a_batching_front():
    config = AdapterConfig.from_mapping({"sim": "corpus", "difficulty": 0.0})
    first, second = episode_env(config), episode_env(config)
    assert first is not second and first.simulator is second.simulator is shared_env(config).simulator
    assert isinstance(first.simulator, BatchingSimulator)
    first.reset(seed=0)
    second.reset(seed=1)
    first.step(search_action("capital"))
    assert first.transcript != second.transcript  # own episode state


def test_a_served_simulator_gets_no_front_unless_asked():
    served = {"sim": "openai", "sim_kwargs": {"base_urls": ["http://127.0.0.1:9/v1"]}}
    assert not isinstance(shared_env(AdapterConfig.from_mapping(served)).simulator, BatchingSimulator)
    assert isinstance(shared_env(AdapterConfig.from_mapping({**served, "batching": True})).simulator, BatchingSimulator)


def test_plain_turns_numpy_and_nested_values_into_python():
    value = {"a": np.array(["x", "y"], dtype=object), "b": [np.int64(3), {"c": np.float32(0.5)}]}
    assert plain(value) == {"a": ["x", "y"], "b": [3, {"c": 0.5}]}


def test_rows_in_the_frameworks_layouts():
    verl_row = {
        "raw_prompt": np.array([{"role": "user", "content": build_policy_prompt("Who wrote Hamlet?")}], dtype=object),
        "reward_model": {"style": "rule", "ground_truth": {"target": np.array(["Shakespeare"], dtype=object)}},
        "data_source": "nq",
        "extra_info": {"index": 4, "split": "test"},
    }
    record = row_record(verl_row, "verl dataset")  # no question column: taken from the prompt
    assert (record.question, record.golden_answers, record.data_source, record.id) == ("Who wrote Hamlet?", ("Shakespeare",), "nq", "4")
    assert record.prompt.endswith("Question: Who wrote Hamlet?\n")
    skyrl_row = {"question": "Q?", "reward_spec": {"method": "rule", "ground_truth": {"target": ["A"]}}, "extra_info": {"question": "ignored"}}
    assert row_record(skyrl_row, "skyrl dataset").golden_answers == ("A",)
    with pytest.raises(DatasetError, match="skyrl dataset row 2: missing field 'question'"):
        row_record({"golden_answers": ["A"], "extra_info": {"index": 2}}, "skyrl dataset")
    with pytest.raises(DatasetError, match="verl dataset row 7: missing field 'golden_answers'"):
        row_record({"question": "Who?", "extra_info": {"index": 7}}, "verl dataset")
    for index in ("nq_17", float("nan"), -1, True):
        with pytest.raises(DatasetError, match=r"extra_info\.index expects the row's int index"):
            row_record({"question": "Who?", "golden_answers": ["A"], "extra_info": {"index": index}}, "verl dataset")
    assert row_record({"question": "Who?", "golden_answers": ["A"], "extra_info": {"index": 17.0}}, "verl dataset").id == "17"


def test_the_tally_counts_invalid_turns_faults_and_the_final_scores():
    env = episode_env(AdapterConfig.from_mapping({"sim": "corpus", "difficulty": 0.0}))
    env.reset(seed=0, options={"question": "Q?", "golden_answers": ["Zemisune"]})
    tally = EpisodeTally()
    for action in ("no tags", search_action("Mezisar"), answer_action("Zemisune")):
        tally.observe(env.step(action)[-1])
    metrics = tally.metrics()
    assert metrics["invalid_turns"] == 1.0 and metrics["searches"] == 1.0 and metrics["noisy_share"] == 0.0
    assert metrics["f1"] == metrics["em"] == metrics["answered"] == 1.0
    assert all(isinstance(v, float) for v in metrics.values())


@pytest.mark.parametrize("module, package, extra", [("verl", "verl", "verl"), ("skyrl", "skyrl_gym", "skyrl")])
def test_a_missing_framework_names_its_install_line(module, package, extra):
    if is_available(package):
        pytest.skip(f"{package} is installed here")
    with pytest.raises(MissingDependencyError, match=rf'pip install "zerosearch-env\[{extra}\]"'):
        importlib.import_module(f"zerosearch_env.integrations.{module}")


def test_a_curriculum_without_total_steps_spans_the_frameworks_run():
    config = AdapterConfig.from_mapping({"curriculum": {"start": 0.0, "end": 0.5, "base": 4}})
    assert config.spanning(203, "unused").curriculum == {"start": 0.0, "end": 0.5, "base": 4, "total_steps": 203}
    with pytest.raises(ConfigError, match="the curriculum has no total_steps and the run's length is unknown"):
        config.spanning(None, "the run's length is unknown")
    given = AdapterConfig.from_mapping({"curriculum": {"end": 0.5, "total_steps": 10}})
    constant = AdapterConfig.from_mapping({"curriculum": {"kind": "constant", "value": 0.2}})
    fixed = AdapterConfig.from_mapping({"difficulty": 0.3})
    assert given.spanning(203, "unused") is given and constant.spanning(None, "unused") is constant and fixed.spanning(None, "x") is fixed


def test_token_limits_are_positive_ints_or_none():
    from zerosearch_env.integrations.episodes import token_limit

    assert token_limit("max_tokens_per_turn", None, "here") is None and token_limit("max_tokens_per_turn", 500, "here") == 500
    for bad in (0, -1, 2.5, True, "500"):
        with pytest.raises(ConfigError, match="here: max_tokens_per_turn expects a positive int"):
            token_limit("max_tokens_per_turn", bad, "here")
