import random
from collections import Counter

import pytest

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
