"""Every registered id passes Gymnasium's checker; importing the package stays light."""

import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import zerosearch_env
from zerosearch_env.registration import ENV_IDS


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_check_env_on_every_registered_id(env_id):
    env = gym.make(env_id, disable_env_checker=True)
    check_env(env.unwrapped, skip_render_check=False)
    assert env.spec.entry_point == "zerosearch_env.env:ZeroSearchEnv"


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_every_id_plays_an_episode(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert "Question:" in obs
    _, reward, terminated, _, _ = env.step(f"<answer> {info['golden_answers'][0]} </answer>")
    assert terminated and reward == 1.0


def test_import_is_light():
    code = (
        "import sys, zerosearch_env, gymnasium as gym; gym.make('ZeroSearch-v0');"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'accelerate', 'datasets') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names():
    assert zerosearch_env.ZeroSearchEnv.__name__ == "ZeroSearchEnv"
    assert callable(zerosearch_env.make_simulator) and callable(zerosearch_env.load_questions)
    with pytest.raises(AttributeError):
        zerosearch_env.no_such_name  # noqa: B018
