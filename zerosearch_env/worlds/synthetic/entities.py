"""The records a synthetic world is made of: its entities, its questions' facts, its files.

These are plain frozen dataclasses (and a named tuple) with no behaviour beyond a
property, kept apart so that generation and the world itself can both speak about
entities without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

from ...records import QARow


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    held_out: bool = False
    distractor_of: str | None = None
    kind: ClassVar[str] = "country"


@dataclass(frozen=True)
class City:
    name: str
    country: str
    founded_year: int
    river: str | None = None
    held_out: bool = False
    distractor_of: str | None = None
    kind: ClassVar[str] = "city"


@dataclass(frozen=True)
class River:
    name: str
    country: str
    length_km: int
    held_out: bool = False
    distractor_of: str | None = None
    kind: ClassVar[str] = "river"

    @property
    def short_name(self) -> str:
        """ "Oskel" for "Oskel River": how people refer to it, accepted as an answer."""
        return self.name.rsplit(" ", 1)[0]


@dataclass(frozen=True)
class Person:
    name: str
    birth_year: int
    birth_city: str
    occupation: str
    employer: str | None = None
    held_out: bool = False
    distractor_of: str | None = None
    kind: ClassVar[str] = "person"


@dataclass(frozen=True)
class Company:
    name: str
    founder: str
    hq_city: str
    founded_year: int
    industry: str
    held_out: bool = False
    distractor_of: str | None = None
    kind: ClassVar[str] = "company"


@dataclass(frozen=True)
class Film:
    name: str
    director: str
    release_year: int
    filming_city: str
    held_out: bool = False
    distractor_of: str | None = None
    kind: ClassVar[str] = "film"


Entity = Country | City | River | Person | Company | Film
ENTITY_KINDS: tuple[str, ...] = ("country", "city", "river", "person", "company", "film")


@dataclass(frozen=True)
class Hop:
    """One fact a question rests on: ``relation`` of ``subject`` is ``answer``."""

    subject: str
    relation: str
    answer: str


@dataclass(frozen=True)
class WorldQuestion:
    """A question with the facts behind it, for checks and error analysis.

    Single-hop: one hop. Bridge: two hops, the first answer is the second subject.
    Comparison: one hop per option, each giving the compared value.
    """

    row: QARow
    hops: tuple[Hop, ...]


class WorldFiles(NamedTuple):
    """Paths written by :meth:`SyntheticWorld.write`."""

    corpus: Path
    train: Path
    test: Path
