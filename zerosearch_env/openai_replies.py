"""Reading an OpenAI-compatible completion strictly: its text and its token counts.

The simulator backend and the evaluation's agent both read completions from servers
they do not control. A reply that parses as JSON but has the wrong shape (``content`` a
number or a list, ``usage`` a list, a negative token count) raises ``TypeError`` or
``ValueError`` here, naming what is wrong; ``http_client.post_json`` turns that into a
typed ``protocol`` fault, retried like any other failed request.
"""

from __future__ import annotations

from typing import Any


def completion_text(reply: Any, *, chat: bool = True) -> str:
    """The text of the first choice: ``message.content`` (chat) or ``text`` (completions);
    a null content is the empty string.

    >>> completion_text({"choices": [{"message": {"content": "Doc 1: a"}}]})
    'Doc 1: a'
    >>> completion_text({"choices": [{"message": {"content": 5}}]})
    Traceback (most recent call last):
    TypeError: its content is a int, not a string
    """
    if not isinstance(reply, dict):
        raise TypeError(f"it is a {type(reply).__name__}, not a JSON object")
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("it has no choices")
    if chat:
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise TypeError(f"its message is a {type(message).__name__}, not an object")
        text = message.get("content")
    else:
        text = choices[0].get("text")
    if text is None:
        return ""
    if not isinstance(text, str):
        raise TypeError(f"its content is a {type(text).__name__}, not a string")
    return text


def token_counts(reply: dict[str, Any]) -> tuple[int, int]:
    """``(prompt_tokens, completion_tokens)`` from ``usage``; (0, 0) when a server sends none.

    >>> token_counts({"usage": {"prompt_tokens": 40, "completion_tokens": 60}})
    (40, 60)
    >>> token_counts({"usage": {"prompt_tokens": -5}})
    Traceback (most recent call last):
    ValueError: its usage.prompt_tokens is -5, not a token count
    """
    usage = reply.get("usage")
    if usage is None:
        return 0, 0
    if not isinstance(usage, dict):
        raise TypeError(f"its usage is a {type(usage).__name__}, not an object")
    counts = []
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        value = 0 if value is None else value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"its usage.{key} is {value!r}, not a token count")
        counts.append(value)
    return counts[0], counts[1]
