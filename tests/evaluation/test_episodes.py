"""The one episode loop: a batch agent played in the native vector env, episode by episode."""

from __future__ import annotations

import gymnasium as gym

import zerosearch_env  # noqa: F401  (registers the ids)
from zerosearch_env.baselines import ScriptedAgent
from zerosearch_env.env_config import EnvConfig
from zerosearch_env.evaluation import EpisodeStart, RandomAgent, ScriptedBatchAgent, play_episodes


def _summary(episode):
    final = episode.final_info
    return (episode.prompt, [turn.action for turn in episode.turns], [turn.observation for turn in episode.turns], final.f1)


def test_one_sub_env_seeded_once_plays_the_episodes_of_a_plain_gym_loop():
    env = gym.make("ZeroSearch-v0", split="test", difficulty=0.5)
    plain = []
    for i in range(6):
        obs, info = env.reset(seed=7 if i == 0 else None)
        agent, actions, observations, done = ScriptedAgent(seed=0), [], [], False
        prompt = obs
        while not done:
            actions.append(agent.act(obs))
            obs, _, terminated, truncated, info = env.step(actions[-1])
            observations.append(obs)
            done = terminated or truncated
        plain.append((prompt, actions, observations, info["f1"]))

    envs = EnvConfig(split="test").make_vec(1, difficulty=0.5)
    starts = [EpisodeStart(i, seed=7 if i == 0 else None) for i in range(6)]
    assert [_summary(e) for e in play_episodes(envs, ScriptedBatchAgent(seed=0), starts)] == plain


def test_an_episode_depends_on_its_start_not_on_its_wave():
    starts = [EpisodeStart(i, index=i, seed=100 + i) for i in range(7)]
    by_wave_size = []
    for num_envs in (1, 3, 8):
        envs = EnvConfig(split="test").make_vec(num_envs, difficulty=0.5)
        played = sorted(play_episodes(envs, RandomAgent(seed=1), starts), key=lambda e: e.start.episode_id)
        by_wave_size.append([_summary(e) for e in played])
    assert by_wave_size[0] == by_wave_size[1] == by_wave_size[2]


def test_episodes_come_back_as_they_end_and_idle_sub_envs_are_left_alone():
    class AnswersLater:
        """Episode k searches k times, then answers; records what it was told to forget."""

        name = "answers-later"

        def __init__(self):
            self.forgotten = []

        def act(self, episodes):
            return ["<search> q </search>" if len(v.turns) < v.episode_id else "<answer> x </answer>" for v in episodes]

        def forget(self, episode_id):
            self.forgotten.append(episode_id)

    envs = EnvConfig().make_vec(4)
    agent = AnswersLater()
    played = list(play_episodes(envs, agent, [EpisodeStart(k, index=k, seed=k) for k in (2, 0, 1)]))
    assert [e.start.episode_id for e in played] == [0, 1, 2] == agent.forgotten
    assert [len(e.turns) for e in played] == [1, 2, 3] and not any(e.truncated for e in played)
    assert envs.envs[3].transcript == "" and envs.last_infos[3] is None  # the fourth sub-env was never used
    first = played[2]
    assert first.first_info.index == 2 and first.prompt.endswith(f"Question: {envs.rows[2].question}\n")
    assert [t.info.action for t in first.turns] == ["search", "search", "answer"]
