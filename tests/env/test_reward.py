import random
import tracemalloc
from collections import Counter

import pytest

from zerosearch_env import reward
from zerosearch_env.errors import ConfigError
from zerosearch_env.reward import (
    cover_exact_match,
    exact_match,
    f1_score,
    normalize_answer,
    resolve_reward,
    score_answer,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Beatles", "beatles"),
        ("  a  Tale of  Two Cities ", "tale of two cities"),
        ("U.S.A.", "usa"),
        ("Théâtre   du Soleil!", "théâtre du soleil"),
        ("an apple, the end", "apple end"),
        ("Athens", "athens"),  # 'the' inside a word is not an article
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    "prediction, golden, f1, em, cover",
    [
        ("Jane Doe", ["Jane Doe"], 1.0, 1.0, 1.0),
        ("jane doe.", ["Jane Doe"], 1.0, 1.0, 1.0),
        ("Jane", ["Jane Doe"], 2 / 3, 0.0, 0.0),
        ("Dr Jane Doe", ["Jane Doe"], 0.8, 0.0, 1.0),
        ("Paris", ["London", "paris"], 1.0, 1.0, 1.0),
        ("the", ["The"], 0.0, 0.0, 0.0),  # both normalise to nothing
        ("", ["Paris"], 0.0, 0.0, 0.0),
        (None, ["Paris"], 0.0, 0.0, 0.0),
        ("Paris", [], 0.0, 0.0, 0.0),
        ("Paris", None, 0.0, 0.0, 0.0),
        ("Paris", "Paris", 1.0, 1.0, 1.0),  # a bare string is one golden answer
    ],
)
def test_reward_table(prediction, golden, f1, em, cover):
    assert f1_score(prediction, golden) == pytest.approx(f1)
    assert exact_match(prediction, golden) == em
    assert cover_exact_match(prediction, golden) == cover
    assert score_answer(prediction, golden).f1 == pytest.approx(f1)


def test_f1_counts_repeated_tokens_once_per_match():
    # "new new york" vs "new york": overlap 2, precision 2/3, recall 1
    assert f1_score("new new york", ["new york"]) == pytest.approx(0.8)


def test_f1_matches_the_multiset_definition_on_random_answers():
    """SQuAD F1: overlap is the size of the multiset intersection of the token lists."""
    rng = random.Random(0)
    words = ["new", "york", "city", "jane", "doe", "1990"]
    for _ in range(500):
        pred = " ".join(rng.choices(words, k=rng.randint(1, 5)))
        gold = " ".join(rng.choices(words, k=rng.randint(1, 5)))
        overlap = sum((Counter(pred.split()) & Counter(gold.split())).values())
        expected = 0.0 if overlap == 0 else 2 * overlap / (len(pred.split()) + len(gold.split()))
        assert f1_score(pred, [gold]) == pytest.approx(expected)


def test_resolve_reward():
    assert resolve_reward("f1") is f1_score
    assert resolve_reward("cover_em") is cover_exact_match
    custom = lambda answer, golden: 0.5  # noqa: E731
    assert resolve_reward(custom) is custom
    with pytest.raises(ConfigError, match="f1"):
        resolve_reward("bleu")


def test_rewards_are_picklable():
    import pickle

    assert pickle.loads(pickle.dumps(f1_score))("a b", ["a b"]) == 1.0


# ------------------------------------------------------------------ the normalisation cache stays small


def unique_answers(count: int, length: int, seed: int) -> list[str]:
    """``count`` different answers of ``length`` characters (words, so normalising has work to do)."""
    rng = random.Random(seed)
    words = ["Jane", "Doe", "the", "river", "Town,", "1901", "Théâtre"]
    answers = []
    for i in range(count):
        text = f"{i} " + " ".join(rng.choices(words, k=length // 4))
        answers.append(text[:length].ljust(length, "x"))
    return answers


def test_the_normalisation_cache_holds_no_long_answer_and_stays_within_its_stated_bound(monkeypatch):
    """Whatever is fed (long answers, the audit's case, and more short ones than fit),
    every key held is at most CACHE_MAX_CHARS long and each cache holds at most
    CACHE_MAX_ENTRIES keys (shrunk to 100 here, so it overflows quickly)."""
    assert 2 * reward.CACHE_MAX_ENTRIES * reward.CACHE_MAX_CHARS <= 40_000_000  # the stated bound
    monkeypatch.setattr(reward, "CACHE_MAX_ENTRIES", 100)
    reward.clear_normalization_cache()
    for answer in unique_answers(200, 20_000, seed=1):
        score_answer(answer, ("Jane Doe",))
        f1_score(answer, [answer[:30]])
        score_answer("Jane Doe", (answer,))  # a long golden answer
    assert reward.normalization_cache_usage().longest_key <= 30  # only the short golden answers
    for answer in unique_answers(1_000, reward.CACHE_MAX_CHARS, seed=2):
        score_answer(answer, (answer[-10:],))
    usage = reward.normalization_cache_usage()
    assert usage.longest_key == reward.CACHE_MAX_CHARS
    assert 0 < usage.entries <= 2 * 100  # two caches: answers, and rows' golden answers
    assert usage.chars <= 2 * 100 * reward.CACHE_MAX_CHARS


def test_long_answers_are_scored_without_being_kept():
    """The audit's case, measured by the Python allocator: 200 unique answers of 20,000
    characters (4 MB of text) leave nothing behind once scored."""
    answers = unique_answers(200, 20_000, seed=3)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for answer in answers:
            assert f1_score(answer, ["Jane Doe"]) >= 0.0
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 200_000


def test_cached_and_uncached_answers_score_the_same():
    long_answer = "The founder was Jane Doe. " * 1_000
    assert len(long_answer) > reward.CACHE_MAX_CHARS
    golden = ("jane doe", "The founder was Jane Doe. " * 1_000)
    for _ in range(2):  # the second time from the cache where it caches
        assert score_answer(long_answer, golden) == (1.0, 1.0, 1.0)
        assert score_answer("Jane Doe!", golden) == (1.0, 1.0, 1.0)
        assert f1_score(long_answer, ["Jane Doe"]) == pytest.approx(2 / 2_001)  # overlap 2 of 4,000 and 2 tokens
