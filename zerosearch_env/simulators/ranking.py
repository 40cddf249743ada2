"""BM25 pieces shared by the corpus simulator and the BM25 retriever.

Both tokenise, index and rank through these functions, so a corpus ranks the same way
whether it is searched by :class:`~zerosearch_env.simulators.corpus.CorpusSimulator`
(training, with useful/noisy control) or by
:class:`~zerosearch_env.simulators.retriever.BM25Retriever` (evaluation, query only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import bm25s

STOPWORDS = "en"
"""The ``bm25s`` stop-word list of every index and query; changing it invalidates saved indexes."""


def index_texts(texts: Sequence[str], *, show_progress: bool = False) -> bm25s.BM25:
    """A BM25 index (``bm25s``, default parameters) of ``texts``, in their order."""
    import bm25s

    tokens = bm25s.tokenize(list(texts), stopwords=STOPWORDS, show_progress=show_progress)
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=show_progress)
    return bm25


def query_words(queries: Sequence[str]) -> list[list[str]]:
    """Each query as the words the index was built from (lower case, stop words removed)."""
    import bm25s

    return bm25s.tokenize(list(queries), stopwords=STOPWORDS, return_ids=False, show_progress=False)


def top_documents(bm25: bm25s.BM25, words: list[str], k: int) -> list[int]:
    """The at most ``k`` documents with a positive BM25 score for ``words``: best first,
    equal scores in corpus order.

    ``bm25s.retrieve`` selects the top ``k`` with ``np.argpartition`` over the whole
    corpus, which orders ties arbitrarily (differently across numpy versions) and slows
    down badly when most scores are zero, as they are for any query on a large corpus.
    The scores here are the same (``BM25.get_scores``), but only the documents that match
    a query word are ranked, with a stable sort.

    >>> bm25 = index_texts(["red apple", "green pear", "red apple", "apple"])
    >>> top_documents(bm25, ["red", "apple"], k=3), top_documents(bm25, [], k=3)
    ([0, 2, 3], [])
    """
    if not words:  # every word was a stop word
        return []
    scores = bm25.get_scores(words)
    hits = np.flatnonzero(scores > 0)  # ascending corpus order
    values = scores[hits]
    if hits.size > k:
        # Keep everything scoring at least the k-th best score (ties at the cut
        # included), so the stable sort below decides ties by corpus order alone.
        cut = hits.size - k
        keep = values >= np.partition(values, cut)[cut]
        hits, values = hits[keep], values[keep]
    order = np.argsort(-values, kind="stable")[:k]
    return hits[order].tolist()


def one_line(contents: str) -> str:
    """A document on one line (white space collapsed), as the released simulators write them.

    >>> one_line('"Acme"\\nAcme makes   anvils. ')
    '"Acme" Acme makes anvils.'
    """
    return " ".join(contents.split())
