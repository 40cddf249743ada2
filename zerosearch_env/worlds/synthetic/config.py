"""The seed and sizes that define a synthetic world, checked when built.

A world is a pure function of its :class:`WorldConfig`, so the config lives on its own at
the bottom of the package: generation reads it, :class:`~.world.SyntheticWorld` keeps it
(and hashes by it), and nothing here depends on how a world is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...errors import ConfigError


@dataclass(frozen=True)
class WorldConfig:
    """Seed and sizes of a synthetic world.

    The defaults give about 2,400 documents and 2,500 questions (about 20% test) and
    generate in about 0.1 s. Entity counts are for real entities; distractors come on
    top.
    """

    seed: int = 0
    """Seeds the one ``random.Random`` that draws everything; same config, same world."""
    num_countries: int = 20
    """Countries; each gets a capital, so ``num_cities`` must be at least this."""
    num_cities: int = 120
    """Cities (birthplaces, headquarters, filming locations)."""
    num_rivers: int = 40
    """Rivers; each flows through one country and past some of its cities."""
    num_people: int = 600
    """People; about one in eight is a film director, the rest may found companies."""
    num_companies: int = 160
    """Companies, each founded by a person."""
    num_films: int = 180
    """Films, each directed by a person."""
    num_distractors: int = 80
    """Near-namesakes of people, companies, films and cities (one letter changed)."""
    single_hop_questions: int = 1400
    """At most this many one-fact questions (fewer if the world has fewer facts)."""
    bridge_questions: int = 650
    """At most this many two-hop questions."""
    comparison_questions: int = 450
    """At most this many comparison questions."""
    test_fraction: float = 0.2
    """Share of the subjects of each kind held out for the test split."""

    _MINIMUMS: ClassVar[dict[str, int]] = {
        "seed": 0,
        "num_countries": 1,
        "num_cities": 1,
        "num_rivers": 0,
        "num_people": 2,
        "num_companies": 1,
        "num_films": 1,
        "num_distractors": 0,
        "single_hop_questions": 0,
        "bridge_questions": 0,
        "comparison_questions": 0,
    }
    _MAXIMUM: ClassVar[int] = 20_000  # the syllable name space stays far from exhausted below this

    def __post_init__(self) -> None:
        for name, minimum in self._MINIMUMS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"WorldConfig.{name} expects an int >= {minimum}, got {value!r}")
            if name != "seed" and value > self._MAXIMUM:
                raise ConfigError(f"WorldConfig.{name} expects an int <= {self._MAXIMUM}, got {value!r}")
        if self.num_cities < self.num_countries:
            raise ConfigError(
                f"WorldConfig.num_cities expects at least num_countries={self.num_countries} (every country needs a capital), got {self.num_cities}"
            )
        fraction = self.test_fraction
        if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0.0 < fraction < 1.0:
            raise ConfigError(f"WorldConfig.test_fraction expects a float in (0, 1), got {fraction!r}")
