"""The text boundary of ZeroSearch, in one place: everything written or read as text.

- the policy's side: its prompt, its tags, where a turn stops, what a turn asks for;
- the environment's side: the ``<information>`` block around documents, the feedback
  after an invalid turn;
- the documents: written as ``Doc i: ...`` lines, and read back from an observation or
  from a simulation LLM's reply.

These strings are facts of ZeroSearch (and Search-R1 before it): released policies and
simulators were trained on them, so they are reproduced byte for byte. Every other
module imports them from here; none types a tag or a ``Doc i:`` marker itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

ActionKind = Literal["search", "answer", "invalid"]

# ----------------------------------------------------------------------------- the policy

POLICY_PROMPT_TEMPLATE = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> "
    "first every time you get new information. After reasoning, if you find you lack some "
    "knowledge, you can call a search engine by <search> query </search> and it will return "
    "the top searched results between <information> and </information>. You can search as "
    "many times as your want. If you find no further external knowledge needed, you can "
    "directly provide the answer inside <answer> and </answer>, without detailed "
    "illustrations. For example, <answer> Beijing </answer>. Question: {question}\n"
)

#: Every tag of the protocol, in a fixed order (a tokenizer that adds them as tokens
#: gives them ids in this order).
TAGS: tuple[str, ...] = ("<think>", "</think>", "<search>", "</search>", "<answer>", "</answer>", "<information>", "</information>")

#: A policy turn ends at the first of these (generation stops there).
STOP_TAGS: tuple[str, ...] = ("</search>", "</answer>")

#: The closing tag of each action, and the other action's kind and opening tag.
_CLOSER: dict[str, str] = {"search": "</search>", "answer": "</answer>"}
_OTHER: dict[str, tuple[ActionKind, str]] = {"search": ("answer", "<answer>"), "answer": ("search", "<search>")}
#: Fixed-length alternatives, so a search never backtracks (and keeps re's fast scan for "<").
_OPENER = re.compile("<(search|answer)>")
_STOP_PATTERN = re.compile("|".join(re.escape(tag) for tag in STOP_TAGS))


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


def think(text: str) -> str:
    """``<think>text</think>``: the reasoning that opens a turn."""
    return f"<think>{text}</think>"


_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


def drop_thoughts(turn: str) -> str:
    """The turn without its ``<think>`` blocks (and the white space after each): what
    ``re.sub(r"<think>.*?</think>\\s*", "", turn, flags=re.DOTALL)`` gives, in linear time.
    (The regex is quadratic on ``"<think>" * n``: each opener scans to the end for a
    closer. Here, once an opener has no closer after it, no later one has either.)

    >>> drop_thoughts(think("Look it up.") + "\\n" + search_action("capital of France"))
    '<search> capital of France </search>'
    """
    pieces, position = [], 0
    while (start := turn.find(_THINK_OPEN, position)) >= 0:
        end = turn.find(_THINK_CLOSE, start + len(_THINK_OPEN))
        if end < 0:
            break
        pieces.append(turn[position:start])
        position = end + len(_THINK_CLOSE)
        while position < len(turn) and turn[position].isspace():
            position += 1
    pieces.append(turn[position:])
    return "".join(pieces)


def search_action(query: str) -> str:
    """The tag that asks the search engine, padded as the reference's examples are.

    >>> search_action("capital of France")
    '<search> capital of France </search>'
    """
    return f"<search> {query} </search>"


def answer_action(answer: str) -> str:
    """The tag that ends an episode with an answer.

    >>> answer_action("Paris")
    '<answer> Paris </answer>'
    """
    return f"<answer> {answer} </answer>"


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


def close_stop_tag(text: str) -> str:
    """Put back the stop tag an OpenAI-style server removes from its output.

    Generation stops at ``</search>`` or ``</answer>`` and servers drop the stop string,
    so a turn that opened ``<search>`` (or ``<answer>``) last and never closed it gets
    the closing tag back.

    >>> close_stop_tag("<think>x</think><search> capital of France ")
    '<think>x</think><search> capital of France </search>'
    >>> close_stop_tag("<answer> Paris </answer>")
    '<answer> Paris </answer>'
    >>> close_stop_tag("no tags")
    'no tags'
    """
    opened = max(("search", "answer"), key=lambda tag: text.rfind(f"<{tag}>"))
    at = text.rfind(f"<{opened}>")
    if at >= 0 and f"</{opened}>" not in text[at:]:
        return f"{text}</{opened}>"
    return text


class ParsedAction(NamedTuple):
    """What one policy turn asks for (a named tuple: built on every step, so it is cheap)."""

    kind: ActionKind
    content: str | None  # the stripped query or answer; None for an invalid turn


_INVALID = ParsedAction("invalid", None)


def parse_action(turn: str) -> ParsedAction:
    """The first ``<(search|answer)>(.*?)</\\1>`` match decides the action.

    >>> parse_action("<think>hm</think><search> capital of France </search>")
    ParsedAction(kind='search', content='capital of France')
    >>> parse_action("<answer>Paris</answer><search>x</search>")
    ParsedAction(kind='answer', content='Paris')
    >>> parse_action("I think it is Paris")
    ParsedAction(kind='invalid', content=None)
    """
    # The same result as that regex, in linear time (the regex retried its lazy scan from
    # every opener: "<search>" * 2500, 20,000 characters, took 0.2 s). The regex's match
    # starts at the first opener that has its closing tag after it, and ends at the
    # first such closing tag. If the first opener of a kind has no closing tag after it,
    # no later opener of that kind has one, so at most two openers need a look.
    first = _OPENER.search(turn)
    if first is None:
        return _INVALID
    kind: ActionKind = first.group(1)  # type: ignore[assignment]
    start = first.end()
    end = turn.find(_CLOSER[kind], start)
    if end < 0:  # this kind cannot match; the first opener of the other kind may
        kind, opener = _OTHER[kind]
        at = turn.find(opener, start)
        if at < 0:
            return _INVALID
        start = at + len(opener)
        end = turn.find(_CLOSER[kind], start)
        if end < 0:
            return _INVALID
    return ParsedAction(kind, turn[start:end].strip())


# ----------------------------------------------------------------------------- the environment

INVALID_ACTION_FEEDBACK = (
    "\nMy previous action is invalid. If I want to search, I should put the query between "
    "<search> and </search>. If I want to give the final answer, I should put the answer "
    "between <answer> and </answer>. Let me try again.\n"
)


def format_information(documents_text: str) -> str:
    """The observation appended after a search.

    >>> format_information("Doc 1: x")
    '\\n\\n<information>Doc 1: x</information>\\n\\n'
    """
    return f"\n\n<information>{documents_text}</information>\n\n"


def information_text(observation: str) -> str | None:
    """The text inside an observation's ``<information>`` block, or None without one.

    >>> information_text(format_information("Doc 1: x"))
    'Doc 1: x'
    >>> information_text(INVALID_ACTION_FEEDBACK) is None
    True
    """
    if "<information>" not in observation:
        return None
    return observation.split("<information>", 1)[1].split("</information>", 1)[0]


# ----------------------------------------------------------------------------- documents

_DOC_LINE = re.compile(r"^Doc \d+:\s*(.*)$", re.MULTILINE)
_DOC_MARKER = re.compile(r"(?:^|\n)[ \t]*Doc[ \t]*(\d+)[ \t]*[:.][ \t]*")


def format_documents(documents: Sequence[str]) -> str:
    """Render documents as the released simulators do: ``Doc 1: ...`` one per line.

    >>> format_documents(["Paris is the capital of France.", "It lies on the Seine."])
    'Doc 1: Paris is the capital of France.\\nDoc 2: It lies on the Seine.'
    >>> format_documents(["two  spaces\\nand a line break "])
    'Doc 1: two spaces and a line break'
    >>> format_documents([])
    ''
    """
    # A document with a line break (or another control character) or loose ends has its
    # white space collapsed so it stays on its line. Clean documents, which is what
    # simulators return, pass through untouched (inline: this runs on every search).
    return "\n".join([f"Doc {i}: {doc if doc.isprintable() and doc.strip() is doc else ' '.join(doc.split())}" for i, doc in enumerate(documents, start=1)])


def document_marker(index: int) -> str:
    """The marker that opens document ``index`` (1-based) in a simulator's reply.

    >>> document_marker(2)
    'Doc 2:'
    """
    return f"Doc {index}:"


def document_markers(count: int = 5) -> str:
    """The bare markers ``Doc 1: Doc 2: ...``, for a tokenizer's training text.

    >>> document_markers(2)
    'Doc 1: Doc 2:'
    """
    return " ".join(format_documents([""] * count).split())


def read_documents(observation: str) -> list[str]:
    """The documents of an observation's ``<information>`` block, one string each
    (``format_documents`` read back).

    >>> read_documents(format_information(format_documents(["a b", "c"])))
    ['a b', 'c']
    >>> read_documents("no information")
    []
    """
    text = information_text(observation)
    return [] if text is None else [line.strip() for line in _DOC_LINE.findall(text)]


def postprocess_reply(reply: str, topk: int) -> str:
    """The reference's post-processing of a simulator reply: ``"\\n\\n"`` -> ``"\\n"``,
    then cut from ``"Doc {topk+1}"`` on.

    >>> postprocess_reply("Doc 1: a\\n\\nDoc 2: b\\n\\nDoc 3: c", topk=2)
    'Doc 1: a\\nDoc 2: b\\n'
    """
    text = reply.replace("\n\n", "\n")
    cut = text.find(f"Doc {topk + 1}")
    return text if cut < 0 else text[:cut]


def marked_documents(reply: str, topk: int) -> int:
    """How many non-empty ``Doc i:`` documents a simulator reply holds after the
    reference's post-processing (at most ``topk``; 0 for a reply without markers, which
    :func:`parse_reply_documents` still reads as one document). A reply is well formed
    when this is ``topk``.

    >>> marked_documents("Doc 1: a\\nDoc 2: b\\nDoc 3: c", topk=2), marked_documents("free text", topk=1)
    (2, 0)
    """
    parts = _DOC_MARKER.split(postprocess_reply(reply, topk))
    return min(topk, sum(1 for body in parts[2::2] if body.strip()))


def parse_reply_documents(reply: str, topk: int) -> tuple[str, ...]:
    """Post-process a simulation LLM's reply and split it into at most ``topk`` documents.

    Looser than :func:`read_documents`, because a model's output is: ``Doc 3.`` and
    ``Doc 3 :`` count as markers too. A reply without markers is one document (the model
    ignored the format; its text is still what it wrote).

    >>> parse_reply_documents("Doc 1: Paris is big.\\n\\nDoc 2: It is in France.\\nDoc 3: x", topk=2)
    ('Paris is big.', 'It is in France.')
    >>> parse_reply_documents("  free text  ", topk=5)
    ('free text',)
    >>> parse_reply_documents("", topk=5)
    ()
    """
    text = postprocess_reply(reply, topk)
    parts = _DOC_MARKER.split(text)
    if len(parts) == 1:
        return (" ".join(text.split()),) if text.strip() else ()
    # parts = [preamble, n1, body1, n2, body2, ...]
    bodies = [" ".join(body.split()) for body in parts[2::2]]
    return tuple(body for body in bodies if body)[:topk]
