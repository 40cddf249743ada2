"""``sim="bm25"``: a real retriever, BM25 over a corpus, that reads the query and nothing else.

:class:`~zerosearch_env.simulators.corpus.CorpusSimulator` reads each request's golden
answers to make a search useful or noisy. That is what a curriculum needs in training,
and exactly what evaluation must not do: a policy would be scored on documents chosen
with the answer in hand. :class:`BM25Retriever` implements the same
:class:`~zerosearch_env.simulators.base.Simulator` protocol but uses only
``request.query`` and ``request.topk``; ``golden_answers``, ``question``, ``quality``,
``context`` and ``seed`` are never read. A big corpus is indexed once into a folder
(:mod:`.bm25_index`) and memory-mapped on every later run; documents are read from disk
only when returned, as one line each (white space collapsed), like every simulator's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import CorpusDoc
from .base import SearchRequest, SearchResult
from .bm25_index import (
    MANIFEST,
    Corpus,
    MappedDocuments,
    build_lock,
    check_corpus_file,
    corpus_change,
    default_index_dir,
    iter_documents,
    open_index,
    progress,
    read_manifest,
    require_documents,
    write_index,
)
from .ranking import index_texts, one_line, query_words, top_documents

if TYPE_CHECKING:
    import bm25s

logger = logging.getLogger(__name__)


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

    #: It reads the query and nothing else (no golden answers, no quality): it has no noisy mode.
    query_only = True

    def __init__(
        self,
        bm25: bm25s.BM25,
        documents: Sequence[CorpusDoc] | MappedDocuments,
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
            documents = list(progress(iter_documents(corpus), show_progress, "BM25: reading corpus"))
            require_documents(len(documents), corpus)
            return cls(index_texts([d.contents for d in documents], show_progress=show_progress), documents, name=name)
        folder = Path(index_dir).expanduser()
        with build_lock(folder):
            return cls._build_into(corpus, folder, show_progress=show_progress, name=name)

    @classmethod
    def _build_into(cls, corpus: Corpus, folder: Path, *, show_progress: bool, name: str) -> BM25Retriever:
        write_index(corpus, folder, show_progress=show_progress)
        return cls.load(folder, name=name)

    @classmethod
    def load(cls, index_dir: str | os.PathLike[str], *, name: str | None = None) -> BM25Retriever:
        """Open a saved index memory-mapped: scores and documents stay on disk.

        Raises:
            ConfigError: the folder is not a complete index or its manifest is corrupt.
        """
        folder = Path(index_dir).expanduser()
        bm25, documents, manifest = open_index(folder)
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
        with build_lock(folder):
            if (folder / MANIFEST).is_file():
                change = corpus_change(read_manifest(folder), path)
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
        if isinstance(self._documents, MappedDocuments):
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
        if "_bm25" not in state and self.index_dir is not None:
            loaded = type(self).load(self.index_dir, name=self.name)
            self._bm25, self._documents = loaded._bm25, loaded._documents


def _default_name(corpus: Corpus) -> str:
    return f"bm25:{Path(corpus).name}" if isinstance(corpus, (str, os.PathLike)) else "bm25"
