"""Answer scoring: the normalisation, F1, strict EM and cover-EM of ZeroSearch.

``f1_score`` is the training reward of ZeroSearch. What the reference code calls "EM"
is :func:`cover_exact_match` (a golden answer appears inside the prediction);
:func:`exact_match` is the strict version (equality after normalisation). All three
take the max over golden answers and return 0.0 for a missing or empty prediction.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Hashable, Iterable
from typing import NamedTuple, TypeVar

Golden = str | Iterable[str]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str | None) -> str:
    """Lower-case, drop punctuation, drop the articles a/an/the, collapse white space.

    >>> normalize_answer("  The Eiffel-Tower, in PARIS! ")
    'eiffeltower in paris'
    >>> normalize_answer(None)
    ''
    """
    if not text:
        return ""
    text = text.lower().translate(_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


# ----------------------------------------------------------------------------- the cache

#: The longest key the normalisation caches keep, in characters (a golden-answer tuple
#: counts the sum of its answers). What repeats (golden answers, the short answers of an
#: RL group) is short; a long answer is normalised each time it comes.
CACHE_MAX_CHARS = 256
#: Entries per cache. With CACHE_MAX_CHARS this bounds both caches together to
#: 2 * 65,536 * 256 = 33.5M characters of keys; a value is at most twice its key (U+0130
#: lower-cases to two characters, nothing else grows).
CACHE_MAX_ENTRIES = 1 << 16

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _bounded_memo(function: Callable[[K], V], size: Callable[[K], int], store: dict[K, V]) -> Callable[[K], V]:
    """``function`` memoised in ``store``, which keeps only keys of at most
    ``CACHE_MAX_CHARS`` and at most ``CACHE_MAX_ENTRIES`` of them.

    Why not ``functools.lru_cache``: it bounds the number of entries, not their size, and
    kept whole answers of up to 20,000 characters (65,536 of them: gigabytes). When full,
    the store starts over rather than tracking recency: a hit stays one dict look-up (this
    runs for every answer of every rollout), and what repeats is back after one miss.
    """

    def memo(key: K) -> V:
        try:
            return store[key]
        except KeyError:
            pass
        value = function(key)
        if size(key) <= CACHE_MAX_CHARS:
            if len(store) >= CACHE_MAX_ENTRIES:
                store.clear()
            store[key] = value
        return value

    return memo


_NORMALIZED: dict[str, str] = {}
#: ``normalize_answer`` memoised: golden answers and RL groups' answers repeat.
_normalized = _bounded_memo(normalize_answer, len, _NORMALIZED)


def _as_list(golden_answers: Golden | None) -> list[str]:
    if golden_answers is None:
        return []
    if isinstance(golden_answers, str):
        return [golden_answers]
    return [g for g in golden_answers if isinstance(g, str)]


def _token_f1(normalized_prediction: str, normalized_golden: str) -> float:
    if normalized_prediction == normalized_golden:
        return 1.0 if normalized_prediction else 0.0
    pred_tokens = normalized_prediction.split()
    gold_tokens = normalized_golden.split()
    if not pred_tokens or not gold_tokens:
        return 0.0
    # Multiset overlap with a plain dict: answers are a few tokens, and this runs for
    # every answer of every rollout (collections.Counter costs several times more here).
    unmatched: dict[str, int] = {}
    for token in pred_tokens:
        unmatched[token] = unmatched.get(token, 0) + 1
    overlap = 0
    for token in gold_tokens:
        left = unmatched.get(token)
        if left:
            unmatched[token] = left - 1
            overlap += 1
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str | None, golden_answers: Golden | None) -> float:
    """Token-overlap F1 of the normalised prediction, max over golden answers.

    >>> f1_score("Jane Doe", ["jane doe"])
    1.0
    >>> round(f1_score("the president Jane Doe", ["Jane Doe", "Doe"]), 3)
    0.8
    >>> f1_score("", ["Paris"]), f1_score(None, ["Paris"]), f1_score("Paris", [])
    (0.0, 0.0, 0.0)
    """
    if not prediction:
        return 0.0
    pred = _normalized(prediction)
    return max((_token_f1(pred, _normalized(g)) for g in _as_list(golden_answers)), default=0.0)


def exact_match(prediction: str | None, golden_answers: Golden | None) -> float:
    """Strict EM: 1.0 if the normalised prediction equals a normalised golden answer.

    >>> exact_match("The Beatles!", ["beatles"])
    1.0
    >>> exact_match("the Beatles and Queen", ["Beatles"])
    0.0
    """
    pred = _normalized(prediction) if prediction else ""
    if not pred:
        return 0.0
    return float(any(pred == _normalized(g) for g in _as_list(golden_answers)))


def cover_exact_match(prediction: str | None, golden_answers: Golden | None) -> float:
    """Cover-EM (the reference's "EM"): 1.0 if a normalised golden answer is a substring
    of the normalised prediction.

    >>> cover_exact_match("it was the Beatles and Queen", ["Beatles"])
    1.0
    >>> cover_exact_match("Queen", ["Beatles"])
    0.0
    """
    pred = _normalized(prediction) if prediction else ""
    if not pred:
        return 0.0
    golds = (_normalized(g) for g in _as_list(golden_answers))
    return float(any(g and g in pred for g in golds))


def contains_answer(text: str | None, golden_answers: Golden | None) -> bool:
    """Whether a normalised golden answer occurs in the normalised ``text`` as whole
    words: the answer test of the corpus simulator (which drops such documents from a
    noisy search) and of the fidelity benchmark's answer presence and leak rate.

    >>> contains_answer("Karvex Mills was founded in 1932.", ["1932"])
    True
    >>> contains_answer("It opened in 19320.", ["1932"]), contains_answer("anything", [""])
    (False, False)
    """
    padded = f" {normalize_answer(text)} "
    return any(f" {gold} " in padded for gold in map(normalize_answer, _as_list(golden_answers)) if gold)


RewardFn = Callable[[str, "tuple[str, ...]"], float]

REWARDS: dict[str, RewardFn] = {
    "f1": f1_score,
    "em": exact_match,
    "cover_em": cover_exact_match,
}


class AnswerScores(NamedTuple):
    """All three scores of one final answer (a named tuple: built for every answer)."""

    f1: float
    em: float
    cover_em: float


def score_answer(prediction: str | None, golden_answers: Golden | None) -> AnswerScores:
    """F1, strict EM and cover-EM in one call.

    >>> score_answer("Jane Doe", ["Jane Doe"])
    AnswerScores(f1=1.0, em=1.0, cover_em=1.0)
    >>> score_answer("the Jane Doe Foundation", ("Jane Doe", "J. Doe"))
    AnswerScores(f1=0.8, em=0.0, cover_em=1.0)
    """
    pred = _normalized(prediction) if prediction else ""
    if not pred:
        return _NO_SCORE
    golds = _normalized_golds(golden_answers) if isinstance(golden_answers, tuple) else _normalize_all(golden_answers)
    if pred in golds:  # the common case of a right answer: every score is 1
        return _FULL_SCORE
    f1 = 0.0
    cover = 0.0
    for gold in golds:
        f1 = max(f1, _token_f1(pred, gold))
        if gold and gold in pred:
            cover = 1.0
    return AnswerScores(f1, 0.0, cover)


_NO_SCORE = AnswerScores(0.0, 0.0, 0.0)
_FULL_SCORE = AnswerScores(1.0, 1.0, 1.0)


def _normalize_all(golden_answers: Golden | None) -> tuple[str, ...]:
    return tuple(_normalized(g) for g in _as_list(golden_answers))


def _golds_size(golden_answers: tuple[str, ...]) -> int:
    """The size of a golden-answer tuple, as the cache bounds it: its answers' characters."""
    return sum(len(g) if isinstance(g, str) else 0 for g in golden_answers)


_NORMALIZED_GOLDS: dict[tuple[str, ...], tuple[str, ...]] = {}
#: A dataset row's golden answers, normalised once (rows keep them as a tuple).
_normalized_golds = _bounded_memo(_normalize_all, _golds_size, _NORMALIZED_GOLDS)


class CacheUsage(NamedTuple):
    """What the normalisation caches hold: entries, characters of keys, the longest key."""

    entries: int
    chars: int
    longest_key: int


def normalization_cache_usage() -> CacheUsage:
    """What the answer and golden-answer caches hold together (at most
    ``2 * CACHE_MAX_ENTRIES`` keys of at most ``CACHE_MAX_CHARS`` characters)."""
    sizes = [len(key) for key in _NORMALIZED] + [_golds_size(key) for key in _NORMALIZED_GOLDS]
    return CacheUsage(len(sizes), sum(sizes), max(sizes, default=0))


def clear_normalization_cache() -> None:
    """Empty both caches (scores do not change; the next calls normalise again)."""
    _NORMALIZED.clear()
    _NORMALIZED_GOLDS.clear()


def resolve_reward(reward: str | RewardFn) -> RewardFn:
    """Map ``"f1"``, ``"em"``, ``"cover_em"`` or a callable to a reward function."""
    if callable(reward):
        return reward
    try:
        return REWARDS[reward]
    except KeyError:
        from .errors import ConfigError

        raise ConfigError(f"reward expects one of {sorted(REWARDS)} or a callable(answer, golden_answers) -> float, got {reward!r}") from None
