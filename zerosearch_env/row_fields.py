"""The field rules of a dataset row: one raw mapping in, one validated record out.

Every reader of :mod:`zerosearch_env.data` (jsonl, parquet, json, in-memory dicts,
Hugging Face rows) hands its rows to :func:`qa_row` or :func:`corpus_doc`, so every
format is validated the same way and fails with the same message: the file, the 0-based
row and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DatasetError
from .protocol import question_from_prompt
from .records import CorpusDoc, Passage, QARow

_ANSWER_KEYS: tuple[str, ...] = ("golden_answers", "answers", "answer")
_EXPECTED_QA_KEYS = "question, golden_answers"
_EXPECTED_CORPUS_KEYS = "id, contents (or title/text)"


@dataclass(frozen=True)
class Where:
    """Where a row came from, for error messages: ``nq.jsonl row 17: ...``."""

    origin: str
    row: int

    def error(self, message: str) -> DatasetError:
        return DatasetError(f"{self.origin} row {self.row}: {message}")


def qa_row(raw: Mapping[str, Any], where: Where, default_id: str, default_source: str = "unknown") -> QARow:
    """One mapping (jsonl line, parquet row, json item, dict, hub row) -> a validated QARow.

    A row without ``question`` takes ``extra_info.question``, else the ``Question: ...``
    line of its policy prompt (rows made for RL frameworks sometimes carry only those).
    """
    prompt = prompt_text(raw.get("prompt"), where)
    question = raw.get("question")
    if question is None:
        question = _dig(raw, "extra_info", "question") or (question_from_prompt(prompt) if prompt else None)
    if question is None:
        raise where.error(f"missing field 'question' (expected keys: {_EXPECTED_QA_KEYS})")
    if not isinstance(question, str) or not question.strip():
        raise where.error(f"field 'question' must be a non-empty string, got {question!r}")
    return QARow(
        question=question.strip(),
        golden_answers=_golden_answers(raw, where),
        id=_one_name(raw.get("id") if raw.get("id") is not None else raw.get("_id"), "id", where, default_id),
        data_source=_one_name(raw.get("data_source"), "data_source", where, default_source),
        prompt=prompt,
        context=_context(raw, where),
        split=_row_split(raw),
    )


def _golden_answers(raw: Mapping[str, Any], where: Where) -> tuple[str, ...]:
    """The first answer field present (aliases, then ``reward_model.ground_truth.target``) as a tuple of str."""
    key = next((k for k in _ANSWER_KEYS if raw.get(k) is not None), None)
    # verl's parquet keeps the answers in reward_model, SkyRL's in reward_spec
    reward_key = next((k for k in ("reward_model", "reward_spec") if _dig(raw, k, "ground_truth", "target") is not None), "reward_model")
    value = raw[key] if key is not None else _dig(raw, reward_key, "ground_truth", "target")
    if value is None:
        raise where.error(
            f"missing field 'golden_answers' (expected keys: {_EXPECTED_QA_KEYS}; 'answers', 'answer' or reward_model.ground_truth.target also accepted)"
        )
    field_name = key or f"{reward_key}.ground_truth.target"
    value = _python_scalar(value)
    answers = [value] if isinstance(value, (str, int)) else _as_list(value)
    if answers is None:
        raise where.error(f"field {field_name!r} must be a string or a list of strings, got {type(value).__name__}")
    if not answers:
        raise where.error(f"field {field_name!r} is empty; a row needs at least one golden answer")
    result: list[str] = []
    for answer in answers:
        answer = _python_scalar(answer)
        if isinstance(answer, int) and not isinstance(answer, bool):
            answer = str(answer)  # numeric answers ("1969") sometimes arrive as ints
        if not isinstance(answer, str) or not answer.strip():
            raise where.error(f"field {field_name!r} holds an invalid answer {answer!r} (expected non-empty strings)")
        result.append(answer)
    return tuple(result)


def prompt_text(value: Any, where: Where) -> str | None:
    """A prompt string, or the user message of a chat prompt (``[{"role": "user", "content": ...}]``)."""
    if value is None or isinstance(value, str):
        return value
    messages = [value] if isinstance(value, Mapping) else _as_list(value)
    if messages is None:
        raise where.error(f"field 'prompt' must be a string or a list of chat messages, got {type(value).__name__}")
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    raise where.error("field 'prompt' has no {'role': 'user', 'content': <str>} message")


def _context(raw: Mapping[str, Any], where: Where) -> tuple[Passage, ...]:
    """HotpotQA ``context`` ([[title, [sentences]], ...]) as Passages flagged from ``supporting_facts``."""
    context = raw.get("context")
    if context is None:
        return ()
    paragraphs = _as_list(context)
    if paragraphs is None:
        raise where.error("field 'context' must be a list of [title, [sentences]] pairs")
    supporting = _supporting_titles(raw.get("supporting_facts"))
    passages: list[Passage] = []
    for paragraph in paragraphs:
        pair = _as_list(paragraph)
        sentences = _as_list(pair[1]) if pair is not None and len(pair) == 2 else None
        if pair is None or sentences is None or not isinstance(pair[0], str):
            raise where.error(f"field 'context' holds {paragraph!r}, expected [title, [sentences]]")
        # HotpotQA sentences after the first carry a leading space; strip so the join is single-spaced.
        text = " ".join(str(s).strip() for s in sentences)
        passages.append(Passage(title=pair[0], text=text, supporting=pair[0] in supporting))
    return tuple(passages)


def _supporting_titles(facts: Any) -> set[str]:
    """Titles named by HotpotQA ``supporting_facts`` ([[title, sentence_id], ...]); empty if absent."""
    titles: set[str] = set()
    for fact in _as_list(facts) or ():
        pair = _as_list(fact)
        if pair and isinstance(pair[0], str):
            titles.add(pair[0])
    return titles


def corpus_doc(raw: Mapping[str, Any], where: Where, default_id: str) -> CorpusDoc:
    """One corpus row: ``contents``, or ``title``/``text`` rendered as FlashRAG does."""
    contents = raw.get("contents")
    if contents is None:
        text = raw.get("text")
        if text is None:
            raise where.error(f"missing field 'contents' (expected keys: {_EXPECTED_CORPUS_KEYS})")
        if not isinstance(text, str):
            raise where.error(f"field 'text' must be a string, got {type(text).__name__}")
        title = raw.get("title")
        if title is not None and not isinstance(title, str):
            raise where.error(f"field 'title' must be a string, got {type(title).__name__}")
        contents = f'"{title}"\n{text}' if title else text
    elif not isinstance(contents, str):
        raise where.error(f"field 'contents' must be a string, got {type(contents).__name__}")
    return CorpusDoc(id=_one_name(raw.get("id"), "id", where, default_id), contents=contents)


def _row_split(raw: Mapping[str, Any]) -> str | None:
    """``split`` or ``extra_info.split`` (Search-R1 parquet), if the row says."""
    split = raw.get("split", _dig(raw, "extra_info", "split"))
    return split if isinstance(split, str) and split else None


def _one_name(value: Any, field: str, where: Where, default: str) -> str:
    """One name (a row's ``id``, the benchmark it comes from): a string or a number. A list
    or dict would be stringified into a name nobody wrote (``"['nq', 'hotpotqa']"``): a
    per-source score split wrongly, two ids that collide."""
    if isinstance(value, (Mapping, set, frozenset)) or _as_list(value) is not None:  # lists, tuples, arrays
        raise where.error(f"field {field!r} must be a string, got {type(value).__name__}")
    return _text_or(_python_scalar(value), default)


def _python_scalar(value: Any) -> Any:
    """A numpy scalar (``np.int64(1969)``, as pandas hands out) as its Python value, so it
    follows the rules of that value; anything else as it is."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _text_or(value: Any, default: str) -> str:
    """``str(value)`` for a present, non-empty id/source; ``default`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return str(value)


def _dig(raw: Mapping[str, Any], *keys: str) -> Any:
    """``raw[k1][k2]...`` or None when any level is missing or not a mapping."""
    value: Any = raw
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _as_list(value: Any) -> list[Any] | None:
    """A list from a list, tuple or numpy array (pandas-read parquet); None for anything else."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        converted = value.tolist()  # numpy arrays; nested object arrays keep their elements
        return converted if isinstance(converted, list) else None
    return None
