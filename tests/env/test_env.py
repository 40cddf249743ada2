"""The ZeroSearch-v0 contract, as a user meets it through gym.make."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import zerosearch_env  # noqa: F401
from zerosearch_env.env import StepInfo, ZeroSearchEnv
from zerosearch_env.errors import ConfigError, DatasetError, SimulatorError, UnknownSimulatorError
from zerosearch_env.protocol import INVALID_ACTION_FEEDBACK, build_policy_prompt
from zerosearch_env.testing import FailingSimulator, FixedSimulator


def make_toy(rows, sim=None, **kwargs) -> ZeroSearchEnv:
    return ZeroSearchEnv(sim=sim or FixedSimulator(), dataset=rows, **kwargs)


def test_readme_quickstart_episode():
    env = gym.make("ZeroSearch-v0")
    obs, info = env.reset(seed=0)
    assert obs == build_policy_prompt(info["question"])
    assert set(info) == set(StepInfo._fields)
    obs, reward, terminated, truncated, info = env.step(f"<think>I need facts</think><search> {info['question']} </search>")
    assert obs.startswith("\n\n<information>Doc 1: ") and obs.endswith("</information>\n\n")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["action"] == "search" and info["doc_quality"] == "useful" and len(info["documents"]) == 5
    answer = info["golden_answers"][0]
    obs, reward, terminated, truncated, info = env.step(f"<answer> {answer} </answer>")
    assert (obs, reward, terminated, truncated) == ("", 1.0, True, False)
    assert (info["f1"], info["em"], info["cover_em"]) == (1.0, 1.0, 1.0)


def test_answer_reward_is_f1_and_info_reports_all_scores(toy_rows):
    env = make_toy(toy_rows)
    env.reset(options={"index": 0})
    _, reward, terminated, _, info = env.step("<answer> Dr Jane Doe </answer>")
    assert terminated and reward == pytest.approx(0.8)
    assert (info["f1"], info["em"], info["cover_em"]) == (pytest.approx(0.8), 0.0, 1.0)
    assert info["answer"] == "Dr Jane Doe"


@pytest.mark.parametrize("reward, expected", [("em", 0.0), ("cover_em", 1.0), (lambda a, g: len(a), 11.0)])
def test_reward_choices(toy_rows, reward, expected):
    env = make_toy(toy_rows, reward=reward)
    env.reset(options={"index": 0})
    assert env.step("<answer>Dr Jane Doe</answer>")[1] == expected


def test_search_sends_the_episode_question_and_answers(toy_rows):
    sim = FixedSimulator()
    env = make_toy(toy_rows, sim=sim, topk=3)
    env.reset(seed=1, options={"index": 1})
    obs, _, _, _, info = env.step("<search>  acme founding  </search>")
    (request,) = sim.requests
    assert request.query == "acme founding"
    assert request.question == "When was Acme founded?" and request.golden_answers == ("1901",)
    assert request.topk == 3 and request.quality == "useful" and isinstance(request.seed, int)
    assert obs == "\n\n<information>Doc 1: Jane Doe founded Acme in 1901.\nDoc 2: Acme is a company.</information>\n\n"
    assert (info["sim_prompt_tokens"], info["sim_completion_tokens"]) == (10, 20)
    assert info["searches"] == 1 and info["turn"] == 1


def test_invalid_turn_gets_feedback(toy_rows):
    env = make_toy(toy_rows)
    env.reset(options={"index": 0})
    obs, reward, terminated, truncated, info = env.step("I think the answer is Jane.")
    assert obs == INVALID_ACTION_FEEDBACK
    assert (reward, terminated, truncated, info["action"]) == (0.0, False, False, "invalid")


def test_text_after_first_stop_tag_is_ignored_and_reported(toy_rows):
    sim = FixedSimulator()
    env = make_toy(toy_rows, sim=sim, render_mode="ansi")
    env.reset(options={"index": 0})
    _, _, terminated, _, info = env.step("<search> q1 </search><information>fake</information><answer>Jane Doe</answer>")
    assert not terminated and info["action"] == "search"
    assert info["ignored_text"] == "<information>fake</information><answer>Jane Doe</answer>"
    assert "fake" not in env.render()


@pytest.mark.parametrize("max_turns", [0, 1, 5])
def test_max_turns_search_rounds_then_one_final_turn(toy_rows, max_turns):
    sim = FixedSimulator()
    env = make_toy(toy_rows, sim=sim, max_turns=max_turns)
    env.reset(options={"index": 0})
    for turn in range(max_turns):
        _, _, terminated, truncated, info = env.step(f"<search> q{turn} </search>")
        assert not (terminated or truncated) and info["action"] == "search"
    obs, reward, terminated, truncated, info = env.step("<search> one more </search>")
    assert (obs, reward, terminated, truncated) == ("", 0.0, False, True)
    assert len(sim.requests) == max_turns  # the final turn cannot search
    assert info["f1"] == 0.0 and info["turn"] == max_turns + 1
    with pytest.raises(ResetNeeded):
        env.step("<answer> x </answer>")


def test_final_turn_can_still_answer(toy_rows):
    env = make_toy(toy_rows, max_turns=1)
    env.reset(options={"index": 0})
    env.step("not a valid turn")  # invalid turns count as rounds
    _, reward, terminated, truncated, _ = env.step("<answer>Jane Doe</answer>")
    assert (reward, terminated, truncated) == (1.0, True, False)


def test_custom_question_option(fixed_sim):
    env = ZeroSearchEnv(sim=fixed_sim)
    obs, info = env.reset(options={"question": "Who wrote X?", "golden_answers": "Ann Lee"})
    assert obs.endswith("Question: Who wrote X?\n")
    assert info["golden_answers"] == ["Ann Lee"] and info["data_source"] == "custom" and info["index"] is None
    assert env.step("<answer>ann lee</answer>")[1] == 1.0


def test_dataset_prompt_column_is_used():
    env = make_toy([{"question": "q?", "golden_answers": ["a"], "prompt": [{"role": "user", "content": "CUSTOM q?"}]}])
    assert env.reset()[0] == "CUSTOM q?"


@pytest.mark.parametrize("options", [{"index": 99}, {"index": -1}, {"question": ""}, {"question": "q", "golden_answers": []}, {"idx": 0}])
def test_bad_reset_options(toy_rows, options):
    env = make_toy(toy_rows)
    with pytest.raises(ConfigError):
        env.reset(options=options)


def test_bad_actions_raise_clear_errors(toy_rows):
    env = make_toy(toy_rows, max_action_chars=100)
    prompt, _ = env.reset()
    with pytest.raises(TypeError, match="expects a str"):
        env.step(42)
    with pytest.raises(ValueError, match="at most 100 characters"):
        env.step("x" * 101)
    assert env.transcript == prompt  # nothing was appended by the failures
    assert env.step("<answer>x</answer>")[2]


def test_step_before_reset_raises(toy_rows):
    with pytest.raises(ResetNeeded):
        make_toy(toy_rows).step("<answer>x</answer>")


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"sim": "sft-99b"}, UnknownSimulatorError),
        ({"sim": object()}, ConfigError),
        ({"max_turns": -1}, ConfigError),
        ({"topk": 0}, ConfigError),
        ({"difficulty": 0.3, "curriculum": {"end": 0.5}}, ConfigError),
        ({"difficulty": 1.5}, ConfigError),
        ({"observation_mode": "full"}, ConfigError),
        ({"render_mode": "rgb_array"}, ConfigError),
        ({"dataset": "synthetic", "split": "dev"}, ConfigError),
        ({"dataset": "/no/such/file.parquet"}, DatasetError),
    ],
)
def test_bad_constructor_arguments(kwargs, error):
    with pytest.raises(error):
        ZeroSearchEnv(**kwargs)


def test_unknown_sim_error_lists_names():
    with pytest.raises(UnknownSimulatorError, match="corpus"):
        gym.make("ZeroSearch-v0", sim="googel")


def _noisy_share(env, episodes=300):
    noisy = 0
    for i in range(episodes):
        env.reset(seed=i, options={"index": 0})
        noisy += env.step("<search> q </search>")[4]["doc_quality"] == "noisy"
    return noisy / episodes


@pytest.mark.parametrize("difficulty", [0.0, 0.3, 1.0])
def test_difficulty_is_the_noise_probability(toy_rows, difficulty):
    env = make_toy(toy_rows, difficulty=difficulty)
    assert abs(_noisy_share(env) - difficulty) < 0.08
    assert env.reset()[1]["noise_prob"] == difficulty


def test_set_training_step_moves_the_curriculum(toy_rows):
    env = make_toy(toy_rows, curriculum={"start": 0.0, "end": 1.0, "total_steps": 10})
    assert env.noise_prob == 0.0 and _noisy_share(env, 100) == 0.0
    env.set_training_step(10)
    assert env.noise_prob == 1.0 and _noisy_share(env, 100) == 1.0
    env.set_training_step(5)
    _, info = env.reset()
    assert info["training_step"] == 5 and 0.0 < info["noise_prob"] < 0.5  # exponential: below linear
    with pytest.raises(ConfigError):
        env.set_training_step(-1)


def test_episode_clock_advances_per_finished_episode():
    env = gym.make("ZeroSearch-Curriculum-v0")
    steps = []
    for i in range(5):
        steps.append(env.reset(seed=i)[1]["training_step"])
        env.step("<answer> x </answer>")
    assert steps == [0, 1, 2, 3, 4]
    assert env.reset()[1]["training_step"] == env.reset()[1]["training_step"] == 5  # a reset alone does not advance
    env.unwrapped.set_training_step(1000)
    assert env.reset()[1]["noise_prob"] == 0.5


def _rollout(env, seed, steps=50):
    """Alternate searches and answers for ``steps`` steps; return every observation/info."""
    trace = []
    obs, info = env.reset(seed=seed)
    trace.append((obs, info["question"]))
    for t in range(steps):
        action = f"<search> {info['question']} </search>" if t % 3 != 2 else "<answer> something </answer>"
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, info["doc_quality"], info["question"]))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs, info["question"]))
    return trace


def test_same_seed_same_episodes():
    a = gym.make("ZeroSearch-v0", difficulty=0.5)
    b = gym.make("ZeroSearch-v0", difficulty=0.5)
    assert _rollout(a, seed=7) == _rollout(b, seed=7)
    assert _rollout(a, seed=7) != _rollout(a, seed=8)


def test_env_does_not_touch_global_rng():
    np.random.seed(123)
    import random

    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    _rollout(gym.make("ZeroSearch-v0", difficulty=0.5), seed=0, steps=20)
    assert (np.random.random(), random.random()) == expected


def test_pickle_round_trip_mid_episode():
    env = ZeroSearchEnv(difficulty=0.5)
    env.reset(seed=3)
    env.step("<search> some query </search>")
    clone = pickle.loads(pickle.dumps(env))
    assert clone.transcript == env.transcript
    a = env.step("<search> next </search>")
    b = clone.step("<search> next </search>")
    assert a[0] == b[0] and a[4]["doc_quality"] == b[4]["doc_quality"]


def test_transcript_observation_mode(toy_rows):
    env = make_toy(toy_rows, observation_mode="transcript")
    prompt, _ = env.reset(options={"index": 0})
    obs = env.step("<search> q </search> junk")[0]
    assert obs.startswith(prompt + "<search> q </search>\n\n<information>")
    assert "junk" not in obs
    assert gym.make("ZeroSearch-Transcript-v0").unwrapped.observation_mode == "transcript"


def test_render_modes(toy_rows, capsys):
    env = make_toy(toy_rows, render_mode="ansi")
    prompt, _ = env.reset(options={"index": 0})
    env.step("<search> q </search>")
    assert env.render().startswith(prompt + "<search> q </search>\n\n<information>")
    human = make_toy(toy_rows, render_mode="human")
    human.reset(options={"index": 0})
    human.step("<answer> Jane Doe </answer>")
    assert "<answer> Jane Doe </answer>" in capsys.readouterr().out


def test_simulator_failure_raises_and_loses_nothing(toy_rows):
    sim = FailingSimulator(failures=1)
    env = make_toy(toy_rows, sim=sim, difficulty=0.5)
    env.reset(seed=5, options={"index": 0})
    before = env.transcript
    with pytest.raises(SimulatorError, match="unreachable"):
        env.step("<search> q </search>")
    assert env.transcript == before
    _, _, _, _, retried = env.step("<search> q </search>")  # retry succeeds with the same coin and seed
    reference = make_toy(toy_rows, difficulty=0.5)
    reference.reset(seed=5, options={"index": 0})
    _, _, _, _, expected = reference.step("<search> q </search>")
    assert retried["doc_quality"] == expected["doc_quality"] and retried["turn"] == 1
    assert sim.fixed.requests[0].seed == reference.simulator.requests[0].seed


def test_simulator_failure_fallback_is_flagged(toy_rows):
    env = make_toy(toy_rows, sim=FailingSimulator(failures=1), on_sim_error="fallback")
    env.reset(options={"index": 0})
    obs, _, _, _, info = env.step("<search> q </search>")
    assert obs == "\n\n<information></information>\n\n"
    assert info["sim_error"].kind == "backend" and "unreachable" in info["sim_error"].message
    assert info["documents"] == []
    info = env.step("<search> q </search>")[4]
    assert info["sim_error"] is None and info["documents"]


def test_hotpotqa_context_rows_are_searched_directly():
    from zerosearch_env.records import Passage, QARow

    context = (
        Passage("Acme", "Acme was founded by Jane Doe.", supporting=True),
        Passage("Beta", "Beta Corp makes anvils.", supporting=False),
    )
    env = ZeroSearchEnv(dataset=[QARow("Who founded Acme?", ("Jane Doe",), context=context)], difficulty=0.0)
    env.reset(seed=0)
    info = env.step("<search> Acme founder </search>")[4]
    assert info["documents"][0] == '"Acme" Acme was founded by Jane Doe.'
    noisy = ZeroSearchEnv(dataset=[QARow("Who founded Acme?", ("Jane Doe",), context=context)], difficulty=1.0)
    noisy.reset(seed=0)
    assert noisy.step("<search> Acme founder </search>")[4]["documents"] == ['"Beta" Beta Corp makes anvils.']


def test_prompt_template_replaces_the_policy_prompt_for_every_row():
    env = ZeroSearchEnv(prompt_template="Question: {question}\n")
    obs, info = env.reset(seed=0)
    assert obs == f"Question: {info['question']}\n"
    with pytest.raises(ConfigError, match="question"):
        ZeroSearchEnv(prompt_template="no field here")
