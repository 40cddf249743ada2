"""ZeroSearch-v0 inside distributed RL frameworks.

- :mod:`zerosearch_env.integrations.verl`: an agent loop for verl (``pip install
  "zerosearch-env[verl]"``), registered as ``zerosearch``.
- :mod:`zerosearch_env.integrations.skyrl`: a ``BaseTextEnv`` for SkyRL (``pip install
  "zerosearch-env[skyrl]"``), registered as ``zerosearch``.
- :mod:`zerosearch_env.integrations.episodes`: what both share (settings, the
  process-wide simulator, dataset rows, episode metrics); it needs neither framework.

Nothing here is imported by ``import zerosearch_env``; each adapter imports its framework
when it is imported itself, and names the ``pip install`` line when it is missing.
"""
