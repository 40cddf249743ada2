"""Question/answer rows and the loaders that read them from the formats people use.

A dataset is a list of :class:`QARow`. ``load_questions`` reads the ZeroSearch /
Search-R1 parquet layout, FlashRAG-style jsonl, HotpotQA json, a list of dicts, the
built-in synthetic world, or a Hugging Face dataset id.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Union

from .errors import DatasetError, MissingDependencyError
from .simulators.base import Passage


@dataclass(frozen=True)
class QARow:
    """One question of a dataset.

    ``prompt`` is the policy prompt stored with the row (Search-R1 parquet ``prompt``
    column), or None to build it from the template. ``context`` holds HotpotQA-style
    paragraphs for the context simulator.
    """

    question: str
    golden_answers: tuple[str, ...]
    id: str = ""
    data_source: str = "unknown"
    prompt: str | None = None
    context: tuple[Passage, ...] = ()
    split: str | None = None


@dataclass(frozen=True)
class CorpusDoc:
    """One document of a retrieval corpus (FlashRAG ``{"id", "contents"}`` jsonl)."""

    id: str
    contents: str


# --------------------------------------------------------------------------- loaders
#
# Every reader below turns one format into ``(row_number, mapping)`` pairs; one shared
# function (``_qa_row``) applies the field rules, so jsonl, parquet, json, in-memory dicts
# and Hugging Face rows are all validated the same way and fail with the same messages.

QASource = Union[str, "os.PathLike[str]", Sequence[Union[Mapping[str, Any], QARow]]]
"""What :func:`load_questions` accepts: a path, a dataset name or id, or in-memory rows."""

_QA_SUFFIXES: tuple[str, ...] = (".jsonl", ".parquet", ".json")
_ANSWER_KEYS: tuple[str, ...] = ("golden_answers", "answers", "answer")
_EXPECTED_QA_KEYS = "question, golden_answers"
_EXPECTED_CORPUS_KEYS = "id, contents (or title/text)"
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
      :class:`Passage` objects, flagged ``supporting`` from ``supporting_facts``) or of
      FlashRAG-style rows;
    - a directory in FlashRAG layout, ``<dir>/<split>.jsonl`` (or ``.parquet``/``.json``),
      or a directory of benchmarks ``<dir>/<name>/<split>.jsonl`` (concatenated). In
      FlashRAG the folder name is the benchmark name, so rows without a ``data_source``
      get it (``<dir>``'s own name, or ``<name>``);
    - a list or tuple of such dicts, or of :class:`QARow` (kept as they are);
    - ``"synthetic"`` (a reserved name): the questions of the built-in synthetic world;
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
    if not isinstance(source, (str, os.PathLike)):
        raise DatasetError(
            "load_questions expects a path, a dataset name or a list of dicts/QARow, "
            f"got {type(source).__name__}"
        )
    if isinstance(source, str) and source == "synthetic":
        return _from_synthetic(split)
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
        rows = _iter_jsonl(file)
    elif file.suffix == ".parquet":
        rows = _iter_parquet(file)
    else:
        raise DatasetError(
            f"load_corpus expects a .jsonl or .parquet file, got {str(file)!r}; "
            "convert the corpus to FlashRAG jsonl ({\"id\", \"contents\"} per line)"
        )
    return (_corpus_doc(raw, _Where(str(file), row), default_id=f"{file.stem}-{row}") for row, raw in rows)


# ------------------------------------------------------------------ sources -> rows


def _from_sequence(items: Sequence[Mapping[str, Any] | QARow], split: str | None) -> list[QARow]:
    """In-memory rows: QARow objects are kept as they are, dicts follow the jsonl rules."""
    rows: list[QARow] = []
    for row, item in enumerate(items):
        if isinstance(item, QARow):
            rows.append(item)
        elif isinstance(item, Mapping):
            rows.append(_qa_row(item, _Where("<list>", row), default_id=f"list-{row}"))
        else:
            raise DatasetError(f"<list> row {row}: expected a dict or QARow, got {type(item).__name__}")
    return _select_split(rows, split, "<list>")


def _from_synthetic(split: str | None) -> list[QARow]:
    """The built-in world; imported lazily so the loaders work without it."""
    from .worlds.synthetic import make_world

    return list(make_world().questions(split))


def _from_file(path: Path, split: str | None, default_source: str = "unknown") -> list[QARow]:
    """One file; the suffix picks the reader."""
    if path.suffix == ".parquet":
        raws: Iterable[tuple[int, Mapping[str, Any]]] = _iter_parquet(path)
    elif path.suffix == ".jsonl":
        raws = _iter_jsonl(path)
    elif path.suffix == ".json":
        raws, default_source = _read_json(path, default_source)
    else:
        raise DatasetError(
            f"load_questions expects a .parquet, .jsonl or .json file, got {str(path)!r}"
        )
    rows = [
        _qa_row(raw, _Where(str(path), row), default_id=f"{path.stem}-{row}", default_source=default_source)
        for row, raw in raws
    ]
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
        raise DatasetError(
            f"no benchmark in {str(directory)!r} has split {split!r}; available splits: {available}"
        )
    rows: list[QARow] = []
    for benchmark in chosen:
        rows.extend(_from_benchmark(benchmark, split, data_source=benchmark.name))
    return rows


def _from_benchmark(directory: Path, split: str | None, data_source: str) -> list[QARow]:
    """One FlashRAG benchmark folder: ``split`` picks ``<split>.<ext>`` (needed if there are several)."""
    files = _split_files(directory)
    if split is None:
        if len(files) > 1:
            raise DatasetError(
                f"{str(directory)!r} holds several splits {sorted(files)}; pass split= to pick one"
            )
        (name,) = files
    elif split in files:
        name = split
    else:
        raise DatasetError(
            f"{str(directory)!r} has no split {split!r}; available splits: {sorted(files)}"
        )
    candidates = files[name]
    if len(candidates) > 1:
        raise DatasetError(
            f"split {name!r} of {str(directory)!r} is ambiguous: {[str(c) for c in candidates]}; "
            "keep one file per split"
        )
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
            f"could not load Hugging Face dataset {dataset_id!r} (split {hub_split!r}): {e}; "
            f"if this machine is offline, {_DOWNLOAD_HINT}"
        ) from e
    origin = f"{dataset_id}[{hub_split}]"
    # The hub already selected the split; rows without their own split take its name.
    rows = [_qa_row(raw, _Where(origin, row), default_id=f"{hub_split}-{row}") for row, raw in enumerate(table)]
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


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Stream a jsonl file; the row number is the 0-based line index (blank lines skipped)."""
    try:
        with path.open(encoding="utf-8") as handle:
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
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read {path} as JSON: {e}") from e
    if not isinstance(data, list):
        raise DatasetError(
            f"{path}: expected a JSON list of rows (HotpotQA or FlashRAG style), got {type(data).__name__}"
        )
    for row, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise DatasetError(f"{path} row {row}: expected a JSON object, got {type(raw).__name__}")
    if data and "context" in data[0] and "supporting_facts" in data[0] and default_source == "unknown":
        default_source = "hotpotqa"
    return list(enumerate(data)), default_source


# ------------------------------------------------------------------ field rules


@dataclass(frozen=True)
class _Where:
    """Where a row came from, for error messages: ``nq.jsonl row 17: ...``."""

    origin: str
    row: int

    def error(self, message: str) -> DatasetError:
        return DatasetError(f"{self.origin} row {self.row}: {message}")


def _qa_row(
    raw: Mapping[str, Any], where: _Where, default_id: str, default_source: str = "unknown"
) -> QARow:
    """One mapping (jsonl line, parquet row, json item, dict, hub row) -> a validated QARow."""
    question = raw.get("question")
    if question is None:
        raise where.error(f"missing field 'question' (expected keys: {_EXPECTED_QA_KEYS})")
    if not isinstance(question, str) or not question.strip():
        raise where.error(f"field 'question' must be a non-empty string, got {question!r}")
    return QARow(
        question=question.strip(),
        golden_answers=_golden_answers(raw, where),
        id=_text_or(raw.get("id") if raw.get("id") is not None else raw.get("_id"), default_id),
        data_source=_text_or(raw.get("data_source"), default_source),
        prompt=_prompt(raw.get("prompt"), where),
        context=_context(raw, where),
        split=_row_split(raw),
    )


def _golden_answers(raw: Mapping[str, Any], where: _Where) -> tuple[str, ...]:
    """The first answer field present (aliases, then ``reward_model.ground_truth.target``) as a tuple of str."""
    key = next((k for k in _ANSWER_KEYS if raw.get(k) is not None), None)
    value = raw[key] if key is not None else _dig(raw, "reward_model", "ground_truth", "target")
    if value is None:
        raise where.error(
            f"missing field 'golden_answers' (expected keys: {_EXPECTED_QA_KEYS}; "
            "'answers', 'answer' or reward_model.ground_truth.target also accepted)"
        )
    field_name = key or "reward_model.ground_truth.target"
    answers = [value] if isinstance(value, (str, int)) else _as_list(value)
    if answers is None:
        raise where.error(f"field {field_name!r} must be a string or a list of strings, got {type(value).__name__}")
    if not answers:
        raise where.error(f"field {field_name!r} is empty; a row needs at least one golden answer")
    result: list[str] = []
    for answer in answers:
        if isinstance(answer, int) and not isinstance(answer, bool):
            answer = str(answer)  # numeric answers ("1969") sometimes arrive as ints
        if not isinstance(answer, str) or not answer.strip():
            raise where.error(f"field {field_name!r} holds an invalid answer {answer!r} (expected non-empty strings)")
        result.append(answer)
    return tuple(result)


def _prompt(value: Any, where: _Where) -> str | None:
    """A prompt string, or the user message of a chat prompt (``[{"role": "user", "content": ...}]``)."""
    if value is None or isinstance(value, str):
        return value
    messages = [value] if isinstance(value, Mapping) else _as_list(value)
    if messages is None:
        raise where.error(f"field 'prompt' must be a string or a list of chat messages, got {type(value).__name__}")
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    raise where.error("field 'prompt' has no {'role': 'user', 'content': <str>} message")


def _context(raw: Mapping[str, Any], where: _Where) -> tuple[Passage, ...]:
    """HotpotQA ``context`` ([[title, [sentences]], ...]) as Passages flagged from ``supporting_facts``."""
    context = raw.get("context")
    if context is None:
        return ()
    paragraphs = _as_list(context)
    if paragraphs is None:
        raise where.error("field 'context' must be a list of [title, [sentences]] pairs")
    supporting = _supporting_titles(raw.get("supporting_facts"))
    passages: list[Passage] = []
    for paragraph in paragraphs:
        pair = _as_list(paragraph)
        sentences = _as_list(pair[1]) if pair is not None and len(pair) == 2 else None
        if pair is None or sentences is None or not isinstance(pair[0], str):
            raise where.error(f"field 'context' holds {paragraph!r}, expected [title, [sentences]]")
        # HotpotQA sentences after the first carry a leading space; strip so the join is single-spaced.
        text = " ".join(str(s).strip() for s in sentences)
        passages.append(Passage(title=pair[0], text=text, supporting=pair[0] in supporting))
    return tuple(passages)


def _supporting_titles(facts: Any) -> set[str]:
    """Titles named by HotpotQA ``supporting_facts`` ([[title, sentence_id], ...]); empty if absent."""
    titles: set[str] = set()
    for fact in _as_list(facts) or ():
        pair = _as_list(fact)
        if pair and isinstance(pair[0], str):
            titles.add(pair[0])
    return titles


def _corpus_doc(raw: Mapping[str, Any], where: _Where, default_id: str) -> CorpusDoc:
    """One corpus row: ``contents``, or ``title``/``text`` rendered as FlashRAG does."""
    contents = raw.get("contents")
    if contents is None:
        text = raw.get("text")
        if text is None:
            raise where.error(f"missing field 'contents' (expected keys: {_EXPECTED_CORPUS_KEYS})")
        if not isinstance(text, str):
            raise where.error(f"field 'text' must be a string, got {type(text).__name__}")
        title = raw.get("title")
        if title is not None and not isinstance(title, str):
            raise where.error(f"field 'title' must be a string, got {type(title).__name__}")
        contents = f'"{title}"\n{text}' if title else text
    elif not isinstance(contents, str):
        raise where.error(f"field 'contents' must be a string, got {type(contents).__name__}")
    return CorpusDoc(id=_text_or(raw.get("id"), default_id), contents=contents)


def _row_split(raw: Mapping[str, Any]) -> str | None:
    """``split`` or ``extra_info.split`` (Search-R1 parquet), if the row says."""
    split = raw.get("split", _dig(raw, "extra_info", "split"))
    return split if isinstance(split, str) and split else None


def _text_or(value: Any, default: str) -> str:
    """``str(value)`` for a present, non-empty id/source; ``default`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return str(value)


def _dig(raw: Mapping[str, Any], *keys: str) -> Any:
    """``raw[k1][k2]...`` or None when any level is missing or not a mapping."""
    value: Any = raw
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _as_list(value: Any) -> list[Any] | None:
    """A list from a list, tuple or numpy array (pandas-read parquet); None for anything else."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        converted = value.tolist()  # numpy arrays; nested object arrays keep their elements
        return converted if isinstance(converted, list) else None
    return None
