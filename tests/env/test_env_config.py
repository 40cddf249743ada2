"""EnvConfig: the environment's settings, declared once for training and evaluation."""

from __future__ import annotations

import argparse

import pytest

from zerosearch_env.config_flags import add_flags, given
from zerosearch_env.env_config import EnvConfig
from zerosearch_env.errors import ConfigError


def test_make_vec_builds_the_configured_environment():
    envs = EnvConfig(split="test", topk=2, max_turns=1, prompt_template="Q: {question}\n").make_vec(3, difficulty=1.0)
    obs, infos = envs.reset(seed=0)
    assert envs.num_envs == 3 and all(o.startswith("Q: ") for o in obs)
    assert all(row.split == "test" for row in envs.rows)
    _, _, _, _, infos = envs.step(["<search> a </search>"] * 3)
    assert all(len(docs) <= 2 for docs in infos["documents"]) and set(infos["doc_quality"]) == {"noisy"}


def test_settings_on_top_override_the_config():
    kwargs = EnvConfig(split="train", sim_kwargs={}).env_kwargs(split="test", difficulty=0.3)
    assert kwargs["split"] == "test" and kwargs["difficulty"] == 0.3 and kwargs["sim_kwargs"] is None


@pytest.mark.parametrize("field, value", [("topk", 0), ("max_turns", -1), ("topk", True), ("sim_kwargs", "x")])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"EnvConfig.{field} expects"):
        EnvConfig(**{field: value})


def test_the_flags_come_from_the_fields():
    parser = argparse.ArgumentParser()
    add_flags(parser, EnvConfig, "environment")
    args = parser.parse_args(["--sim", "bm25", "--topk", "3", "--sim-kwargs", '{"index_dir": "/tmp/i"}', "--split", "none"])
    assert EnvConfig(**given(args, EnvConfig)) == EnvConfig(sim="bm25", topk=3, sim_kwargs={"index_dir": "/tmp/i"}, split=None)
    assert given(parser.parse_args([]), EnvConfig) == {}  # an absent flag overrides nothing
    with pytest.raises(SystemExit):
        parser.parse_args(["--sim-kwargs", "[1, 2]"])
