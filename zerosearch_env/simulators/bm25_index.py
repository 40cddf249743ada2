"""The folder a BM25 index is saved in: its layout, its manifest, and building it safely.

A big corpus (the 21M-passage wiki-18 dump) is indexed once and memory-mapped on every
later run, so the folder is a format of its own::

    <index_dir>/
      params.index.json, vocab.index.json, {data,indices,indptr}.csc.index.npy   (bm25s)
      corpus.jsonl          {"id", "contents"} per line, in index order (bm25s's name for it)
      corpus.offsets.npy    int64 byte offset of every line, plus the file size
      manifest.json         written last: what was indexed, and with what

An index is built in a hidden sibling folder and moved into place when complete, under a
file lock, so an interrupted build never leaves a folder that looks like an index and
processes started together build it once. :class:`~.bm25.BM25Retriever` searches it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ..data import iter_corpus
from ..errors import ConfigError, DatasetError
from ..records import CorpusDoc
from .ranking import STOPWORDS, index_texts

if TYPE_CHECKING:
    import bm25s

Corpus = Union[str, "os.PathLike[str]", Sequence[CorpusDoc | str]]
"""A corpus file (FlashRAG ``.jsonl`` or ``.parquet``) or documents in memory."""

INDEX_FORMAT = 1
MANIFEST = "manifest.json"
DOCS = "corpus.jsonl"
OFFSETS = "corpus.offsets.npy"
_BM25S_FILES = ("params.index.json", "vocab.index.json", "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_MANIFEST_KEYS = {"format": int, "documents": int, "bm25s": str, "stopwords": str}


class MappedDocuments:
    """The documents of a saved index, read from the memory-mapped ``corpus.jsonl``.

    bm25s's own ``JsonlCorpus`` keeps the line offsets as a Python list (about 0.8 GB
    for wiki-18, per process); here they are a memory-mapped numpy array, so an open
    index costs no memory per document and a lookup is one slice and one JSON parse.
    """

    def __init__(self, folder: Path):
        import mmap

        self._offsets = np.load(folder / OFFSETS, mmap_mode="r")
        with open(folder / DOCS, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> CorpusDoc:
        raw = json.loads(self._map[int(self._offsets[index]) : int(self._offsets[index + 1])])
        return CorpusDoc(id=str(raw["id"]), contents=raw["contents"])

    def close(self) -> None:
        self._map.close()


def _write_documents(documents: Iterable[CorpusDoc], folder: Path) -> list[str]:
    """Write ``corpus.jsonl`` and its line offsets in one pass; return the texts to index.

    The corpus is streamed: only the texts (needed once, to tokenise) stay in memory."""
    offsets = array("q", [0])
    texts: list[str] = []
    with open(folder / DOCS, "wb") as out:
        for doc in documents:
            # ASCII escapes: any Python string (even a lone surrogate) round-trips.
            line = json.dumps({"id": doc.id, "contents": doc.contents}).encode() + b"\n"
            out.write(line)
            offsets.append(offsets[-1] + len(line))
            texts.append(doc.contents)
    np.save(folder / OFFSETS, np.frombuffer(offsets, dtype=np.int64))
    return texts


def _corpus_stamp(path: Path) -> dict[str, Any]:
    """What identifies a corpus file's version: where it is, its size, when it changed."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def corrupt(folder: Path, why: str) -> ConfigError:
    return ConfigError(
        f"corrupt BM25 index manifest {folder / MANIFEST}: {why}; delete {folder} and build the index again (BM25Retriever.from_corpus(corpus) rebuilds it)"
    )


def read_manifest(index_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a saved index, checked.

    Raises:
        ConfigError: the folder does not exist, is not a (complete) index, or its
            manifest is unreadable or malformed; the message says how to rebuild.
    """
    folder = Path(index_dir).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"BM25 index folder {str(folder)!r} does not exist; build it with BM25Retriever.build(corpus, "
            f"{str(folder)!r}), or let BM25Retriever.from_corpus(corpus) make one next to the corpus"
        )
    missing = [name for name in (MANIFEST, DOCS, OFFSETS, *_BM25S_FILES) if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"{str(folder)!r} is not a BM25 index built by zerosearch-env (missing {', '.join(missing)}); pass a "
            "folder written by BM25Retriever.build, or delete this one and let BM25Retriever.from_corpus rebuild it"
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise corrupt(folder, f"not readable JSON ({error})") from error
    if not isinstance(manifest, dict):
        raise corrupt(folder, f"expected a JSON object, got {type(manifest).__name__}")
    for key, kind in _MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            raise corrupt(folder, f"field {key!r} must be a {kind.__name__}, got {manifest.get(key)!r}")
    if manifest["format"] != INDEX_FORMAT:
        raise corrupt(folder, f"format {manifest['format']} is not this version's format {INDEX_FORMAT}")
    corpus = manifest.get("corpus")
    if corpus is not None and not (isinstance(corpus, dict) and {"path", "size", "mtime_ns"} <= corpus.keys()):
        raise corrupt(folder, f"field 'corpus' must be null or hold path, size and mtime_ns, got {corpus!r}")
    return manifest


def corpus_change(manifest: dict[str, Any], corpus: Path) -> str | None:
    """Why a saved index no longer fits ``corpus``; None when it does."""
    saved, now = manifest.get("corpus"), _corpus_stamp(corpus)
    if saved is None:
        return f"the index was built from documents in memory, not from {now['path']}"
    if saved["path"] != now["path"]:
        return f"the index was built from {saved['path']}, not {now['path']}"
    if saved["size"] != now["size"] or saved["mtime_ns"] != now["mtime_ns"]:
        return f"{now['path']} changed since its index was built (size {saved['size']} -> {now['size']} bytes, or a new modification time)"
    if manifest["stopwords"] != STOPWORDS:
        return f"the index used stop words {manifest['stopwords']!r}, this version uses {STOPWORDS!r}"
    return None


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def default_index_dir(corpus_path: str | os.PathLike[str]) -> Path:
    """Where :meth:`BM25Retriever.from_corpus` keeps the index of ``corpus_path``.

    ``<corpus file>.bm25/`` next to the corpus, so the index travels with it; when that
    folder cannot be written (a read-only shared corpus) and holds no current index,
    ``~/.cache/zerosearch/bm25/<hash of the corpus path>`` (``$XDG_CACHE_HOME`` is honoured).
    """
    corpus = Path(corpus_path).expanduser().resolve()
    beside = corpus.with_name(f"{corpus.name}.bm25")
    if os.access(corpus.parent, os.W_OK | os.X_OK) or _is_current(beside, corpus):
        return beside
    digest = hashlib.sha256(str(corpus).encode()).hexdigest()[:16]
    return _cache_home() / "zerosearch" / "bm25" / digest


def _is_current(folder: Path, corpus: Path) -> bool:
    try:
        return (folder / MANIFEST).is_file() and corpus_change(read_manifest(folder), corpus) is None
    except ConfigError:
        return False


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on building ``folder``, so processes started together (one per
    GPU, say) build a big index once: the others wait, then load it.

    Without ``fcntl`` (Windows) or a writable parent folder there is no lock."""
    try:
        import fcntl

        folder.parent.mkdir(parents=True, exist_ok=True)
        handle = open(folder.with_name(f".{folder.name}.lock"), "a")  # noqa: SIM115 - opened inside the try that catches OSError, closed by the with below
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _check_replaceable(folder: Path) -> None:
    """Refuse to write an index over a file or a folder of other things."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"index_dir {str(folder)!r} is a file; pass a folder for the BM25 index")
    if folder.is_dir() and not (folder / MANIFEST).exists() and any(folder.iterdir()):
        raise ConfigError(
            f"index_dir {str(folder)!r} is not empty and holds no BM25 index (no {MANIFEST}); pass a new or "
            "empty folder, an index is never written over other files"
        )


def _install(staging: Path, folder: Path) -> None:
    """Move a finished index into place; an old index there goes only once the new one is whole."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        folder.rename(old)
    staging.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_corpus_file(corpus_path: str | os.PathLike[str]) -> Path:
    """``corpus_path`` as a Path, or a :class:`DatasetError` saying what a corpus file is."""
    path = Path(corpus_path).expanduser()
    if not path.is_file():
        raise DatasetError(
            f'corpus file {str(path)!r} does not exist; pass a FlashRAG .jsonl (one {{"id", "contents"}} per '
            "line, e.g. wiki-18.jsonl) or a .parquet with the same columns"
        )
    return path


def iter_documents(corpus: Corpus) -> Iterator[CorpusDoc]:
    """The corpus one document at a time; plain strings get their position as id."""
    if isinstance(corpus, (str, os.PathLike)):
        return iter_corpus(check_corpus_file(corpus))
    return (d if isinstance(d, CorpusDoc) else CorpusDoc(id=str(i), contents=str(d)) for i, d in enumerate(corpus))


def progress(documents: Iterator[CorpusDoc], show: bool, description: str) -> Iterator[CorpusDoc]:
    from tqdm.auto import tqdm

    return tqdm(documents, desc=description, unit=" docs", disable=not show, leave=False, mininterval=1.0)


def require_documents(count: int, corpus: Corpus) -> None:
    if count == 0:
        where = str(corpus) if isinstance(corpus, (str, os.PathLike)) else "the documents given"
        raise DatasetError(f"BM25Retriever expects a non-empty corpus, {where} has no documents")


def write_index(corpus: Corpus, folder: Path, *, show_progress: bool) -> None:
    """Index ``corpus`` into ``folder`` (replacing an index already there): built in a
    hidden sibling folder and moved into place when complete. Hold :func:`build_lock`."""
    import bm25s

    _check_replaceable(folder)
    documents = progress(iter_documents(corpus), show_progress, f"BM25 index {folder.name}: reading corpus")
    staging = folder.with_name(f".{folder.name}.building-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        texts = _write_documents(documents, staging)
        require_documents(len(texts), corpus)
        index_texts(texts, show_progress=show_progress).save(staging, show_progress=show_progress)
        manifest = {
            "format": INDEX_FORMAT,
            "documents": len(texts),
            "bm25s": bm25s.__version__,
            "stopwords": STOPWORDS,
            "corpus": _corpus_stamp(Path(corpus)) if isinstance(corpus, (str, os.PathLike)) else None,
        }
        del texts
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _install(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def open_index(folder: Path) -> tuple[bm25s.BM25, MappedDocuments, dict[str, Any]]:
    """A saved index, memory-mapped: (the bm25s index, its documents, its manifest).

    Raises:
        ConfigError: the folder is not a complete index or its manifest is corrupt.
    """
    import bm25s

    manifest = read_manifest(folder)
    try:
        bm25 = bm25s.BM25.load(folder, mmap=True, show_progress=False, verbosity=0)
        documents = MappedDocuments(folder)
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(f"cannot read the BM25 index in {str(folder)!r} ({error}); delete it and build it again") from error
    count = manifest["documents"]
    if len(documents) != count or bm25.scores["num_docs"] != count:
        raise corrupt(folder, f"{count} documents listed, {len(documents)} stored and {bm25.scores['num_docs']} indexed")
    return bm25, documents, manifest
