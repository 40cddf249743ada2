"""Built-in worlds: datasets and corpora generated on the spot, so nothing is downloaded.

:mod:`zerosearch_env.worlds.synthetic` is a seeded fictional encyclopedia whose facts a
pretrained model cannot know, so an agent must search to answer its questions.
"""

from __future__ import annotations

from .synthetic import Hop, SyntheticWorld, WorldConfig, WorldFiles, WorldQuestion, make_world

__all__ = ["Hop", "SyntheticWorld", "WorldConfig", "WorldFiles", "WorldQuestion", "make_world"]
