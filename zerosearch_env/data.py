"""The loaders that read question sets and corpora from the formats people use.

A dataset is a list of :class:`~zerosearch_env.records.QARow`. ``load_questions`` reads
the ZeroSearch / Search-R1 parquet layout, FlashRAG-style jsonl, HotpotQA json, a list
of dicts, the built-in synthetic world, or a Hugging Face dataset id. What the name
``"synthetic"`` means is decided here and nowhere else (:func:`synthetic_world`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .errors import DatasetError, MissingDependencyError
from .records import CorpusDoc, QARow
from .row_fields import Where, corpus_doc, qa_row

if TYPE_CHECKING:
    from .worlds.synthetic import SyntheticWorld

SYNTHETIC = "synthetic"
"""The reserved dataset name of the built-in synthetic world."""


# --------------------------------------------------------------------------- loaders
#
# Every reader below turns one format into ``(row_number, mapping)`` pairs; one shared
# function (``row_fields.qa_row``) applies the field rules, so jsonl, parquet, json, in-memory dicts
# and Hugging Face rows are all validated the same way and fail with the same messages.

QASource = Union[str, "os.PathLike[str]", Sequence[Mapping[str, Any] | QARow]]
"""What :func:`load_questions` accepts: a path, a dataset name or id, or in-memory rows."""

_QA_SUFFIXES: tuple[str, ...] = (".jsonl", ".parquet", ".json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DOWNLOAD_HINT = (
    "download it on a machine with network access, e.g. "
    "`hf download --repo-type dataset sunhaonlp/ZeroSearch_dataset "
    "--local-dir ZeroSearch_dataset`, and pass the local parquet path instead "
    "(e.g. load_questions('ZeroSearch_dataset/test.parquet'))"
)


def load_questions(source: QASource, split: str | None = None) -> list[QARow]:
    """Read a question set from whichever format it ships in.

    ``source`` may be:

    - a ``.parquet`` file in the ZeroSearch / Search-R1 layout (``prompt`` becomes the
      user message's content; ``golden_answers`` falls back to
      ``reward_model.ground_truth.target``);
    - a FlashRAG-style ``.jsonl`` file (``answers`` / ``answer`` accepted as aliases of
      ``golden_answers``; a bare string answer becomes a 1-tuple);
    - a ``.json`` file holding a list of HotpotQA rows (``context`` becomes
      :class:`~zerosearch_env.records.Passage` objects, flagged ``supporting`` from ``supporting_facts``) or of
      FlashRAG-style rows;
    - a directory in FlashRAG layout, ``<dir>/<split>.jsonl`` (or ``.parquet``/``.json``),
      or a directory of benchmarks ``<dir>/<name>/<split>.jsonl`` (concatenated). In
      FlashRAG the folder name is the benchmark name, so rows without a ``data_source``
      get it (``<dir>``'s own name, or ``<name>``);
    - a list or tuple of such dicts, or of :class:`QARow` (kept as they are);
    - ``"synthetic"`` (a reserved name) or a ``SyntheticWorld``: the questions of the
      built-in synthetic world (``split`` None: both splits);
    - a Hugging Face dataset id ``"owner/name"`` that is not an existing path (needs the
      ``datasets`` package and network access).

    Split rule for files and lists: rows carry a split when they have ``split`` or
    ``extra_info.split``. If any row does, ``split`` keeps the rows whose split equals it
    (a :class:`DatasetError` lists the available splits when none does). If no row
    carries a split, the data is a single split and ``split`` is ignored. For a directory
    ``split`` picks the file, and rows without their own split take the file's name.

    Raises:
        DatasetError: the source does not exist, cannot be read, or has a malformed row
            (the message names the file, the 0-based row and the field).
        MissingDependencyError: a Hugging Face id was given and ``datasets`` is missing.
    """
    if isinstance(source, (list, tuple)):
        return _from_sequence(source, split)
    world = synthetic_world(source)
    if world is not None:
        return world.questions(split)
    if not isinstance(source, (str, os.PathLike)):
        raise DatasetError(f"load_questions expects a path, a dataset name or a list of dicts/QARow, got {type(source).__name__}")
    path = Path(source)
    if path.is_dir():
        return _from_directory(path, split)
    if path.is_file():
        return _from_file(path, split)
    if isinstance(source, str) and _looks_like_hub_id(source):
        return _from_hub(source, split)
    raise DatasetError(
        f"dataset path {str(source)!r} does not exist; pass an existing .parquet/.jsonl/.json "
        "file or directory, 'synthetic', or a Hugging Face dataset id 'owner/name'"
    )


def is_synthetic(dataset: Any) -> bool:
    """Whether ``dataset`` is the built-in world: ``"synthetic"`` or a ``SyntheticWorld``."""
    if isinstance(dataset, str):
        return dataset == SYNTHETIC
    from .worlds.synthetic import SyntheticWorld

    return isinstance(dataset, SyntheticWorld)


def synthetic_world(dataset: Any) -> SyntheticWorld | None:
    """The built-in world that ``dataset`` names (``"synthetic"`` or a ``SyntheticWorld``), else None."""
    if not is_synthetic(dataset):
        return None
    if isinstance(dataset, str):
        from .worlds.synthetic import make_world

        return make_world()
    return dataset


def resolve_dataset(dataset: Any, split: str | None, *, default_split: str = "train") -> tuple[list[QARow], SyntheticWorld | None]:
    """The rows an environment draws questions from, and the synthetic world they come
    from (its corpus is then the default search engine's), or None for any other dataset.

    ``split`` None means ``default_split`` of the synthetic world and every row of a file.
    """
    world = synthetic_world(dataset)
    rows = world.questions(split or default_split) if world is not None else load_questions(dataset, split=split)
    if not rows:
        raise DatasetError(f"dataset {dataset!r} (split={split!r}) has no rows; check the split name")
    return list(rows), world


def load_corpus(path: str | os.PathLike[str]) -> list[CorpusDoc]:
    """Read a retrieval corpus: FlashRAG ``{"id", "contents"}`` jsonl, or parquet with the same columns.

    Rows with ``title``/``text`` instead of ``contents`` are accepted and rendered the way
    FlashRAG's wiki corpora store them, ``'"<title>"\\n<text>'``, so BM25 sees the title.
    A row without ``id`` gets ``"<file stem>-<row>"``.

    Raises:
        DatasetError: the file does not exist, has an unsupported suffix, or has a
            malformed row (the message names the file, the 0-based row and the field).
    """
    return list(iter_corpus(path))


def iter_corpus(path: str | os.PathLike[str]) -> Iterator[CorpusDoc]:
    """:func:`load_corpus` one document at a time, for corpora too big to hold twice.

    Building a BM25 index of a 21M-passage dump needs the texts once; streaming them
    keeps the ``CorpusDoc`` objects (and ids) out of memory. The file and its suffix are
    checked now; malformed rows raise when they are reached.
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"corpus path {str(path)!r} does not exist or is not a file")
    if file.suffix == ".jsonl":
        rows = iter_jsonl(file)
    elif file.suffix == ".parquet":
        rows = _iter_parquet(file)
    else:
        raise DatasetError(
            f'load_corpus expects a .jsonl or .parquet file, got {str(file)!r}; convert the corpus to FlashRAG jsonl ({{"id", "contents"}} per line)'
        )
    return (corpus_doc(raw, Where(str(file), row), default_id=f"{file.stem}-{row}") for row, raw in rows)


# ------------------------------------------------------------------ sources -> rows


def _from_sequence(items: Sequence[Mapping[str, Any] | QARow], split: str | None) -> list[QARow]:
    """In-memory rows: QARow objects are kept as they are, dicts follow the jsonl rules."""
    rows: list[QARow] = []
    for row, item in enumerate(items):
        if isinstance(item, QARow):
            rows.append(item)
        elif isinstance(item, Mapping):
            rows.append(qa_row(item, Where("<list>", row), default_id=f"list-{row}"))
        else:
            raise DatasetError(f"<list> row {row}: expected a dict or QARow, got {type(item).__name__}")
    return _select_split(rows, split, "<list>")


def _from_file(path: Path, split: str | None, default_source: str = "unknown") -> list[QARow]:
    """One file; the suffix picks the reader."""
    if path.suffix == ".parquet":
        raws: Iterable[tuple[int, Mapping[str, Any]]] = _iter_parquet(path)
    elif path.suffix == ".jsonl":
        raws = iter_jsonl(path)
    elif path.suffix == ".json":
        raws, default_source = _read_json(path, default_source)
    else:
        raise DatasetError(f"load_questions expects a .parquet, .jsonl or .json file, got {str(path)!r}")
    rows = [qa_row(raw, Where(str(path), row), default_id=f"{path.stem}-{row}", default_source=default_source) for row, raw in raws]
    if not rows:  # said here, with the file's name: further up it reads as a wrong split
        raise DatasetError(
            f"{path} holds no rows (an empty file, a JSON [], or a table of 0 rows); put at least one question in it, or point at the file that has them"
        )
    return _select_split(rows, split, str(path))


def _from_directory(directory: Path, split: str | None) -> list[QARow]:
    """FlashRAG layout: ``<dir>/<split>.<ext>``, or benchmark subfolders ``<dir>/<name>/<split>.<ext>``.

    Split files directly in ``directory`` win over subfolders. In a folder of benchmarks,
    a benchmark without the requested split is skipped (FlashRAG benchmarks do not all
    ship the same splits); it is an error only when none has it.
    """
    if _split_files(directory):
        return _from_benchmark(directory, split, data_source=directory.name)
    benchmarks = sorted(d for d in directory.iterdir() if d.is_dir() and _split_files(d))
    if not benchmarks:
        raise DatasetError(
            f"directory {str(directory)!r} holds no <split>.jsonl/.parquet/.json files and no "
            "benchmark subfolders with such files (FlashRAG layout: <dir>/<split>.jsonl or "
            "<dir>/<name>/<split>.jsonl)"
        )
    chosen = [b for b in benchmarks if split is None or split in _split_files(b)]
    if not chosen:
        available = {b.name: sorted(_split_files(b)) for b in benchmarks}
        raise DatasetError(f"no benchmark in {str(directory)!r} has split {split!r}; available splits: {available}")
    rows: list[QARow] = []
    for benchmark in chosen:
        rows.extend(_from_benchmark(benchmark, split, data_source=benchmark.name))
    return rows


def _from_benchmark(directory: Path, split: str | None, data_source: str) -> list[QARow]:
    """One FlashRAG benchmark folder: ``split`` picks ``<split>.<ext>`` (needed if there are several)."""
    files = _split_files(directory)
    if split is None:
        if len(files) > 1:
            raise DatasetError(f"{str(directory)!r} holds several splits {sorted(files)}; pass split= to pick one")
        (name,) = files
    elif split in files:
        name = split
    else:
        raise DatasetError(f"{str(directory)!r} has no split {split!r}; available splits: {sorted(files)}")
    candidates = files[name]
    if len(candidates) > 1:
        raise DatasetError(f"split {name!r} of {str(directory)!r} is ambiguous: {[str(c) for c in candidates]}; keep one file per split")
    rows = _from_file(candidates[0], split=None, default_source=data_source)
    return [r if r.split is not None else replace(r, split=name) for r in rows]


def _from_hub(dataset_id: str, split: str | None) -> list[QARow]:
    """A Hugging Face dataset, loaded with ``datasets`` (optional dependency, needs network)."""
    try:
        import datasets
    except ImportError as e:
        raise MissingDependencyError(
            f"loading the Hugging Face dataset {dataset_id!r} needs the 'datasets' package: "
            'pip install datasets (or pip install "zerosearch-env[hf]"); '
            f"without it, {_DOWNLOAD_HINT}"
        ) from e
    hub_split = split or "train"
    try:
        table = datasets.load_dataset(dataset_id, split=hub_split)
    except Exception as e:  # offline, unknown id, unknown split: all surface the same way
        raise DatasetError(
            f"could not load Hugging Face dataset {dataset_id!r} (split {hub_split!r}): {e}; if this machine is offline, {_DOWNLOAD_HINT}"
        ) from e
    origin = f"{dataset_id}[{hub_split}]"
    # The hub already selected the split; rows without their own split take its name.
    rows = [qa_row(raw, Where(origin, row), default_id=f"{hub_split}-{row}") for row, raw in enumerate(table)]
    return [r if r.split is not None else replace(r, split=hub_split) for r in rows]


def _looks_like_hub_id(text: str) -> bool:
    """``owner/name`` with no data-file suffix; ``data/nq.jsonl`` is a missing path, not an id."""
    return bool(_HUB_ID.match(text)) and not text.lower().endswith(_QA_SUFFIXES)


def _split_files(directory: Path) -> dict[str, list[Path]]:
    """Split name -> the data files named after it in ``directory`` (usually exactly one)."""
    files: dict[str, list[Path]] = {}
    for child in sorted(directory.iterdir()):
        if child.is_file() and child.suffix in _QA_SUFFIXES and not child.name.startswith("."):
            files.setdefault(child.stem, []).append(child)
    return files


def _select_split(rows: list[QARow], split: str | None, origin: str) -> list[QARow]:
    """Apply the split rule of :func:`load_questions` (ignored when no row carries a split)."""
    if split is None:
        return rows
    available = sorted({r.split for r in rows if r.split is not None})
    if not available:
        return rows
    kept = [r for r in rows if r.split == split]
    if not kept:
        raise DatasetError(f"{origin} has no rows of split {split!r}; available splits: {available}")
    return kept


# ------------------------------------------------------------------ file readers


def iter_jsonl(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Stream a jsonl file; the row number is the 0-based line index (blank lines skipped).

    ``utf-8-sig``: a byte-order mark at the start (Windows editors write one) is not data.
    """
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for row, line in enumerate(handle):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path} row {row}: invalid JSON ({e.msg})") from e
                if not isinstance(raw, dict):
                    raise DatasetError(f"{path} row {row}: expected a JSON object, got {type(raw).__name__}")
                yield row, raw
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from e
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


def _not_utf8(path: Path, error: UnicodeDecodeError) -> DatasetError:
    """The error for a jsonl file that is not UTF-8, naming the row to fix.

    The decoder only knows an offset in its read buffer, so the file is read again (this
    runs once, on failure): latin-1 turns each byte into one character and splits lines
    exactly as the UTF-8 reader does, so its line index is the row number.
    """
    try:
        with path.open(encoding="latin-1") as handle:
            for row, line in enumerate(handle):
                try:
                    line.encode("latin-1").decode("utf-8")
                except UnicodeDecodeError as bad:
                    return DatasetError(
                        f"{path} row {row} (line {row + 1}): not valid UTF-8 ({bad.reason} at byte offset {bad.start} in the line); save the file as UTF-8"
                    )
    except OSError:
        pass  # the file went away between the two reads: report what the first one saw
    return DatasetError(f"cannot read {path}: {error}")


def _iter_parquet(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Stream a parquet file batch by batch, as plain Python values (lists, dicts)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingDependencyError(f"reading {path} needs pyarrow: pip install pyarrow") from e
    row = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches():
            for raw in batch.to_pylist():
                yield row, raw
                row += 1
    except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError family
        raise DatasetError(f"cannot read parquet file {path} (at row {row}): {e}") from e


def _read_json(path: Path, default_source: str) -> tuple[list[tuple[int, Mapping[str, Any]]], str]:
    """A json list of HotpotQA or FlashRAG rows; HotpotQA files default to ``data_source='hotpotqa'``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a leading byte-order mark is not data
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read {path} as JSON: {e}") from e
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of rows (HotpotQA or FlashRAG style), got {type(data).__name__}")
    for row, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise DatasetError(f"{path} row {row}: expected a JSON object, got {type(raw).__name__}")
    if data and "context" in data[0] and "supporting_facts" in data[0] and default_source == "unknown":
        default_source = "hotpotqa"
    return list(enumerate(data)), default_source


# --------------------------------------------------------------------------- writers


def write_search_r1_parquet(rows: Sequence[QARow], path: str | os.PathLike[str], split: str, **columns: str) -> Path:
    """Write ``rows`` in the ZeroSearch / Search-R1 parquet layout, the one verl's and
    SkyRL's datasets read: ``id``, ``question``, ``golden_answers``, ``data_source``,
    ``prompt`` (one user message), ``ability``, ``reward_model``, ``extra_info``.
    ``columns`` adds a constant column to every row, e.g. ``agent_name="zerosearch"``
    (the verl agent loop a row runs) or ``env_class="zerosearch"`` (SkyRL's environment).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingDependencyError(f"writing {path} needs pyarrow: pip install pyarrow") from e
    from .protocol import build_policy_prompt

    table = [
        {
            "id": row.id or str(index),
            "question": row.question,
            "golden_answers": list(row.golden_answers),
            "data_source": row.data_source,
            "prompt": [{"role": "user", "content": row.prompt or build_policy_prompt(row.question)}],
            "ability": "fact-reasoning",
            "reward_model": {"style": "rule", "ground_truth": {"target": list(row.golden_answers)}},
            "extra_info": {"index": index, "split": split},
            **columns,
        }
        for index, row in enumerate(rows)
    ]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(table), out)
    return out
