"""Real retrievers: search engines that read the query and nothing else.

:class:`~zerosearch_env.simulators.corpus.CorpusSimulator` reads each request's golden
answers to make a search useful or noisy. That is what a curriculum needs in training,
and exactly what evaluation must not do: a policy would be scored on documents chosen
with the answer in hand. The retrievers here implement the same
:class:`~zerosearch_env.simulators.base.Simulator` protocol, but use only
``request.query`` and ``request.topk``; ``golden_answers``, ``question``, ``quality``,
``context`` and ``seed`` are never read.

- :class:`BM25Retriever` (``sim="bm25"``): BM25 (``bm25s``) over a FlashRAG corpus. A big
  corpus such as the 21M-passage wiki-18 dump is indexed once into a folder and
  memory-mapped on every later run; documents are read from disk only when returned.
- :class:`HTTPRetriever` (``sim="retriever:<url>"``): a client of Search-R1's retrieval
  server (``retrieval_server.py``: FAISS + e5 dense retrieval, ``POST /retrieve``).

Documents come back as one line each (white space collapsed), like every simulator's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from array import array
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Union

import numpy as np

from ..data import CorpusDoc, iter_corpus
from ..errors import ConfigError, DatasetError, SimulatorError
from .base import SearchRequest, SearchResult, SimulatorFault
from .ranking import STOPWORDS, index_texts, one_line, query_words, top_documents

if TYPE_CHECKING:
    import bm25s

logger = logging.getLogger(__name__)

Corpus = Union[str, "os.PathLike[str]", Sequence[Union[CorpusDoc, str]]]
"""A corpus file (FlashRAG ``.jsonl`` or ``.parquet``) or documents in memory."""

# ----------------------------------------------------------------------- index folder
#
# <index_dir>/
#   params.index.json, vocab.index.json, {data,indices,indptr}.csc.index.npy   (bm25s)
#   corpus.jsonl          {"id", "contents"} per line, in index order (bm25s's name for it)
#   corpus.offsets.npy    int64 byte offset of every line, plus the file size
#   manifest.json         written last: what was indexed, and with what

INDEX_FORMAT = 1
MANIFEST = "manifest.json"
DOCS = "corpus.jsonl"
OFFSETS = "corpus.offsets.npy"
_BM25S_FILES = ("params.index.json", "vocab.index.json", "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_MANIFEST_KEYS = {"format": int, "documents": int, "bm25s": str, "stopwords": str}


class _MappedDocuments:
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


def _corrupt(folder: Path, why: str) -> ConfigError:
    return ConfigError(
        f"corrupt BM25 index manifest {folder / MANIFEST}: {why}; delete {folder} and build the index "
        "again (BM25Retriever.from_corpus(corpus) rebuilds it)"
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
        raise _corrupt(folder, f"not readable JSON ({error})") from error
    if not isinstance(manifest, dict):
        raise _corrupt(folder, f"expected a JSON object, got {type(manifest).__name__}")
    for key, kind in _MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            raise _corrupt(folder, f"field {key!r} must be a {kind.__name__}, got {manifest.get(key)!r}")
    if manifest["format"] != INDEX_FORMAT:
        raise _corrupt(folder, f"format {manifest['format']} is not this version's format {INDEX_FORMAT}")
    corpus = manifest.get("corpus")
    if corpus is not None and not (isinstance(corpus, dict) and {"path", "size", "mtime_ns"} <= corpus.keys()):
        raise _corrupt(folder, f"field 'corpus' must be null or hold path, size and mtime_ns, got {corpus!r}")
    return manifest


def _corpus_change(manifest: dict[str, Any], corpus: Path) -> str | None:
    """Why a saved index no longer fits ``corpus``; None when it does."""
    saved, now = manifest.get("corpus"), _corpus_stamp(corpus)
    if saved is None:
        return f"the index was built from documents in memory, not from {now['path']}"
    if saved["path"] != now["path"]:
        return f"the index was built from {saved['path']}, not {now['path']}"
    if saved["size"] != now["size"] or saved["mtime_ns"] != now["mtime_ns"]:
        return (
            f"{now['path']} changed since its index was built "
            f"(size {saved['size']} -> {now['size']} bytes, or a new modification time)"
        )
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
        return (folder / MANIFEST).is_file() and _corpus_change(read_manifest(folder), corpus) is None
    except ConfigError:
        return False


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on building ``folder``, so processes started together (one per
    GPU, say) build a big index once: the others wait, then load it.

    Without ``fcntl`` (Windows) or a writable parent folder there is no lock."""
    try:
        import fcntl

        folder.parent.mkdir(parents=True, exist_ok=True)
        handle = open(folder.with_name(f".{folder.name}.lock"), "a")
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
            f"corpus file {str(path)!r} does not exist; pass a FlashRAG .jsonl (one {{\"id\", \"contents\"}} per "
            "line, e.g. wiki-18.jsonl) or a .parquet with the same columns"
        )
    return path


def _documents(corpus: Corpus) -> Iterator[CorpusDoc]:
    """The corpus one document at a time; plain strings get their position as id."""
    if isinstance(corpus, (str, os.PathLike)):
        return iter_corpus(check_corpus_file(corpus))
    return (d if isinstance(d, CorpusDoc) else CorpusDoc(id=str(i), contents=str(d)) for i, d in enumerate(corpus))


def _progress(documents: Iterator[CorpusDoc], show: bool, description: str) -> Iterator[CorpusDoc]:
    from tqdm.auto import tqdm

    return tqdm(documents, desc=description, unit=" docs", disable=not show, leave=False, mininterval=1.0)


def _require_documents(count: int, corpus: Corpus) -> None:
    if count == 0:
        where = str(corpus) if isinstance(corpus, (str, os.PathLike)) else "the documents given"
        raise DatasetError(f"BM25Retriever expects a non-empty corpus, {where} has no documents")


# -------------------------------------------------------------------------- BM25


class BM25Retriever:
    """BM25 over a corpus, ranked for the query alone: the top-``topk`` documents.

    Make one with :meth:`from_corpus` (a corpus file; the index is built once and then
    loaded), :meth:`build` (a file or documents in memory) or :meth:`load` (a saved
    index folder). Hits are ranked exactly as ``CorpusSimulator`` ranks them (score > 0
    only, best first, equal scores in corpus order), so the same corpus gives the same
    order in training and evaluation. The documents' ids come in ``result.extra["ids"]``.

    A retriever loaded from a folder pickles as that folder (the copy memory-maps it
    again); one built in memory pickles whole.
    """

    def __init__(
        self,
        bm25: bm25s.BM25,
        documents: Sequence[CorpusDoc],
        *,
        index_dir: str | os.PathLike[str] | None = None,
        name: str = "bm25",
    ):
        self._bm25 = bm25
        self._documents = documents
        self.index_dir = None if index_dir is None else Path(index_dir)
        self.name = name

    # ------------------------------------------------------------ making one

    @classmethod
    def build(
        cls,
        corpus: Corpus,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        show_progress: bool = True,
        name: str | None = None,
    ) -> BM25Retriever:
        """Index ``corpus`` now. With ``index_dir`` the index is saved there (replacing an
        index already there) and returned memory-mapped from it; without, it stays in memory.

        Raises:
            DatasetError: the corpus file does not exist, is malformed, or is empty.
            ConfigError: ``index_dir`` is a file, or a non-empty folder that is no index.
        """
        name = name or _default_name(corpus)
        if index_dir is None:
            documents = list(_progress(_documents(corpus), show_progress, "BM25: reading corpus"))
            _require_documents(len(documents), corpus)
            return cls(index_texts([d.contents for d in documents], show_progress=show_progress), documents, name=name)
        folder = Path(index_dir).expanduser()
        with _build_lock(folder):
            return cls._build_into(corpus, folder, show_progress=show_progress, name=name)

    @classmethod
    def _build_into(cls, corpus: Corpus, folder: Path, *, show_progress: bool, name: str) -> BM25Retriever:
        """Build in a hidden sibling folder and move it into place when complete, so an
        interrupted build never leaves a folder that looks like an index."""
        import bm25s

        _check_replaceable(folder)
        documents = _progress(_documents(corpus), show_progress, f"BM25 index {folder.name}: reading corpus")
        staging = folder.with_name(f".{folder.name}.building-{uuid.uuid4().hex[:8]}")
        staging.mkdir(parents=True)
        try:
            texts = _write_documents(documents, staging)
            _require_documents(len(texts), corpus)
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
        return cls.load(folder, name=name)

    @classmethod
    def load(cls, index_dir: str | os.PathLike[str], *, name: str | None = None) -> BM25Retriever:
        """Open a saved index memory-mapped: scores and documents stay on disk.

        Raises:
            ConfigError: the folder is not a complete index or its manifest is corrupt.
        """
        import bm25s

        folder = Path(index_dir).expanduser()
        manifest = read_manifest(folder)
        try:
            bm25 = bm25s.BM25.load(folder, mmap=True, show_progress=False, verbosity=0)
            documents = _MappedDocuments(folder)
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(f"cannot read the BM25 index in {str(folder)!r} ({error}); delete it and build it again") from error
        count = manifest["documents"]
        if len(documents) != count or bm25.scores["num_docs"] != count:
            raise _corrupt(folder, f"{count} documents listed, {len(documents)} stored and {bm25.scores['num_docs']} indexed")
        corpus = manifest.get("corpus")
        default = f"bm25:{Path(corpus['path']).name}" if corpus else f"bm25:{folder.name}"
        return cls(bm25, documents, index_dir=folder, name=name or default)

    @classmethod
    def from_corpus(
        cls,
        corpus_path: str | os.PathLike[str],
        index_dir: str | os.PathLike[str] | None = None,
        *,
        show_progress: bool = True,
        name: str | None = None,
    ) -> BM25Retriever:
        """The retriever of a corpus file: its saved index when that matches the file,
        else a fresh one, built and saved (``index_dir``, default :func:`default_index_dir`).

        An index matches when the corpus path, size and modification time are the ones
        in its manifest; a changed corpus is re-indexed, with a logged warning saying why.
        """
        path = check_corpus_file(corpus_path)
        folder = Path(index_dir).expanduser() if index_dir is not None else default_index_dir(path)
        name = name or _default_name(path)
        with _build_lock(folder):
            if (folder / MANIFEST).is_file():
                change = _corpus_change(read_manifest(folder), path)
                if change is None:
                    return cls.load(folder, name=name)
                logger.warning("%s: rebuilding the BM25 index in %s", change, folder)
            return cls._build_into(path, folder, show_progress=show_progress, name=name)

    # ------------------------------------------------------------ searching

    def __len__(self) -> int:
        return len(self._documents)

    def document(self, index: int) -> CorpusDoc:
        """The ``index``-th document of the corpus (read from disk for a saved index)."""
        return self._documents[index]

    def ranked(self, queries: Sequence[str], k: int) -> list[list[int]]:
        """The at most ``k`` documents with a positive BM25 score for each query: best
        first, equal scores in corpus order (:func:`~.ranking.top_documents`)."""
        return [top_documents(self._bm25, words, k) for words in query_words(queries)]

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """The top ``request.topk`` documents for each ``request.query``; nothing else is read."""
        if not requests:
            return []
        started = time.perf_counter()
        queries = list(dict.fromkeys(r.query for r in requests))  # a GRPO group repeats queries
        hits = dict(zip(queries, self.ranked(queries, max(r.topk for r in requests))))
        served = {i: self._documents[i] for ranked in hits.values() for i in ranked}
        lines = {i: one_line(doc.contents) for i, doc in served.items()}
        latency = (time.perf_counter() - started) / len(requests)
        results = []
        for request in requests:
            chosen = hits[request.query][: request.topk]
            results.append(
                SearchResult(
                    documents=tuple(lines[i] for i in chosen),
                    latency_s=latency,
                    extra={"ids": tuple(served[i].id for i in chosen)},
                )
            )
        return results

    def close(self) -> None:
        """Unmap the documents of a saved index (the retriever is unusable afterwards)."""
        if isinstance(self._documents, _MappedDocuments):
            self._documents.close()

    def __repr__(self) -> str:
        where = f"index_dir={str(self.index_dir)!r}" if self.index_dir else "in memory"
        return f"BM25Retriever({len(self)} documents, {where}, name={self.name!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.index_dir is not None:  # memory maps do not pickle; the folder does
            del state["_bm25"], state["_documents"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_bm25" not in state:
            loaded = type(self).load(self.index_dir, name=self.name)
            self._bm25, self._documents = loaded._bm25, loaded._documents


def _default_name(corpus: Corpus) -> str:
    return f"bm25:{Path(corpus).name}" if isinstance(corpus, (str, os.PathLike)) else "bm25"


# -------------------------------------------------------------------------- HTTP

_SERVER_COMMAND = (
    "python search_r1/search/retrieval_server.py --index_path e5_Flat.index --corpus_path wiki-18.jsonl "
    "--topk 3 --retriever_name e5 --retriever_model intfloat/e5-base-v2"
)
_FIXES = {
    "connection": f"start the retriever ({_SERVER_COMMAND}) or pass the URL it serves: sim='retriever:http://host:8000/retrieve'",
    "timeout": "the retriever is slow or overloaded: raise sim_kwargs timeout_s or lower batch_size",
    "http": "check that the URL is the retriever's /retrieve endpoint and read the server's log",
    "protocol": "the server does not answer like Search-R1's /retrieve "
    "({'result': [[{'document': {'id', 'contents'}, 'score'}, ...], ...]}); check the URL",
}


class _Hit(NamedTuple):
    text: str
    id: str | None
    score: float | None


class _ProtocolError(ValueError):
    """The server's JSON is not a Search-R1 ``/retrieve`` answer."""


def _hit(item: Any) -> _Hit:
    """One retrieved document: ``{"document": doc, "score": s}`` or the document itself,
    where a document is ``{"id", "contents"}``, ``{"title", "text"}`` or a string."""
    score = None
    if isinstance(item, dict) and "document" in item:
        score, item = item.get("score"), item["document"]
    score = float(score) if isinstance(score, (int, float)) else None
    if isinstance(item, str):
        return _Hit(one_line(item), None, score)
    if isinstance(item, dict):
        contents = item.get("contents")
        if contents is None and isinstance(item.get("text"), str):
            contents = f'"{item["title"]}"\n{item["text"]}' if item.get("title") else item["text"]
        if isinstance(contents, str):
            doc_id = item.get("id")
            return _Hit(one_line(contents), None if doc_id is None else str(doc_id), score)
    raise _ProtocolError(f"a document is neither text nor a dict with 'contents': {str(item)[:80]}")


def _parse_response(payload: Any, queries: int) -> list[list[_Hit]]:
    """The hits of each query in a Search-R1 ``/retrieve`` answer, in query order.

    >>> doc = {"id": "7", "contents": '"Acme"\\nAcme makes anvils.'}
    >>> _parse_response({"result": [[{"document": doc, "score": 0.5}]]}, 1)[0][0]
    _Hit(text='"Acme" Acme makes anvils.', id='7', score=0.5)
    >>> _parse_response({"result": [[doc]]}, 1)[0][0].score is None
    True
    """
    lists = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(lists, list) or len(lists) != queries or not all(isinstance(hits, list) for hits in lists):
        got = type(lists).__name__ if not isinstance(lists, list) else f"{len(lists)} entries"
        raise _ProtocolError(f"expected 'result' to hold {queries} lists, one per query, got {got}")
    return [[_hit(item) for item in hits] for hits in lists]


class HTTPRetriever:
    """A client of Search-R1's retrieval server (``POST /retrieve``).

    Every query of a :meth:`simulate` call goes out in batches of ``batch_size`` (sent
    ``concurrency`` at a time) with the largest ``topk`` asked for; each request then
    keeps its own ``topk``. Only the queries are sent. Document ids and scores come in
    ``result.extra["ids"]`` / ``["scores"]``.

    Args:
        url: the endpoint, e.g. ``http://127.0.0.1:8000/retrieve`` (a URL without a path
            gets ``/retrieve``).
        batch_size: queries per HTTP request; concurrency: requests in flight at once.
        timeout_s, retries, backoff_s: per-attempt timeout; extra attempts after the
            first (for connection errors, timeouts and HTTP 408/429/5xx; a reply that
            is not the API is not retried); the first backoff (doubled on each retry).
        on_error: ``"raise"`` a :class:`SimulatorError`, or return an explicit
            ``"fallback"`` result (no documents, ``error`` set) for the failed queries.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000/retrieve",
        *,
        batch_size: int = 64,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        on_error: Literal["raise", "fallback"] = "raise",
        name: str | None = None,
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"url expects an http(s) URL like 'http://127.0.0.1:8000/retrieve', got {url!r}")
        if batch_size < 1 or concurrency < 1 or retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ConfigError(
                "expects batch_size >= 1, concurrency >= 1, retries >= 0, timeout_s > 0, backoff_s >= 0; "
                f"got {batch_size}, {concurrency}, {retries}, {timeout_s}, {backoff_s}"
            )
        if on_error not in ("raise", "fallback"):
            raise ConfigError(f"on_error expects 'raise' or 'fallback', got {on_error!r}")
        self.url = _with_path(url)
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_error = on_error
        self.name = name or f"retriever:{self.url}"
        self._client = self._new_client()

    def _new_client(self) -> Any:
        import httpx

        return httpx.Client(timeout=self.timeout_s, limits=httpx.Limits(max_connections=self.concurrency))

    def __repr__(self) -> str:
        return f"HTTPRetriever(url={self.url!r}, batch_size={self.batch_size})"

    def payload(self, queries: Sequence[str], topk: int) -> dict[str, Any]:
        """The JSON body of one ``/retrieve`` request."""
        return {"queries": list(queries), "topk": topk, "return_scores": True}

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """The top ``request.topk`` documents the server finds for each ``request.query``."""
        if not requests:
            return []
        started = time.perf_counter()
        topk = max(r.topk for r in requests)
        queries = [r.query for r in requests]
        chunks = [queries[i : i + self.batch_size] for i in range(0, len(queries), self.batch_size)]
        if len(chunks) == 1:
            answers = [self._post(chunks[0], topk)]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
                answers = list(pool.map(self._post, chunks, repeat(topk)))
        latency = (time.perf_counter() - started) / len(requests)
        per_query: list[list[_Hit] | SimulatorFault] = []
        for chunk, answer in zip(chunks, answers):
            per_query.extend(answer if isinstance(answer, list) else [answer] * len(chunk))
        faults = [a for a in per_query if isinstance(a, SimulatorFault)]
        if faults and self.on_error == "raise":
            fault = faults[0]
            raise SimulatorError(
                f"{self.name}: {len(faults)} of {len(requests)} queries failed after {fault.attempts} attempt(s): "
                f"{fault.message}; {_FIXES.get(fault.kind, '')}",
                fault=fault,
            )
        return [_result(request, answer, latency) for request, answer in zip(requests, per_query)]

    def _post(self, queries: list[str], topk: int) -> list[list[_Hit]] | SimulatorFault:
        """One batch, with retries; the hits of each query, or the last fault."""
        import httpx

        body = self.payload(queries, topk)
        attempt = 0
        while True:
            attempt += 1
            retry = True
            try:
                response = self._client.post(self.url, json=body)
                if response.status_code == 200:
                    return _parse_response(response.json(), len(queries))
                detail = response.text[:200].strip()
                fault = SimulatorFault("http", f"{self.url} answered HTTP {response.status_code} {detail}".rstrip(), attempt)
                retry = response.status_code >= 500 or response.status_code in (408, 429)
            except httpx.TimeoutException:
                fault = SimulatorFault("timeout", f"{self.url} timed out after {self.timeout_s}s", attempt)
            except httpx.TransportError as error:
                fault = SimulatorFault("connection", f"{self.url} unreachable ({type(error).__name__})", attempt)
            except ValueError as error:  # not JSON, or _ProtocolError
                fault = SimulatorFault("protocol", f"{self.url} sent a reply that is not a /retrieve answer: {error}", attempt)
                retry = False
            if not retry or attempt > self.retries:
                return fault
            time.sleep(self.backoff_s * 2 ** (attempt - 1))

    def close(self) -> None:
        self._client.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_client"]  # a connection pool does not pickle; the copy opens its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client = self._new_client()


def _with_path(url: str) -> str:
    """``url``, with ``/retrieve`` when it names only a host (``http://host:8000``)."""
    from urllib.parse import urlsplit

    return f"{url.rstrip('/')}/retrieve" if urlsplit(url).path in ("", "/") else url


def _result(request: SearchRequest, answer: list[_Hit] | SimulatorFault, latency: float) -> SearchResult:
    if isinstance(answer, SimulatorFault):
        return SearchResult(documents=(), latency_s=latency, error=answer)
    hits = answer[: request.topk]
    return SearchResult(
        documents=tuple(h.text for h in hits),
        latency_s=latency,
        extra={"ids": tuple(h.id for h in hits), "scores": tuple(h.score for h in hits)},
    )
