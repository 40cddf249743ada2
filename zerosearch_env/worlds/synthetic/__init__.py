"""A seeded fictional knowledge world: entities, an encyclopedia corpus, and questions.

Why a made-up world: the default dataset must work offline, and its questions must not
be answerable from a pretrained model's memory. Every name here is built from random
syllables ("Valora Kestin", "Karvex Mills", "The Silent Varro"), so the only way to
answer is to search the corpus. The world is small enough to generate in a fraction of
a second and rich enough for three question styles:

- ``synthetic-single``: one fact, NQ-like ("Who founded Karvex Mills?");
- ``synthetic-bridge``: two chained facts, HotpotQA-like ("In which city was the
  founder of Karvex Mills born?");
- ``synthetic-comparison``: compare one attribute of two entities ("Which company was
  founded first, X or Y?"); the answer is one of the two names.

Each entity's facts are spread over one to three short FlashRAG-style documents
(``"Title"\\ntext``) padded with filler sentences that state nothing checkable.
Near-namesake *distractors* ("Valora Kessin" next to "Valora Kestin") have their own
attributes and documents, so an agent that reads carelessly picks the wrong fact.

Every fact sentence names its subject, so each question is answerable from the corpus:
its answer appears in a document together with its subject (for a bridge question, one
such document per hop). Train and test ask about disjoint subjects: a test entity's
facts are never asked directly in train.

Limitation: names are random syllables checked against a short list of real places,
so an accidental real-world name is unlikely but not impossible.

The package is split by concept, each module importing only those listed before it:
:mod:`.config` (the seed and sizes), :mod:`.entities` (the records a world is made of),
:mod:`.names` (the syllable name generator and its vocabularies), :mod:`.templates`
(the fact, filler and question sentences), :mod:`.generation` (drawing a world from
one seeded ``random.Random``), :mod:`.world` (:class:`SyntheticWorld` and the cached
:func:`make_world`) and :mod:`.hotpotqa` (the questions as HotpotQA rows with their paragraphs). Import the public names from here.
"""

from __future__ import annotations

from .config import WorldConfig
from .entities import ENTITY_KINDS, City, Company, Country, Entity, Film, Hop, Person, River, WorldFiles, WorldQuestion
from .hotpotqa import hotpotqa_records, write_hotpotqa
from .names import COMPANY_SUFFIXES, DIRECTOR, GENERIC_COMPANY_SUFFIXES, INDUSTRIES, OCCUPATIONS
from .world import DATA_SOURCES, SPLITS, SyntheticWorld, make_world

__all__ = [
    "COMPANY_SUFFIXES",
    "DATA_SOURCES",
    "DIRECTOR",
    "ENTITY_KINDS",
    "GENERIC_COMPANY_SUFFIXES",
    "INDUSTRIES",
    "OCCUPATIONS",
    "SPLITS",
    "City",
    "Company",
    "Country",
    "Entity",
    "Film",
    "Hop",
    "Person",
    "River",
    "SyntheticWorld",
    "WorldConfig",
    "WorldFiles",
    "WorldQuestion",
    "hotpotqa_records",
    "make_world",
    "write_hotpotqa",
]
