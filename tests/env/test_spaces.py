import pickle

import pytest

from zerosearch_env.spaces import TextSpace


def test_contains_any_unicode_within_length():
    space = TextSpace(max_length=20)
    assert space.contains("Hello, world! <x>")
    assert space.contains("東京 café ß")
    assert space.contains("")
    assert not space.contains("x" * 21)
    assert not space.contains(b"bytes")
    assert not space.contains(None)


def test_check_errors_name_the_problem():
    space = TextSpace(max_length=5)
    with pytest.raises(TypeError, match="expects a str, got int"):
        space.check(3)
    with pytest.raises(ValueError, match="at most 5 characters, got 6"):
        space.check("abcdef")
    assert space.check("abc") == "abc"


def test_sample_is_seeded_and_in_space():
    a, b = TextSpace(100, seed=3), TextSpace(100, seed=3)
    samples = [a.sample() for _ in range(20)]
    assert samples == [b.sample() for _ in range(20)]
    assert all(a.contains(s) for s in samples)


def test_equality_and_pickle():
    space = TextSpace(10, min_length=2)
    assert space == TextSpace(10, min_length=2) != TextSpace(11)
    assert pickle.loads(pickle.dumps(space)) == space


@pytest.mark.parametrize("kwargs", [{"max_length": 0}, {"max_length": 5, "min_length": 6}, {"max_length": "9"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TextSpace(**kwargs)
