"""Gymnasium ids of zerosearch-env, registered with string entry points (cheap import)."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENTRY_POINT = "zerosearch_env.env:ZeroSearchEnv"
VECTOR_ENTRY_POINT = "zerosearch_env.vector:ZeroSearchVectorEnv"

#: id -> default kwargs. ``ZeroSearch-v0`` is the configurable env; the others are
#: presets of it.
ENV_IDS: dict[str, dict] = {
    "ZeroSearch-v0": {},
    # The whole transcript as the observation (for agents without their own memory).
    "ZeroSearch-Transcript-v0": {"observation_mode": "transcript"},
    # The ZeroSearch curriculum (noise 0 -> 0.5, base 4) advanced by each episode, for
    # users who have no trainer to call set_training_step.
    "ZeroSearch-Curriculum-v0": {
        "curriculum": {"kind": "exponential", "start": 0.0, "end": 0.5, "total_steps": 1000, "base": 4.0},
        "curriculum_clock": "episode",
    },
}


def register_envs() -> None:
    """Register every id once (idempotent)."""
    for env_id, kwargs in ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, kwargs=kwargs)
