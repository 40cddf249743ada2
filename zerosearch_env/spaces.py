"""``TextSpace``: a Gymnasium space of unicode strings up to a maximum length.

``gymnasium.spaces.Text`` only admits a fixed character set (an ordinary sentence with
a space or a comma is outside it) and a full-unicode charset is slow to build and copy.
A text environment needs a space that holds any ``str``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from gymnasium.spaces import Space

from .protocol import STOP_TAGS

# Characters used by ``sample``: printable ASCII plus a few non-ASCII letters, so that
# sampled strings exercise unicode handling without being unreadable.
_SAMPLE_ALPHABET = np.array(list(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,?!<>/'\"-éüßøæ中文"))


class TextSpace(Space[str]):
    """Any Python ``str`` with ``min_length <= len(s) <= max_length``.

    >>> space = TextSpace(max_length=8)
    >>> space.contains("héllo, ok"), space.contains("short"), space.contains(b"bytes")
    (False, True, False)
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None):
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"TextSpace expects max_length to be a positive int, got {max_length!r}")
        if not isinstance(min_length, int) or not 0 <= min_length <= max_length:
            raise ValueError(f"TextSpace expects 0 <= min_length <= max_length, got {min_length!r}")
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string of at most ``min(max_length, 64)`` characters."""
        high = min(self.max_length, max(self.min_length, 64))
        length = int(self.np_random.integers(self.min_length, high + 1))
        return "".join(self.np_random.choice(_SAMPLE_ALPHABET, size=length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def check(self, x: Any, name: str = "action") -> str:
        """Return ``x`` if it belongs to the space, else raise a ``TypeError``/``ValueError``
        that names the problem."""
        if not isinstance(x, str):
            raise TypeError(f"{name} expects a str, got {type(x).__name__}: {x!r:.80}")
        if len(x) > self.max_length:
            raise ValueError(
                f"{name} expects at most {self.max_length} characters, got {len(x)}; "
                f"cut the generation at the first {' or '.join(STOP_TAGS)}, or raise max_action_chars"
            )
        if len(x) < self.min_length:
            raise ValueError(f"{name} expects at least {self.min_length} characters, got {len(x)}")
        return x

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length}, min_length={self.min_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TextSpace) and (other.max_length, other.min_length) == (self.max_length, self.min_length)

    def to_jsonable(self, sample_n: Iterable[str]) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[str]) -> list[str]:
        return list(sample_n)
