"""The synthetic world as callers see it: :class:`SyntheticWorld` and the cached :func:`make_world`.

This is the top of the package: it wraps what :mod:`.generation` draws in an immutable
world with lookups, splits and a FlashRAG-style writer, and caches worlds by their
arguments so every caller shares one instance.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

from ...errors import ConfigError
from ...records import CorpusDoc, QARow
from .config import WorldConfig
from .entities import ENTITY_KINDS, Entity, WorldFiles, WorldQuestion
from .generation import draw_world
from .names import COMPANY_SUFFIXES, FILM_ADJECTIVES

SPLITS: tuple[str, ...] = ("train", "test")
DATA_SOURCES: tuple[str, ...] = ("synthetic-single", "synthetic-bridge", "synthetic-comparison")


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

    def invented_words(self) -> dict[str, list[str]]:
        """The invented words names are made of, by role, each list sorted: ``country``,
        ``city``, ``river`` ("Oskel" of "Oskel River"), ``first name``, ``surname``,
        ``company`` ("Karvex" of "Karvex Mills") and ``film`` ("Varro" of "The Silent
        Varro"). The fixed words a name may carry ("Mills", "River", "The", "Silent") are
        not among them.

        >>> words = make_world(seed=1, num_people=50).invented_words()
        >>> sorted(words), all(w == sorted(w) for w in words.values())
        (['city', 'company', 'country', 'film', 'first name', 'river', 'surname'], True)
        """
        fixed = {"The", "River", *COMPANY_SUFFIXES, *FILM_ADJECTIVES}
        words: dict[str, set[str]] = {}
        for entity in self.entities:
            parts = [word for word in entity.name.split() if word not in fixed]
            roles = ("first name", "surname") if entity.kind == "person" else (entity.kind,) * len(parts)
            for role, word in zip(roles, parts):
                words.setdefault(role, set()).add(word)
        return {role: sorted(found) for role, found in sorted(words.items())}

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
                ({"id": r.id, "question": r.question, "golden_answers": list(r.golden_answers), "data_source": r.data_source} for r in self.questions(split)),
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


def _generate(config: WorldConfig) -> SyntheticWorld:
    """The world for ``config``, freshly drawn (:func:`make_world` adds the cache)."""
    return SyntheticWorld(config, *draw_world(config))
