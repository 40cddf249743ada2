"""SkyRL's PPO/GRPO trainer with the ZeroSearch-v0 environments registered.

SkyRL builds environments inside its training task (a Ray task), so the environments
are registered there, from the settings file (default: zerosearch.yaml beside this file;
or $ZEROSEARCH_SKYRL_SETTINGS). Use it in place of ``skyrl.train.entrypoints.main_base``:

    python examples/skyrl/main_zerosearch.py <SkyRL overrides...>   (see run_zerosearch.sh)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import ray
from skyrl.train.config import SkyRLTrainConfig
from skyrl.train.entrypoints.main_base import BasePPOExp
from skyrl.train.utils import validate_cfg
from skyrl.train.utils.utils import initialize_ray

SETTINGS = os.environ.get("ZEROSEARCH_SKYRL_SETTINGS", str(Path(__file__).with_name("zerosearch.yaml")))


@ray.remote(num_cpus=1)
def zerosearch_entrypoint(cfg: SkyRLTrainConfig, environments: dict) -> None:
    from zerosearch_env.integrations.skyrl import register_zerosearch

    for env_id, settings in environments.items():
        register_zerosearch(settings, env_id=env_id)
    BasePPOExp(cfg).run()


def main() -> None:
    from zerosearch_env.integrations.skyrl import read_settings

    cfg = SkyRLTrainConfig.from_cli_overrides(sys.argv[1:])
    validate_cfg(cfg)
    environments = read_settings(SETTINGS)  # here, where $ZEROSEARCH_SIM_URL is set
    initialize_ray(cfg)
    ray.get(zerosearch_entrypoint.remote(cfg, environments))


if __name__ == "__main__":
    main()
