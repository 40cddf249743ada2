"""The native vector env: one simulator call per step, seeds, autoreset, Gymnasium interop."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import zerosearch_env  # noqa: F401
from zerosearch_env.env import ZeroSearchEnv
from zerosearch_env.errors import ConfigError, SimulatorError
from zerosearch_env.testing import FailingSimulator
from zerosearch_env.vector import ZeroSearchVectorEnv


class RecordingSimulator:
    """Wraps the world's corpus simulator and records every batch it is sent."""

    name = "recording"

    def __init__(self):
        from zerosearch_env.simulators.registry import make_simulator
        from zerosearch_env.worlds.synthetic import make_world

        self.inner = make_simulator("corpus", world=make_world())
        self.batches = []

    def simulate(self, requests):
        self.batches.append(list(requests))
        return self.inner.simulate(requests)


def scripted_action(t: int, i: int, question: str) -> str:
    """A fixed mix of searches, invalid turns and answers, different per sub-env."""
    kind = (t + i) % 4
    if kind == 3:
        return "<answer> Some Name </answer>"
    if kind == 2:
        return "thinking without tags"
    return f"<think>t{t}</think><search> {question} {t} </search>"


def test_make_vec_returns_the_native_vector_env():
    envs = gym.make_vec("ZeroSearch-v0", num_envs=3)
    assert isinstance(envs, ZeroSearchVectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert len(envs.envs) == 3 and all(env.simulator is envs.simulator for env in envs.envs)
    assert all(env.rows is envs.rows for env in envs.envs)  # one dataset load
    obs, infos = envs.reset(seed=0)
    assert len(obs) == 3 and all("Question:" in o for o in obs)
    assert infos["_question"].all()


def test_one_simulator_call_per_step_with_each_request_its_own_question():
    sim = RecordingSimulator()
    envs = ZeroSearchVectorEnv(num_envs=6, sim=sim, difficulty=0.5)
    _, infos = envs.reset(seed=3)
    questions = list(infos["question"])
    actions = [f"<search> q{i} </search>" if i in (1, 2, 4) else "<think>no tag</think>" for i in range(6)]
    _, _, _, _, infos = envs.step(actions)  # only some sub-envs search
    assert len(sim.batches) == 1
    batch = sim.batches[0]
    assert [r.query for r in batch] == ["q1", "q2", "q4"]
    assert [r.question for r in batch] == [questions[1], questions[2], questions[4]]
    rows = {row.question: row.golden_answers for row in envs.rows}
    assert all(r.golden_answers == rows[r.question] for r in batch)
    assert list(infos["action"]) == ["invalid", "search", "search", "invalid", "search", "invalid"]
    assert envs.last_step_stats.sim_calls == 1 and envs.last_step_stats.sim_requests == 3
    envs.step(["<think>x</think>"] * 6)  # no search: no call
    assert len(sim.batches) == 1 and envs.last_step_stats.sim_calls == 0


def test_total_stats_sum_every_step_and_their_difference_is_a_stretch():
    envs = ZeroSearchVectorEnv(num_envs=4, sim=RecordingSimulator())
    _, infos = envs.reset(seed=0)
    steps = []
    for t in range(6):
        if t == 3:
            middle = envs.total_stats
        envs.step([scripted_action(t, i, q) for i, q in enumerate(infos["question"])])
        steps.append(envs.last_step_stats)
    total = envs.total_stats
    assert total.sim_requests == sum(s.sim_requests for s in steps) > 0
    assert total.sim_calls == sum(s.sim_calls for s in steps)
    assert total.sim_wall_s == pytest.approx(sum(s.sim_wall_s for s in steps))
    stretch = total - middle
    assert stretch.sim_requests == sum(s.sim_requests for s in steps[3:])
    assert stretch.step_wall_s == pytest.approx(sum(s.step_wall_s for s in steps[3:]))


def test_same_seed_replays_single_envs_with_derived_seeds():
    n, steps = 4, 30
    envs = gym.make_vec("ZeroSearch-v0", num_envs=n, difficulty=0.5)
    singles = [ZeroSearchEnv(difficulty=0.5) for _ in range(n)]
    obs, infos = envs.reset(seed=11)
    single_obs = [env.reset(seed=11 + i)[0] for i, env in enumerate(singles)]
    assert list(obs) == single_obs
    questions = list(infos["question"])
    done = [False] * n
    for t in range(steps):
        actions = [scripted_action(t, i, questions[i]) for i in range(n)]
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        for i, env in enumerate(singles):
            if done[i]:  # next-step autoreset: the vector env ignored this action
                expected_obs, expected_info = env.reset()
                expected_reward = 0.0
            else:
                expected_obs, expected_reward, _te, _tr, expected_info = env.step(actions[i])
            assert obs[i] == expected_obs and rewards[i] == expected_reward
            assert infos["doc_quality"][i] == expected_info["doc_quality"]
            questions[i] = expected_info["question"]
        done = list(terminated | truncated)


def test_same_step_autoreset_reports_final_observation_and_info():
    envs = gym.make_vec("ZeroSearch-v0", num_envs=2, autoreset_mode="same_step")
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    _, infos = envs.reset(seed=0)
    answer = infos["golden_answers"][0][0]
    obs, rewards, terminated, _, infos = envs.step([f"<answer>{answer}</answer>", "<search> x </search>"])
    assert list(terminated) == [True, False] and rewards[0] == 1.0
    assert "Question:" in obs[0]  # already the next episode's prompt
    assert list(infos["_final_obs"]) == [True, False] and infos["final_obs"][0] == ""
    assert infos["final_info"]["f1"][0] == 1.0 and infos["final_info"]["_f1"][0]


def test_curriculum_for_every_sub_env():
    envs = gym.make_vec("ZeroSearch-v0", num_envs=3, curriculum={"start": 0.0, "end": 1.0, "total_steps": 10})
    envs.call("set_training_step", 10)
    assert envs.get_attr("noise_prob") == (1.0, 1.0, 1.0)
    envs.set_training_step(0)
    assert envs.call("noise_prob") == (0.0, 0.0, 0.0)


def test_the_episode_clock_counts_every_sub_envs_episodes():
    """ZeroSearch-Curriculum-v0 promises noise 0 -> 0.5 over 1,000 episodes: 8 sub-envs
    finishing 125 episodes each are 1,000 episodes, as one env finishing 1,000 would be."""
    one = gym.make("ZeroSearch-Curriculum-v0")
    for _ in range(1000):
        one.reset()
        one.step("<answer> x </answer>")
    envs = gym.make_vec("ZeroSearch-Curriculum-v0", num_envs=8, autoreset_mode="same_step")
    envs.reset(seed=0)
    for _ in range(125):
        envs.step(["<answer> x </answer>"] * 8)
    assert envs.get_attr("training_step") == (1000,) * 8
    assert envs.noise_prob == one.unwrapped.noise_prob == 0.5


def test_simulator_failure_raise_restores_every_sub_env():
    envs = ZeroSearchVectorEnv(num_envs=3, sim=FailingSimulator(failures=1), dataset=[{"question": "q?", "golden_answers": ["a"]}])
    envs.reset(seed=0)
    before = [env.transcript for env in envs.envs]
    with pytest.raises(SimulatorError):
        envs.step(["<search> a </search>"] * 3)
    assert [env.transcript for env in envs.envs] == before
    _, _, _, _, infos = envs.step(["<search> a </search>"] * 3)
    assert list(infos["turn"]) == [1, 1, 1] and infos["sim_prompt_tokens"].sum() == 30


def test_simulator_failure_fallback_flags_only_searching_envs():
    envs = ZeroSearchVectorEnv(num_envs=2, sim=FailingSimulator(failures=1), dataset=[{"question": "q?", "golden_answers": ["a"]}], on_sim_error="fallback")
    envs.reset(seed=0)
    _, _, _, _, infos = envs.step(["<search> a </search>", "no tag"])
    assert infos["sim_error"][0].kind == "backend" and infos["sim_error"][1] is None


def test_info_columns_have_numeric_dtypes_and_masks():
    envs = gym.make_vec("ZeroSearch-v0", num_envs=2)
    envs.reset(seed=0)
    _, _, _, _, infos = envs.step(["<search> x </search>", "<answer> y </answer>"])
    assert infos["turn"].dtype == np.int64 and infos["noise_prob"].dtype == np.float64
    assert infos["f1"].dtype == object and infos["f1"][1] == 0.0 and infos["f1"][0] is None
    assert infos["_turn"].all()


def test_gymnasium_sync_vector_env_gives_the_same_text():
    native = gym.make_vec("ZeroSearch-v0", num_envs=3, difficulty=0.5)
    sync = gym.make_vec("ZeroSearch-v0", num_envs=3, vectorization_mode="sync", difficulty=0.5)
    a, _ = native.reset(seed=5)
    b, _ = sync.reset(seed=5)
    assert tuple(a) == tuple(b)
    actions = ["<search> who </search>"] * 3
    assert tuple(native.step(actions)[0]) == tuple(sync.step(actions)[0])


def test_async_mode_needs_shared_memory_off():
    with pytest.raises(ValueError, match="shared_memory=False"):
        gym.make_vec("ZeroSearch-v0", num_envs=2, vectorization_mode="async")
    envs = gym.make_vec("ZeroSearch-v0", num_envs=2, vectorization_mode="async", vector_kwargs={"shared_memory": False})
    try:
        obs, _ = envs.reset(seed=0)
        assert all(o.endswith("?\n") for o in obs)
    finally:
        envs.close()


@pytest.mark.parametrize("kwargs", [{"num_envs": 0}, {"num_envs": 2, "autoreset_mode": "disabled"}, {"num_envs": 2, "max_episode_steps": 5}])
def test_bad_arguments(kwargs):
    with pytest.raises((ConfigError, ValueError)):
        ZeroSearchVectorEnv(**kwargs)


def test_wrong_number_of_actions():
    envs = gym.make_vec("ZeroSearch-v0", num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(ConfigError, match="expects 2 actions, got 1"):
        envs.step(["<answer> x </answer>"])


def test_simulator_failure_during_an_autoreset_step_loses_nothing():
    envs = ZeroSearchVectorEnv(num_envs=2, sim=FailingSimulator(failures=0), dataset=[{"question": "q?", "golden_answers": ["a"]}])
    envs.reset(seed=0)
    envs.step(["<answer> a </answer>", "<think>x</think>"])  # sub-env 0 is due for autoreset
    envs.simulator.failures = 1
    with pytest.raises(SimulatorError):
        envs.step(["ignored", "<search> a </search>"])
    obs, _, _, _, infos = envs.step(["ignored", "<search> a </search>"])
    assert obs[0].endswith("Question: q?\n") and infos["turn"][0] == 0  # reset happened exactly once, now
    assert infos["turn"][1] == 2


def test_reset_with_one_row_index_per_sub_env_asks_groups_the_same_question():
    envs = ZeroSearchVectorEnv(num_envs=6)
    _, infos = envs.reset(seed=0, options={"index": [7, 7, 7, 12, 12, 12]})
    assert list(infos["index"]) == [7, 7, 7, 12, 12, 12]
    assert len(set(infos["question"][:3])) == 1 and infos["question"][0] != infos["question"][3]
    _, infos = envs.reset(seed=0, options={"index": 5})  # one value for every sub-env
    assert list(infos["index"]) == [5] * 6
    with pytest.raises(ConfigError, match="one row index per sub-env"):
        envs.reset(options={"index": [1, 2]})


def test_none_action_leaves_a_sub_env_untouched():
    sim = RecordingSimulator()
    envs = ZeroSearchVectorEnv(num_envs=3, sim=sim)
    envs.reset(seed=0)
    obs, _rewards, terminated, _, infos = envs.step(["<answer> x </answer>", "<search> q </search>", None])
    assert terminated[0] and obs[2] == "" and not infos["_turn"][2]
    assert len(sim.batches[-1]) == 1  # the skipped sub-env sent no request
    # Sub-env 0 ended: a None keeps it waiting instead of resetting it.
    obs, _, _, _, infos = envs.step([None, "<answer> y </answer>", "<search> q </search>"])
    assert obs[0] == "" and envs.envs[0]._done and infos["turn"][2] == 1
    obs, _, _, _, infos = envs.step(["ignored", None, None])  # now the autoreset happens
    assert "Question:" in obs[0] and infos["turn"][0] == 0
