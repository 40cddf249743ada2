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
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar, NamedTuple, Union

from ..records import CorpusDoc, QARow
from ..errors import ConfigError
from ..reward import normalize_answer

SPLITS: tuple[str, ...] = ("train", "test")
DATA_SOURCES: tuple[str, ...] = ("synthetic-single", "synthetic-bridge", "synthetic-comparison")

# ----------------------------------------------------------------------------- config


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
                f"WorldConfig.num_cities expects at least num_countries={self.num_countries} "
                f"(every country needs a capital), got {self.num_cities}"
            )
        fraction = self.test_fraction
        if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0.0 < fraction < 1.0:
            raise ConfigError(f"WorldConfig.test_fraction expects a float in (0, 1), got {fraction!r}")


# ----------------------------------------------------------------------------- entities


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
        """"Oskel" for "Oskel River": how people refer to it, accepted as an answer."""
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


Entity = Union[Country, City, River, Person, Company, Film]
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


# ----------------------------------------------------------------------------- names

_ONSETS = ("b", "br", "d", "dr", "f", "g", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "th", "tr", "v", "z", "sh")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "i", "ae")
_CODAS = ("n", "r", "l", "s", "k", "x", "m", "nd", "st", "v")
_COUNTRY_ENDINGS = ("ia", "ora", "esh", "and", "une", "avia")
_FILM_ADJECTIVES = (
    "Silent", "Golden", "Hollow", "Crimson", "Quiet", "Broken", "Northern", "Distant", "Hidden", "Last",
    "Burning", "Frozen", "Wandering", "Lonely", "Bright", "Secret", "Restless", "Pale", "Iron", "Velvet",
)
OCCUPATIONS: tuple[str, ...] = (
    "architect", "painter", "novelist", "engineer", "botanist", "cartographer", "composer", "physician",
    "sculptor", "astronomer", "historian", "chemist", "jurist", "economist", "photographer", "mathematician",
)
DIRECTOR = "film director"
INDUSTRIES: dict[str, str] = {  # industry -> the company-name suffix that goes with it
    "shipbuilding": "Shipyards", "textiles": "Mills", "software": "Systems", "mining": "Minerals",
    "publishing": "Press", "brewing": "Breweries", "aviation": "Aeronautics", "pharmaceuticals": "Laboratories",
    "railways": "Railways", "glassmaking": "Glassworks", "banking": "Bank", "steel": "Steelworks",
}
GENERIC_COMPANY_SUFFIXES: tuple[str, ...] = ("Industries", "Holdings", "Group", "Works")
COMPANY_SUFFIXES: tuple[str, ...] = tuple(INDUSTRIES.values()) + GENERIC_COMPANY_SUFFIXES

# Real places and words the syllable generator can produce; a generated word in this set is redrawn.
_REAL_WORDS = frozenset(
    """paris rome milan lima riga baku doha kabul dakar lagos tunis bern bonn kobe pune sochi cuba peru
    mali togo tonga nepal benin gabon niger sudan laos iran iraq japan taiwan korea gaza dubai rabat hanoi
    manila madrid berlin kiev minsk lisbon dublin boston denver dallas austin turin pisa siena parma genoa
    bari nara osaka kyoto seoul busan sana male nice lyon brest metz nantes tours arles bale basel graz linz
    split zadar sibiu brno kosice tartu narva vaasa bergen malmo lund odense aarhus delft breda gent brugge
    liege namur derby leeds bath york dover essex kent devon tamil goa surat agra patna ranchi kota kandy
    galle dhaka tokyo nagoya sapporo perth darwin hobart cairns lusaka harare maputo luanda kigali bamako
    niamey accra lome abuja kano zaria dodoma moroni sanaa aden muscat kuwait beirut damascus amman homs
    haifa eilat baghdad basra tabriz shiraz herat kandahar karachi lahore delhi kerala rio salvador
    recife natal belem manaus quito bogota cali medellin caracas panama havana tampa miami orlando reno
    salem dayton akron toledo fresno tucson mesa omaha tulsa wichita laredo waco plano frisco boise
    vegas sparta athens troy theben thebes corinth argos delos rhodes crete malta sardinia venice verona
    padua trento bolzano lugano zurich geneva vienna prague krakow gdansk lodz sopot poznan warsaw
    riga vilnius kaunas tallinn helsinki turku oslo stavanger gothenburg uppsala stockholm copenhagen
    kolkata mumbai chennai pondicherry vienna salzburg innsbruck munich dresden leipzig bremen hamburg
    hanover kassel mainz trier bonn aachen cologne essen dortmund kiel lubeck rostock potsdam
    born river city film company capital founded year the and""".split()
)


def _word(rng: random.Random, syllables: int) -> str:
    """A capitalised pronounceable word of ``syllables`` syllables (onset + vowel + maybe coda)."""
    parts = []
    for i in range(syllables):
        last = i == syllables - 1
        coda = rng.choice(_CODAS) if rng.random() < (0.55 if last else 0.15) else ""
        parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + coda)
    return "".join(parts).capitalize()


_VOWEL_LETTERS = "aeiou"
_CONSONANT_LETTERS = "bdfgklmnprstvz"


def _mutate(rng: random.Random, word: str) -> str:
    """Change one letter (vowel for vowel, consonant for consonant), keeping the first.

    >>> _mutate(random.Random(0), "Kestin") != "Kestin"
    True
    """
    position = rng.randrange(1, len(word))
    old = word[position].lower()
    pool = _VOWEL_LETTERS if old in _VOWEL_LETTERS else _CONSONANT_LETTERS
    new = rng.choice([c for c in pool if c != old])
    return word[:position] + new + word[position + 1 :]


class _Names:
    """Draws unique names; every content word is used by one entity only.

    Keeping *words* (not just full names) unique means a city name never hides inside a
    person's name, so "the answer appears in the document" really means the answer.
    First names are the one exception: people share a pool of them, as in life.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.words: set[str] = set()
        self.names: set[str] = set()

    def fresh_word(self, min_syllables: int = 2, max_syllables: int = 3, ending: str = "") -> str:
        for _ in range(1000):
            word = _word(self.rng, self.rng.randint(min_syllables, max_syllables)) + ending
            if self._free(word):
                self.words.add(word.lower())
                return word
        raise ConfigError("WorldConfig sizes exhaust the fictional name space; use smaller sizes")

    def near_word(self, word: str) -> str:
        for _ in range(200):
            candidate = _mutate(self.rng, word)
            if self._free(candidate):
                self.words.add(candidate.lower())
                return candidate
        return self.fresh_word()  # no one-letter neighbour left: fall back to a new word

    def claim(self, name: str) -> str:
        key = normalize_answer(name)
        if key in self.names:
            raise AssertionError(f"duplicate name {name!r}")  # unreachable: words are unique
        self.names.add(key)
        return name

    def _free(self, word: str) -> bool:
        lower = word.lower()
        return 4 <= len(word) <= 9 and lower not in self.words and lower not in _REAL_WORDS


# ----------------------------------------------------------------------------- templates

_FACT_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "birth_year"): (
        "{S} was born in {year}.",
        "{S} was born in the year {year}.",
        "Records give {year} as the year {S} was born.",
    ),
    ("person", "birth_city"): (
        "{S} was born in the city of {city}.",
        "{S} is a native of {city}.",
        "The birthplace of {S} is {city}.",
    ),
    ("person", "occupation"): (
        "{S} worked as {a} {occupation}.",
        "{S} is best known as {a} {occupation}.",
        "By profession, {S} was {a} {occupation}.",
    ),
    ("person", "employer"): (
        "{S} was employed by {company} for many years.",
        "{S} spent a long career at {company}.",
        "{company} employed {S} for many years.",
    ),
    ("person", "founded"): ("{S} founded {company} in {year}.",),
    ("person", "directed"): ("{S} directed the film {film}.",),
    ("company", "founder"): (
        "{S} was founded by {person}.",
        "The founder of {S} was {person}.",
        "{person} established {S}.",
    ),
    ("company", "founded_year"): (
        "{S} was founded in {year}.",
        "{S} has been in business since {year}.",
        "{S} was established in {year}.",
    ),
    ("company", "hq_city"): (
        "{S} is headquartered in {city}.",
        "The headquarters of {S} are in {city}.",
        "{S} is based in the city of {city}.",
    ),
    ("company", "industry"): (
        "{S} operates in the {industry} industry.",
        "{S} is {a} {industry} company.",
        "{S} made its name in {industry}.",
    ),
    ("film", "director"): (
        "{S} is a film directed by {person}.",
        "{person} directed {S}.",
        "The director of {S} was {person}.",
    ),
    ("film", "release_year"): (
        "{S} was released in {year}.",
        "{S} premiered in {year}.",
        "{S} first reached cinemas in {year}.",
    ),
    ("film", "filming_city"): (
        "{S} was filmed in {city}.",
        "Principal photography for {S} took place in {city}.",
        "{S} was shot on location in {city}.",
    ),
    ("city", "country"): (
        "{S} is a city in {country}.",
        "{S} is located in {country}.",
        "{S} lies in the country of {country}.",
    ),
    ("city", "founded_year"): (
        "{S} was founded in {year}.",
        "{S} dates its founding to {year}.",
        "Settlers founded {S} in {year}.",
    ),
    ("city", "river"): (
        "{S} lies on the banks of the {river}.",
        "{S} was built along the {river}.",
        "The {river} runs through the centre of {S}.",
    ),
    ("city", "capital_of"): (
        "{S} is the capital of {country}.",
        "{S} serves as the capital of {country}.",
    ),
    ("country", "capital"): (
        "The capital of {S} is {city}.",
        "{S} is governed from its capital, {city}.",
    ),
    ("country", "cities"): ("Cities of {S} include {cities}.",),
    ("country", "rivers"): ("The {river} flows through {S}.",),
    ("river", "length_km"): (
        "The {S} is {km} kilometres long.",
        "The {S} runs for {km} kilometres.",
        "The {S} has a total length of {km} km.",
    ),
    ("river", "country"): (
        "The {S} flows through {country}.",
        "The {S} is a river in {country}.",
        "The {S} crosses the country of {country}.",
    ),
}

# Filler states nothing a question asks about, names nobody but the subject, and avoids
# years, so it can never contradict a fact.
_FILLER: dict[str, tuple[str, ...]] = {
    "any": (
        "{S} is discussed in a number of regional histories.",
        "Further details about {S} are kept in local archives.",
        "Accounts of {S} vary in detail but agree on the main points.",
        "This article about {S} is a stub and may be expanded.",
        "A short bibliography on {S} lists several monographs.",
        "Students and researchers often write about {S}.",
    ),
    "person": (
        "{S} corresponded with many contemporaries.",
        "Colleagues remembered {S} as patient and exacting.",
        "Letters written by {S} survive in private collections.",
        "{S} rarely gave interviews.",
    ),
    "company": (
        "{S} publishes an annual report for its shareholders.",
        "{S} has changed its logo several times.",
        "Staff at {S} describe a cautious corporate culture.",
    ),
    "film": (
        "Critics offered mixed reviews of {S}.",
        "{S} has a devoted following among collectors.",
        "The score of {S} was praised by reviewers.",
    ),
    "city": (
        "{S} has a covered market and several old bridges.",
        "{S} is known for its narrow streets.",
        "{S} hosts a small annual fair.",
    ),
    "country": (
        "{S} has a temperate climate in most regions.",
        "{S} is divided into several provinces.",
    ),
    "river": (
        "The {S} is popular with anglers.",
        "The {S} freezes in hard winters.",
        "Barges still use parts of the {S}.",
    ),
}

_SINGLE_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "birth_city"): ("In which city was {s} born?", "Where was {s} born?"),
    ("person", "birth_year"): ("In what year was {s} born?", "When was {s} born?"),
    ("person", "occupation"): ("What was the occupation of {s}?", "What did {s} do for a living?"),
    ("person", "employer"): ("Which company did {s} work for?", "Which company employed {s}?"),
    ("company", "founder"): ("Who founded {s}?", "Who was the founder of {s}?"),
    ("company", "founded_year"): ("In what year was {s} founded?", "When was {s} founded?"),
    ("company", "hq_city"): ("In which city is {s} headquartered?", "Where is {s} based?"),
    ("company", "industry"): ("In which industry does {s} operate?", "What industry is {s} in?"),
    ("film", "director"): ("Who directed the film {s}?", "Who was the director of {s}?"),
    ("film", "release_year"): ("In what year was the film {s} released?", "When was {s} released?"),
    ("film", "filming_city"): ("In which city was the film {s} shot?", "Where was {s} filmed?"),
    ("city", "country"): ("In which country is {s} located?", "{s} is a city in which country?"),
    ("city", "founded_year"): ("In what year was the city of {s} founded?", "When was the city of {s} founded?"),
    ("city", "river"): ("Which river flows through {s}?", "On which river does {s} lie?"),
    ("country", "capital"): ("What is the capital of {s}?", "Which city is the capital of {s}?"),
    ("river", "length_km"): ("How long is the {s} in kilometres?", "What is the length of the {s} in kilometres?"),
    ("river", "country"): ("Through which country does the {s} flow?", "In which country is the {s}?"),
}

_BRIDGE_TEMPLATES: dict[tuple[str, str, str], str] = {
    ("company", "founder", "birth_city"): "In which city was the founder of {s} born?",
    ("company", "founder", "birth_year"): "In what year was the founder of {s} born?",
    ("film", "director", "birth_city"): "In which city was the director of the film {s} born?",
    ("film", "director", "birth_year"): "In what year was the director of the film {s} born?",
    ("person", "employer", "founder"): "Who founded the company that {s} worked for?",
    ("person", "employer", "hq_city"): "In which city is the company that {s} worked for headquartered?",
    ("person", "birth_city", "country"): "In which country was {s} born?",
    ("film", "filming_city", "country"): "In which country was the film {s} shot?",
    ("city", "country", "capital"): "What is the capital of the country where {s} is located?",
    ("company", "hq_city", "river"): "Which river flows through the city where {s} is headquartered?",
}

# (kind, relation, pick): pick "min" asks for the earlier value, "max" for the larger one.
_COMPARISON_TEMPLATES: dict[tuple[str, str, str], str] = {
    ("company", "founded_year", "min"): "Which company was founded first, {a} or {b}?",
    ("person", "birth_year", "min"): "Who was born earlier, {a} or {b}?",
    ("film", "release_year", "min"): "Which film was released first, {a} or {b}?",
    ("city", "founded_year", "min"): "Which city was founded earlier, {a} or {b}?",
    ("river", "length_km", "max"): "Which river is longer, the {a} or the {b}?",
}

_ENTITY_RELATIONS = frozenset(
    {"birth_city", "employer", "founder", "hq_city", "director", "filming_city", "country", "river", "capital"}
)
_MIN_DOC_WORDS = 30
_MAX_DOC_WORDS = 80
_LAST_YEAR = 2024


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ----------------------------------------------------------------------------- the world


@dataclass(frozen=True, eq=False)
class SyntheticWorld:
    """An immutable generated world: entities, corpus documents and questions.

    Build one with :func:`make_world` (cached) or :meth:`generate`. Equality and hash
    go by ``config``: a world is a pure function of its config, and hashing by config
    keeps caches keyed on worlds cheap.

    >>> world = make_world(seed=0)
    >>> world is make_world(seed=0), len(world.documents) > 1000
    (True, True)
    >>> sorted({row.data_source for row in world.questions("test")})
    ['synthetic-bridge', 'synthetic-comparison', 'synthetic-single']
    """

    config: WorldConfig
    entities: tuple[Entity, ...]
    documents: tuple[CorpusDoc, ...]
    question_records: tuple[WorldQuestion, ...]
    _by_name: dict[str, Entity] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {e.name: e for e in self.entities})

    @classmethod
    def generate(cls, config: WorldConfig | None = None) -> SyntheticWorld:
        """Generate a world from ``config`` (default :class:`WorldConfig`). Not cached."""
        return _generate(config or WorldConfig())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SyntheticWorld) and other.config == self.config

    def __hash__(self) -> int:
        return hash(self.config)

    def entity(self, name: str) -> Entity:
        """The entity called ``name`` (exact spelling); KeyError if there is none."""
        return self._by_name[name]

    def entities_of(self, kind: str, *, distractors: bool = False) -> tuple[Entity, ...]:
        """Entities of one kind ("person", "city", ...); distractors only if asked."""
        if kind not in ENTITY_KINDS:
            raise ConfigError(f"entities_of expects one of {list(ENTITY_KINDS)}, got {kind!r}")
        return tuple(e for e in self.entities if e.kind == kind and (distractors or e.distractor_of is None))

    def questions(self, split: str | None = None) -> list[QARow]:
        """The question rows of ``split`` ("train", "test") or of both (None)."""
        return [record.row for record in self.records(split)]

    def records(self, split: str | None = None) -> list[WorldQuestion]:
        """Like :meth:`questions`, with the facts (hops) behind each question."""
        if split is not None and split not in SPLITS:
            raise ConfigError(f"split expects one of {list(SPLITS)} or None, got {split!r}")
        return [r for r in self.question_records if split is None or r.row.split == split]

    def write(self, directory: str | Path) -> WorldFiles:
        """Write ``corpus.jsonl`` ({"id", "contents"}) and ``train.jsonl`` / ``test.jsonl``
        ({"id", "question", "golden_answers", "data_source"}), FlashRAG style."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = WorldFiles(out / "corpus.jsonl", out / "train.jsonl", out / "test.jsonl")
        _write_jsonl(files.corpus, ({"id": d.id, "contents": d.contents} for d in self.documents))
        for split, path in (("train", files.train), ("test", files.test)):
            _write_jsonl(
                path,
                (
                    {"id": r.id, "question": r.question, "golden_answers": list(r.golden_answers), "data_source": r.data_source}
                    for r in self.questions(split)
                ),
            )
        return files


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@functools.lru_cache(maxsize=8)
def make_world(seed: int = 0, **sizes: int | float) -> SyntheticWorld:
    """The synthetic world for ``seed`` and optional :class:`WorldConfig` sizes, cached.

    Caching is safe because a world is immutable (frozen dataclasses and tuples) and a
    pure function of its arguments; every caller shares one instance.

    >>> make_world(seed=1, num_people=50).config.num_people
    50
    """
    valid = {f.name for f in fields(WorldConfig)} - {"seed"}
    unknown = sorted(set(sizes) - valid)
    if unknown:
        raise ConfigError(f"make_world expects sizes among {sorted(valid)}, got {unknown}")
    return _generate(WorldConfig(seed=seed, **sizes))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- generation


def _generate(config: WorldConfig) -> SyntheticWorld:
    rng = random.Random(config.seed)
    names = _Names(rng)
    raw = _draw_entities(config, rng, names)
    entities = _mark_held_out(config, rng, raw)
    by_name = {e.name: e for e in entities}
    documents = _write_documents(rng, entities)
    records = _draw_questions(config, rng, entities, by_name)
    return SyntheticWorld(config, tuple(entities), documents, records)


def _draw_entities(config: WorldConfig, rng: random.Random, names: _Names) -> list[Entity]:
    """Real entities first, then the distractors (which reference real ones only)."""
    countries = [names.claim(names.fresh_word(1, 2, rng.choice(_COUNTRY_ENDINGS))) for _ in range(config.num_countries)]
    city_names = [names.claim(names.fresh_word(2, 3)) for _ in range(config.num_cities)]
    city_country = countries + [rng.choice(countries) for _ in range(config.num_cities - config.num_countries)]
    river_country = countries[: config.num_rivers] + [rng.choice(countries) for _ in range(config.num_rivers - len(countries))]
    rivers = [River(names.claim(names.fresh_word(2, 2) + " River"), country, rng.randint(80, 999)) for country in river_country]
    rivers_by_country: dict[str, list[str]] = {}
    for river in rivers:
        rivers_by_country.setdefault(river.country, []).append(river.name)
    cities = []
    for name, country in zip(city_names, city_country):
        options = rivers_by_country.get(country, [])
        river = rng.choice(options) if options and rng.random() < 0.7 else None
        cities.append(City(name, country, rng.randint(1000, 1850), river))
    country_entities = [Country(name, city_names[i]) for i, name in enumerate(countries)]

    first_names = [names.fresh_word(2, 3) for _ in range(max(8, config.num_people // 4))]
    n_directors = max(1, min(config.num_people - 1, round(config.num_people / 8)))
    people: list[dict] = []
    for i in range(config.num_people):
        director = i < n_directors
        people.append(
            {
                "name": names.claim(f"{rng.choice(first_names)} {names.fresh_word(2, 3)}"),
                "birth_year": rng.randint(1850, 1975) if director else rng.randint(1800, 1990),
                "birth_city": rng.choice(city_names),
                "occupation": DIRECTOR if director else rng.choice(OCCUPATIONS),
                "employer": None,
            }
        )
    directors, others = people[:n_directors], people[n_directors:]

    companies = []
    if config.num_companies <= len(others):
        founders = rng.sample(others, config.num_companies)
    else:  # more companies than possible founders: some found several
        founders = [rng.choice(others) for _ in range(config.num_companies)]
    for founder in founders:
        industry = rng.choice(sorted(INDUSTRIES))
        suffix = INDUSTRIES[industry] if rng.random() < 0.5 else rng.choice(GENERIC_COMPANY_SUFFIXES)
        year = founder["birth_year"] + rng.randint(22, min(50, _LAST_YEAR - founder["birth_year"]))
        name = names.claim(f"{names.fresh_word(2, 3)} {suffix}")
        companies.append(Company(name, founder["name"], rng.choice(city_names), year, industry))
    films = []
    for _ in range(config.num_films):
        director = rng.choice(directors)
        year = director["birth_year"] + rng.randint(25, min(60, _LAST_YEAR - director["birth_year"]))
        name = names.claim(f"The {rng.choice(_FILM_ADJECTIVES)} {names.fresh_word(2, 2)}")
        films.append(Film(name, director["name"], year, rng.choice(city_names)))

    founded_by: dict[str, set[str]] = {}
    for company in companies:
        founded_by.setdefault(company.founder, set()).add(company.name)
    for person in people:
        if rng.random() < 0.75:
            options = [
                c.name
                for c in companies
                if c.founded_year <= person["birth_year"] + 45 and c.name not in founded_by.get(person["name"], ())
            ]
            person["employer"] = rng.choice(options) if options else None
    real: list[Entity] = [*country_entities, *cities, *rivers, *(Person(**p) for p in people), *companies, *films]
    return real + _draw_distractors(config, rng, names, cities, people, companies, films, city_names, directors, others)


def _draw_distractors(config, rng, names, cities, people, companies, films, city_names, directors, others) -> list[Entity]:
    """Near-namesakes: one letter of one word changed, every attribute redrawn to differ."""

    def other(options: Sequence, not_this):
        choices = [o for o in options if o != not_this]
        return rng.choice(choices) if choices else not_this

    def other_year(year: int, low: int, high: int) -> int:
        return other(range(low, high + 1), year)

    kinds = rng.choices(("person", "company", "film", "city"), weights=(5, 2, 2, 1), k=config.num_distractors)
    pools = {"person": list(people), "company": list(companies), "film": list(films), "city": list(cities)}
    for pool in pools.values():
        rng.shuffle(pool)
    out: list[Entity] = []
    for kind in kinds:
        if not pools[kind]:
            continue
        base = pools[kind].pop()
        if kind == "person":
            first, last = base["name"].split(" ")
            name = f"{first} {names.near_word(last)}" if rng.random() < 0.7 else f"{names.near_word(first)} {last}"
            employer = rng.choice(companies).name if rng.random() < 0.75 else None
            out.append(
                Person(
                    names.claim(name),
                    other_year(base["birth_year"], 1800, 1990),
                    other(city_names, base["birth_city"]),
                    other(OCCUPATIONS, base["occupation"]),
                    None if employer == base["employer"] else employer,
                    distractor_of=base["name"],
                )
            )
        elif kind == "company":
            core, suffix = base.name.split(" ", 1)
            founder = other([p["name"] for p in others], base.founder)
            name = names.claim(f"{names.near_word(core)} {suffix}")
            year = other_year(base.founded_year, 1830, _LAST_YEAR)
            out.append(Company(name, founder, other(city_names, base.hq_city), year, base.industry, distractor_of=base.name))
        elif kind == "film":
            the, adjective, core = base.name.split(" ")
            name = names.claim(f"{the} {adjective} {names.near_word(core)}")
            director = other([d["name"] for d in directors], base.director)
            year = other_year(base.release_year, 1880, _LAST_YEAR)
            out.append(Film(name, director, year, other(city_names, base.filming_city), distractor_of=base.name))
        else:
            name = names.claim(names.near_word(base.name))
            country = other(sorted({c.country for c in cities}), base.country)
            out.append(City(name, country, other_year(base.founded_year, 1000, 1850), None, distractor_of=base.name))
    return out


def _mark_held_out(config: WorldConfig, rng: random.Random, entities: list[Entity]) -> list[Entity]:
    """Hold out ``test_fraction`` of the real entities of each kind as test subjects."""
    held: set[str] = set()
    for kind in ENTITY_KINDS:
        pool = [e.name for e in entities if e.kind == kind and e.distractor_of is None]
        count = min(len(pool) - 1, max(1, round(config.test_fraction * len(pool)))) if len(pool) > 1 else 0
        held.update(rng.sample(pool, count))
    return [replace(e, held_out=True) if e.name in held else e for e in entities]


# ----------------------------------------------------------------------------- documents


_Fact = tuple[tuple[str, str], dict]  # (key of _FACT_TEMPLATES, values to fill in)


def _facts(entity: Entity, reverse: dict[str, list[_Fact]]) -> list[_Fact]:
    """(template key, fields) for every fact stated about ``entity``."""
    e = entity
    if isinstance(e, Person):
        facts = [
            (("person", "birth_year"), {"year": e.birth_year}),
            (("person", "birth_city"), {"city": e.birth_city}),
            (("person", "occupation"), {"occupation": e.occupation, "a": _article(e.occupation)}),
        ]
        if e.employer:
            facts.append((("person", "employer"), {"company": e.employer}))
    elif isinstance(e, Company):
        facts = [
            (("company", "founder"), {"person": e.founder}),
            (("company", "founded_year"), {"year": e.founded_year}),
            (("company", "hq_city"), {"city": e.hq_city}),
            (("company", "industry"), {"industry": e.industry, "a": _article(e.industry)}),
        ]
    elif isinstance(e, Film):
        facts = [
            (("film", "director"), {"person": e.director}),
            (("film", "release_year"), {"year": e.release_year}),
            (("film", "filming_city"), {"city": e.filming_city}),
        ]
    elif isinstance(e, City):
        facts = [(("city", "country"), {"country": e.country}), (("city", "founded_year"), {"year": e.founded_year})]
        if e.river:
            facts.append((("city", "river"), {"river": e.river}))
    elif isinstance(e, Country):
        facts = [(("country", "capital"), {"city": e.capital})]
    else:
        facts = [(("river", "length_km"), {"km": e.length_km}), (("river", "country"), {"country": e.country})]
    return facts + reverse.get(e.name, [])


def _reverse_facts(entities: Sequence[Entity], rng: random.Random) -> dict[str, list[_Fact]]:
    """Facts told from the other side (the founder's page mentions the company), so a
    bridge question can be followed from either end, as on a real encyclopedia."""
    reverse: dict[str, list[_Fact]] = {}
    for e in entities:
        if e.distractor_of is not None:
            continue
        if isinstance(e, Company):
            reverse.setdefault(e.founder, []).append((("person", "founded"), {"company": e.name, "year": e.founded_year}))
        elif isinstance(e, Film):
            reverse.setdefault(e.director, []).append((("person", "directed"), {"film": e.name}))
        elif isinstance(e, Country):
            reverse.setdefault(e.capital, []).append((("city", "capital_of"), {"country": e.name}))
    by_country: dict[str, list[str]] = {}
    for e in entities:
        if isinstance(e, City) and e.distractor_of is None:
            by_country.setdefault(e.country, []).append(e.name)
        elif isinstance(e, River):
            reverse.setdefault(e.country, []).append((("country", "rivers"), {"river": e.name}))
    for country, cities in by_country.items():
        listed = rng.sample(cities, min(3, len(cities)))
        text = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        reverse.setdefault(country, []).append((("country", "cities"), {"cities": text}))
    return reverse


def _write_documents(rng: random.Random, entities: Sequence[Entity]) -> tuple[CorpusDoc, ...]:
    """One to three documents per entity, facts dealt among them, padded with filler."""
    reverse = _reverse_facts(entities, rng)
    bodies: list[tuple[str, str]] = []
    for entity in entities:
        facts = _facts(entity, reverse)
        rng.shuffle(facts)
        count = max(rng.randint(1, min(3, len(facts))), math.ceil(len(facts) / 4))
        groups: list[list[str]] = [[] for _ in range(count)]
        for i, (key, values) in enumerate(facts):
            groups[i % count].append(rng.choice(_FACT_TEMPLATES[key]).format(S=entity.name, **values))
        fillers = _FILLER["any"] + _FILLER[entity.kind]
        for sentences in groups:
            bodies.append((entity.name, _pad(rng, sentences, fillers, entity.name)))
    rng.shuffle(bodies)
    return tuple(CorpusDoc(f"syn-{i:06d}", f'"{title}"\n{body}') for i, (title, body) in enumerate(bodies))


def _pad(rng: random.Random, sentences: list[str], fillers: Sequence[str], name: str) -> str:
    """Add filler until the document (title included) has at least _MIN_DOC_WORDS words."""
    words = len(name.split()) + sum(len(s.split()) for s in sentences)
    pool = list(fillers)
    rng.shuffle(pool)
    out = list(sentences)
    while pool and (words < _MIN_DOC_WORDS or rng.random() < 0.25):
        filler = pool.pop().format(S=name)
        if words + len(filler.split()) > _MAX_DOC_WORDS:
            break
        out.insert(rng.randint(1, len(out)), filler)  # a fact always opens the document
        words += len(filler.split())
    return " ".join(out)


# ----------------------------------------------------------------------------- questions


def _value(entity: Entity, relation: str) -> object:
    return getattr(entity, relation)


def _answers(value: object, relation: str, by_name: dict[str, Entity]) -> tuple[str, ...]:
    """Golden answers for a value: the name (plus a river's short name), a year, a length."""
    if relation == "length_km":
        return (str(value), f"{value} km", f"{value} kilometres")
    if relation in _ENTITY_RELATIONS:
        return _name_answers(str(value), by_name)
    return (str(value),)


def _name_answers(name: str, by_name: dict[str, Entity]) -> tuple[str, ...]:
    target = by_name[name]
    return (target.name, target.short_name) if isinstance(target, River) else (target.name,)


def _draw_questions(
    config: WorldConfig, rng: random.Random, entities: Sequence[Entity], by_name: dict[str, Entity]
) -> tuple[WorldQuestion, ...]:
    real = [e for e in entities if e.distractor_of is None]
    singles, bridges = [], []
    for e in real:
        split = "test" if e.held_out else "train"
        for (kind, relation), templates in _SINGLE_TEMPLATES.items():
            if kind == e.kind and _value(e, relation) is not None:
                singles.append((e, relation, split, rng.choice(templates)))
        for (kind, first, second), template in _BRIDGE_TEMPLATES.items():
            if kind != e.kind or _value(e, first) is None:
                continue
            middle = by_name[str(_value(e, first))]
            if _value(middle, second) is None or (second == "capital" and _value(middle, second) == e.name):
                continue
            bridges.append((e, first, middle, second, split, template))

    records: list[tuple[QARow, tuple[Hop, ...]]] = []
    for e, relation, split, template in rng.sample(singles, min(config.single_hop_questions, len(singles))):
        value = _value(e, relation)
        row = QARow(template.format(s=e.name), _answers(value, relation, by_name), data_source="synthetic-single", split=split)
        records.append((row, (Hop(e.name, relation, str(value)),)))
    for e, first, middle, second, split, template in rng.sample(bridges, min(config.bridge_questions, len(bridges))):
        value = _value(middle, second)
        row = QARow(template.format(s=e.name), _answers(value, second, by_name), data_source="synthetic-bridge", split=split)
        records.append((row, (Hop(e.name, first, middle.name), Hop(middle.name, second, str(value)))))
    records.extend(_draw_comparisons(config, rng, real, by_name))

    rng.shuffle(records)
    return tuple(
        WorldQuestion(QARow(r.question, r.golden_answers, f"syn-q-{i:06d}", r.data_source, None, (), r.split), hops)
        for i, (r, hops) in enumerate(records)
    )


def _draw_comparisons(
    config: WorldConfig, rng: random.Random, real: Sequence[Entity], by_name: dict[str, Entity]
) -> list[tuple[QARow, tuple[Hop, ...]]]:
    """Pairs of same-kind subjects from one split whose compared values differ."""
    pools: dict[tuple[str, str], list[Entity]] = {}
    for e in real:
        pools.setdefault((e.kind, "test" if e.held_out else "train"), []).append(e)
    keys = sorted(_COMPARISON_TEMPLATES)
    seen: set[frozenset[str]] = set()
    out = []
    for _ in range(20 * config.comparison_questions):
        if len(out) >= config.comparison_questions:
            break
        kind, relation, pick = rng.choice(keys)
        split = "test" if rng.random() < config.test_fraction else "train"
        pool = pools.get((kind, split), [])
        if len(pool) < 2:
            continue
        a, b = rng.sample(pool, 2)
        va, vb = _value(a, relation), _value(b, relation)
        if va == vb or frozenset((a.name, b.name)) in seen:
            continue
        seen.add(frozenset((a.name, b.name)))
        winner = a if (va < vb) == (pick == "min") else b  # type: ignore[operator]
        question = _COMPARISON_TEMPLATES[(kind, relation, pick)].format(a=a.name, b=b.name)
        row = QARow(question, _name_answers(winner.name, by_name), data_source="synthetic-comparison", split=split)
        out.append((row, (Hop(a.name, relation, str(va)), Hop(b.name, relation, str(vb)))))
    return out
