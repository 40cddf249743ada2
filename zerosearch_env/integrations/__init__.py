"""ZeroSearch-v0 inside distributed RL frameworks.

- :mod:`zerosearch_env.integrations.verl`: an agent loop for verl (``pip install
  "zerosearch-env[verl]"``), registered as ``zerosearch``.
- :mod:`zerosearch_env.integrations.skyrl`: a ``BaseTextEnv`` for SkyRL (``pip install
  "zerosearch-env[skyrl]"``), registered as ``zerosearch``.
- :mod:`zerosearch_env.integrations.trl`: a rollout function and a reward function for
  TRL's ``GRPOTrainer`` (``pip install "zerosearch-env[hf,trl]"``), its generation engines
  in :mod:`zerosearch_env.integrations.trl_engines`.
- :mod:`zerosearch_env.integrations.episodes`: what they all share (settings, the
  process-wide simulator, dataset rows, episode metrics); it needs no framework.

Nothing here is imported by ``import zerosearch_env``; each adapter imports its framework
when it is imported itself, and names the ``pip install`` line when it is missing.
"""
