"""Drawing a world: entities, distractors, held-out subjects, documents and questions.

Everything is drawn from one ``random.Random(config.seed)``, in a fixed order, so the
same config always gives the same world byte for byte. :func:`draw_world` returns the
parts; :mod:`.world` wraps them in a :class:`~.world.SyntheticWorld`, which keeps
imports one-way (this module never needs the world class).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from ...records import CorpusDoc, QARow
from .config import WorldConfig
from .entities import ENTITY_KINDS, City, Company, Country, Entity, Film, Hop, Person, River, WorldQuestion
from .names import COUNTRY_ENDINGS, DIRECTOR, FILM_ADJECTIVES, GENERIC_COMPANY_SUFFIXES, INDUSTRIES, OCCUPATIONS, Names
from .templates import BRIDGE_TEMPLATES, COMPARISON_TEMPLATES, FACT_TEMPLATES, FILLER, SINGLE_TEMPLATES, article

T = TypeVar("T")

# Relations whose value is another entity's name (answered by that entity's names).
_ENTITY_RELATIONS = frozenset({"birth_city", "employer", "founder", "hq_city", "director", "filming_city", "country", "river", "capital"})
_MIN_DOC_WORDS = 30  # documents are padded with filler up to this length (title included)
_MAX_DOC_WORDS = 80
_LAST_YEAR = 2024  # no company is founded, and no film released, after this year


def draw_world(config: WorldConfig) -> tuple[tuple[Entity, ...], tuple[CorpusDoc, ...], tuple[WorldQuestion, ...]]:
    """The entities, documents and question records of the world for ``config``."""
    rng = random.Random(config.seed)
    names = Names(rng)
    raw = _draw_entities(config, rng, names)
    entities = _mark_held_out(config, rng, raw)
    by_name = {e.name: e for e in entities}
    documents = _write_documents(rng, entities)
    records = _draw_questions(config, rng, entities, by_name)
    return tuple(entities), documents, records


def _draw_entities(config: WorldConfig, rng: random.Random, names: Names) -> list[Entity]:
    """Real entities first, then the distractors (which reference real ones only)."""
    countries = [names.claim(names.fresh_word(1, 2, rng.choice(COUNTRY_ENDINGS))) for _ in range(config.num_countries)]
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
        on_river = rng.choice(options) if options and rng.random() < 0.7 else None
        cities.append(City(name, country, rng.randint(1000, 1850), on_river))
    country_entities = [Country(name, city_names[i]) for i, name in enumerate(countries)]

    first_names = [names.fresh_word(2, 3) for _ in range(max(8, config.num_people // 4))]
    n_directors = max(1, min(config.num_people - 1, round(config.num_people / 8)))
    people: list[dict[str, Any]] = []
    for i in range(config.num_people):
        directs = i < n_directors
        people.append(
            {
                "name": names.claim(f"{rng.choice(first_names)} {names.fresh_word(2, 3)}"),
                "birth_year": rng.randint(1850, 1975) if directs else rng.randint(1800, 1990),
                "birth_city": rng.choice(city_names),
                "occupation": DIRECTOR if directs else rng.choice(OCCUPATIONS),
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
        name = names.claim(f"The {rng.choice(FILM_ADJECTIVES)} {names.fresh_word(2, 2)}")
        films.append(Film(name, director["name"], year, rng.choice(city_names)))

    founded_by: dict[str, set[str]] = {}
    for company in companies:
        founded_by.setdefault(company.founder, set()).add(company.name)
    for person in people:
        if rng.random() < 0.75:
            options = [c.name for c in companies if c.founded_year <= person["birth_year"] + 45 and c.name not in founded_by.get(person["name"], ())]
            person["employer"] = rng.choice(options) if options else None
    real: list[Entity] = [*country_entities, *cities, *rivers, *(Person(**p) for p in people), *companies, *films]
    return real + _draw_distractors(config, rng, names, cities, people, companies, films, city_names, directors, others)


def _draw_distractors(
    config: WorldConfig,
    rng: random.Random,
    names: Names,
    cities: list[City],
    people: list[dict[str, Any]],
    companies: list[Company],
    films: list[Film],
    city_names: list[str],
    directors: list[dict[str, Any]],
    others: list[dict[str, Any]],
) -> list[Entity]:
    """Near-namesakes: one letter of one word changed, every attribute redrawn to differ."""

    def other(options: Sequence[T], not_this: T) -> T:
        choices = [o for o in options if o != not_this]
        return rng.choice(choices) if choices else not_this

    def other_year(year: int, low: int, high: int) -> int:
        return other(range(low, high + 1), year)

    kinds = rng.choices(("person", "company", "film", "city"), weights=(5, 2, 2, 1), k=config.num_distractors)
    pools: dict[str, list[Any]] = {"person": list(people), "company": list(companies), "film": list(films), "city": list(cities)}
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


_Fact = tuple[tuple[str, str], dict[str, Any]]  # (key of FACT_TEMPLATES, values to fill in)


def _facts(entity: Entity, reverse: dict[str, list[_Fact]]) -> list[_Fact]:
    """(template key, fields) for every fact stated about ``entity``."""
    e = entity
    facts: list[_Fact]
    if isinstance(e, Person):
        facts = [
            (("person", "birth_year"), {"year": e.birth_year}),
            (("person", "birth_city"), {"city": e.birth_city}),
            (("person", "occupation"), {"occupation": e.occupation, "a": article(e.occupation)}),
        ]
        if e.employer:
            facts.append((("person", "employer"), {"company": e.employer}))
    elif isinstance(e, Company):
        facts = [
            (("company", "founder"), {"person": e.founder}),
            (("company", "founded_year"), {"year": e.founded_year}),
            (("company", "hq_city"), {"city": e.hq_city}),
            (("company", "industry"), {"industry": e.industry, "a": article(e.industry)}),
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
            groups[i % count].append(rng.choice(FACT_TEMPLATES[key]).format(S=entity.name, **values))
        fillers = FILLER["any"] + FILLER[entity.kind]
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


def _draw_questions(config: WorldConfig, rng: random.Random, entities: Sequence[Entity], by_name: dict[str, Entity]) -> tuple[WorldQuestion, ...]:
    real = [e for e in entities if e.distractor_of is None]
    singles, bridges = [], []
    for e in real:
        split = "test" if e.held_out else "train"
        for (kind, relation), templates in SINGLE_TEMPLATES.items():
            if kind == e.kind and _value(e, relation) is not None:
                singles.append((e, relation, split, rng.choice(templates)))
        for (kind, first, second), template in BRIDGE_TEMPLATES.items():
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
        WorldQuestion(QARow(r.question, r.golden_answers, f"syn-q-{i:06d}", r.data_source, None, (), r.split), hops) for i, (r, hops) in enumerate(records)
    )


def _draw_comparisons(config: WorldConfig, rng: random.Random, real: Sequence[Entity], by_name: dict[str, Entity]) -> list[tuple[QARow, tuple[Hop, ...]]]:
    """Pairs of same-kind subjects from one split whose compared values differ."""
    pools: dict[tuple[str, str], list[Entity]] = {}
    for e in real:
        pools.setdefault((e.kind, "test" if e.held_out else "train"), []).append(e)
    keys = sorted(COMPARISON_TEMPLATES)
    seen: set[frozenset[str]] = set()
    out: list[tuple[QARow, tuple[Hop, ...]]] = []
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
        question = COMPARISON_TEMPLATES[(kind, relation, pick)].format(a=a.name, b=b.name)
        row = QARow(question, _name_answers(winner.name, by_name), data_source="synthetic-comparison", split=split)
        out.append((row, (Hop(a.name, relation, str(va)), Hop(b.name, relation, str(vb)))))
    return out
