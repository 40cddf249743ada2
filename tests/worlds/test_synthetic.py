"""The synthetic world: deterministic, consistent, answerable, split cleanly."""

from __future__ import annotations

import functools
import json
import pickle
import re
from collections import Counter

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.records import CorpusDoc, QARow
from zerosearch_env.reward import normalize_answer
from zerosearch_env.worlds.synthetic import (
    DATA_SOURCES,
    SyntheticWorld,
    WorldConfig,
    make_world,
)

SMALL = {
    "num_countries": 4,
    "num_cities": 12,
    "num_rivers": 5,
    "num_people": 60,
    "num_companies": 15,
    "num_films": 15,
    "num_distractors": 10,
}


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return make_world(seed=0)


def _padded(text: str) -> str:
    return f" {normalize_answer(text)} "


def _mentions(doc: str, phrase: str) -> bool:
    """Normalised, word-bounded containment (what the corpus simulator checks)."""
    return _padded(phrase) in doc


@pytest.fixture(scope="module")
def padded_docs(world: SyntheticWorld) -> list[str]:
    return [_padded(d.contents) for d in world.documents]


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_world() -> None:
    a, b = SyntheticWorld.generate(WorldConfig(seed=3, **SMALL)), SyntheticWorld.generate(WorldConfig(seed=3, **SMALL))
    assert a is not b
    assert a.documents == b.documents
    assert a.questions() == b.questions()
    assert a.entities == b.entities


def test_different_seed_different_world() -> None:
    a, b = make_world(seed=3, **SMALL), make_world(seed=4, **SMALL)
    assert a.documents != b.documents
    assert {r.question for r in a.questions()}.isdisjoint({r.question for r in b.questions()})


def test_make_world_is_cached_and_does_not_touch_global_rng() -> None:
    import random

    import numpy as np

    random.seed(123)
    np.random.seed(123)
    before = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    world = SyntheticWorld.generate(WorldConfig(seed=9, **SMALL))
    assert (random.random(), np.random.random()) == before
    assert make_world(seed=9, **SMALL) is make_world(seed=9, **SMALL)
    assert make_world(seed=9, **SMALL) == world  # equality goes by config


def test_pickle_round_trip(world: SyntheticWorld) -> None:
    clone = pickle.loads(pickle.dumps(world))
    assert clone == world and hash(clone) == hash(world)
    assert clone.documents == world.documents
    assert clone.questions() == world.questions()
    assert clone.entity(world.entities[0].name) == world.entities[0]


# ----------------------------------------------------------------------------- sizes and shape


def test_default_sizes(world: SyntheticWorld) -> None:
    config = world.config
    real = Counter(e.kind for e in world.entities if e.distractor_of is None)
    assert real == {
        "country": config.num_countries,
        "city": config.num_cities,
        "river": config.num_rivers,
        "person": config.num_people,
        "company": config.num_companies,
        "film": config.num_films,
    }
    assert sum(e.distractor_of is not None for e in world.entities) == config.num_distractors
    assert 2000 <= len(world.documents) <= 4000
    sources = Counter(r.data_source for r in world.questions())
    assert sources == {
        "synthetic-single": config.single_hop_questions,
        "synthetic-bridge": config.bridge_questions,
        "synthetic-comparison": config.comparison_questions,
    }


def test_small_sizes_honoured() -> None:
    world = make_world(seed=1, **SMALL, single_hop_questions=30, bridge_questions=20, comparison_questions=10)
    kinds = Counter(e.kind for e in world.entities if e.distractor_of is None)
    assert kinds["person"] == 60 and kinds["company"] == 15 and kinds["city"] == 12
    assert Counter(r.data_source for r in world.questions()) == {
        "synthetic-single": 30,
        "synthetic-bridge": 20,
        "synthetic-comparison": 10,
    }


def test_documents_are_flashrag_style(world: SyntheticWorld) -> None:
    ids = [d.id for d in world.documents]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"syn-\d{6}", i) for i in ids)
    names = {e.name for e in world.entities}
    for doc in world.documents:
        assert isinstance(doc, CorpusDoc)
        title, text = doc.contents.split("\n", 1)
        assert title.startswith('"') and title.endswith('"') and title[1:-1] in names
        assert title[1:-1] in text  # every document names its subject
        assert 30 <= len(doc.contents.split()) <= 80
    per_entity = Counter(d.contents.split("\n", 1)[0] for d in world.documents)
    assert set(per_entity.values()) <= {1, 2, 3}
    assert len(per_entity) == len(world.entities)


def test_question_rows(world: SyntheticWorld) -> None:
    rows = world.questions()
    assert all(isinstance(r, QARow) for r in rows)
    assert len({r.id for r in rows}) == len(rows)
    assert all(re.fullmatch(r"syn-q-\d{6}", r.id) for r in rows)
    assert {r.data_source for r in rows} == set(DATA_SOURCES)
    assert all(r.prompt is None and r.golden_answers and isinstance(r.golden_answers, tuple) for r in rows)
    assert len({r.question for r in rows}) == len(rows)


def test_names_are_unique_and_distractors_are_near(world: SyntheticWorld) -> None:
    keys = [normalize_answer(e.name) for e in world.entities]
    assert len(set(keys)) == len(keys)
    distractors = [e for e in world.entities if e.distractor_of is not None]
    assert distractors
    for e in distractors:
        original = world.entity(e.distractor_of)
        assert original.kind == e.kind and original.distractor_of is None
        assert len(e.name) == len(original.name)
        assert sum(x != y for x, y in zip(e.name, original.name)) == 1
        assert e != original


def test_entities_are_consistent(world: SyntheticWorld) -> None:
    for e in world.entities_of("company"):
        founder = world.entity(e.founder)
        assert founder.kind == "person" and founder.birth_year < e.founded_year
    for e in world.entities_of("film"):
        assert world.entity(e.director).occupation == "film director"
    for e in world.entities_of("country"):
        assert world.entity(e.capital).country == e.name
    for e in world.entities_of("city"):
        assert e.river is None or world.entity(e.river).country == e.country


# ----------------------------------------------------------------------------- answerable


def test_every_question_is_answerable(world: SyntheticWorld, padded_docs: list[str]) -> None:
    postings: dict[str, set[int]] = {}
    for i, doc in enumerate(padded_docs):
        for word in doc.split():
            postings.setdefault(word, set()).add(i)

    @functools.cache
    def docs_with(phrase: str) -> frozenset[int]:
        words = normalize_answer(phrase).split()
        candidates = set.intersection(*(postings.get(w, set()) for w in words))
        return frozenset(i for i in candidates if _mentions(padded_docs[i], phrase))

    def co_occur(subject: str, answer: str) -> bool:
        return bool(docs_with(subject) & docs_with(answer))

    for record in world.records():
        row = record.row
        assert docs_with(row.golden_answers[0]), row
        for hop in record.hops:
            assert co_occur(hop.subject, hop.answer), (row.question, hop)
        if row.data_source == "synthetic-single":
            assert len(record.hops) == 1 and record.hops[0].subject in row.question
            assert normalize_answer(record.hops[0].answer) in map(normalize_answer, row.golden_answers)
        elif row.data_source == "synthetic-bridge":
            first, second = record.hops
            assert first.subject in row.question and first.answer == second.subject
            assert first.answer not in row.question  # the bridge entity must be found
        else:
            a, b = record.hops
            assert row.golden_answers[0] in (a.subject, b.subject)
            assert a.subject in row.question and b.subject in row.question and a.answer != b.answer


# ----------------------------------------------------------------------------- splits


def test_splits(world: SyntheticWorld) -> None:
    train, test = world.records("train"), world.records("test")
    assert train and test
    assert len(train) + len(test) == len(world.questions())
    assert {r.row.id for r in train}.isdisjoint({r.row.id for r in test})
    assert {r.row.question for r in train}.isdisjoint({r.row.question for r in test})
    assert {r.row.data_source for r in test} == set(DATA_SOURCES)

    # Held-out facts: no subject asked about in test is asked about in train.
    def subjects(records) -> set[str]:
        """What a question asks about: the first hop's subject, or both compared entities."""
        return {r.hops[0].subject for r in records} | {r.hops[1].subject for r in records if r.row.data_source == "synthetic-comparison"}

    asked_in_train, asked_in_test = subjects(train), subjects(test)
    assert asked_in_train.isdisjoint(asked_in_test)
    assert all(world.entity(s).held_out for s in asked_in_test)
    assert 0.1 < len(test) / len(world.questions()) < 0.3


def test_bad_split_raises(world: SyntheticWorld) -> None:
    with pytest.raises(ConfigError, match=r"\['train', 'test'\].*'dev'"):
        world.questions("dev")


# ----------------------------------------------------------------------------- export


def test_write(tmp_path, world: SyntheticWorld) -> None:
    files = world.write(tmp_path / "world")
    assert [p.name for p in files] == ["corpus.jsonl", "train.jsonl", "test.jsonl"]
    corpus = [json.loads(line) for line in files.corpus.read_text(encoding="utf-8").splitlines()]
    assert [(c["id"], c["contents"]) for c in corpus] == [(d.id, d.contents) for d in world.documents]
    for split, path in (("train", files.train), ("test", files.test)):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert set(rows[0]) == {"id", "question", "golden_answers", "data_source"}
        assert [(r["id"], r["question"], tuple(r["golden_answers"])) for r in rows] == [(q.id, q.question, q.golden_answers) for q in world.questions(split)]


# ----------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_people": 1}, r"num_people expects an int >= 2, got 1"),
        ({"num_films": 0}, r"num_films expects an int >= 1, got 0"),
        ({"num_cities": 2.5}, r"num_cities expects an int >= 1, got 2.5"),
        ({"num_companies": True}, r"num_companies expects an int >= 1, got True"),
        ({"num_countries": 10, "num_cities": 5}, r"num_cities expects at least num_countries=10"),
        ({"test_fraction": 1.0}, r"test_fraction expects a float in \(0, 1\), got 1.0"),
        ({"seed": -1}, r"seed expects an int >= 0, got -1"),
        ({"num_people": 10**6}, r"num_people expects an int <= 20000"),
    ],
)
def test_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorldConfig(**kwargs)


def test_make_world_rejects_unknown_sizes() -> None:
    with pytest.raises(ConfigError, match=r"make_world expects sizes among .*got \['num_planets'\]"):
        make_world(num_planets=3)
