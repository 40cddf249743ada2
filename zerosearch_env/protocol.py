"""The policy's wire protocol: prompt template, action parsing, observation strings.

These strings are facts of ZeroSearch (and Search-R1 before it): released policies were
trained on them, so they are reproduced byte for byte.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

ActionKind = Literal["search", "answer", "invalid"]

POLICY_PROMPT_TEMPLATE = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> "
    "first every time you get new information. After reasoning, if you find you lack some "
    "knowledge, you can call a search engine by <search> query </search> and it will return "
    "the top searched results between <information> and </information>. You can search as "
    "many times as your want. If you find no further external knowledge needed, you can "
    "directly provide the answer inside <answer> and </answer>, without detailed "
    "illustrations. For example, <answer> Beijing </answer>. Question: {question}\n"
)

INVALID_ACTION_FEEDBACK = (
    "\nMy previous action is invalid. If I want to search, I should put the query between "
    "<search> and </search>. If I want to give the final answer, I should put the answer "
    "between <answer> and </answer>. Let me try again.\n"
)

STOP_TAGS: tuple[str, ...] = ("</search>", "</answer>")

_ACTION_PATTERN = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)
_STOP_PATTERN = re.compile(r"</search>|</answer>")


def build_policy_prompt(question: str) -> str:
    """The user prompt of the policy for one question.

    >>> build_policy_prompt("Who wrote Hamlet?").endswith("Question: Who wrote Hamlet?\\n")
    True
    """
    return POLICY_PROMPT_TEMPLATE.format(question=question.strip())


def question_from_prompt(prompt: str) -> str | None:
    """Recover the question from a policy prompt built by the template, else None.

    >>> question_from_prompt(build_policy_prompt("Who wrote Hamlet?"))
    'Who wrote Hamlet?'
    """
    marker = "Question: "
    at = prompt.rfind(marker)
    if at < 0:
        return None
    return prompt[at + len(marker) :].strip() or None


def format_information(documents_text: str) -> str:
    """The observation appended after a search.

    >>> format_information("Doc 1: x")
    '\\n\\n<information>Doc 1: x</information>\\n\\n'
    """
    return f"\n\n<information>{documents_text}</information>\n\n"


def cut_at_stop(text: str) -> tuple[str, str]:
    """Split a policy turn at its first stop tag (kept); return (turn, ignored rest).

    Generation stops at the first ``</search>`` or ``</answer>``; anything an agent
    sends after it is not part of the turn.

    >>> cut_at_stop("<search> a </search> junk")
    ('<search> a </search>', ' junk')
    >>> cut_at_stop("no tag")
    ('no tag', '')
    """
    match = _STOP_PATTERN.search(text)
    if match is None:
        return text, ""
    return text[: match.end()], text[match.end() :]


class ParsedAction(NamedTuple):
    """What one policy turn asks for (a named tuple: built on every step, so it is cheap)."""

    kind: ActionKind
    content: str | None  # the stripped query or answer; None for an invalid turn


def parse_action(turn: str) -> ParsedAction:
    """The first ``<(search|answer)>(.*?)</\\1>`` match decides the action.

    >>> parse_action("<think>hm</think><search> capital of France </search>")
    ParsedAction(kind='search', content='capital of France')
    >>> parse_action("<answer>Paris</answer><search>x</search>")
    ParsedAction(kind='answer', content='Paris')
    >>> parse_action("I think it is Paris")
    ParsedAction(kind='invalid', content=None)
    """
    match = _ACTION_PATTERN.search(turn)
    if match is None:
        return ParsedAction("invalid", None)
    return ParsedAction(match.group(1), match.group(2).strip())  # type: ignore[arg-type]
