"""The ``judge`` labeller: an LLM behind an OpenAI-compatible server decides whether a
search's documents let a reader answer the question.

The paper labels a search by its episode's outcome, which blames the documents for the
agent's mistakes (a weak agent misreads good documents) and credits them for its luck.
A judge looks at the documents themselves. Unlike ``presence`` (a golden answer
occurs in the text), it can accept a paraphrase ("the ninth of May" for "9 May") and
reject a document that names the answer in passing next to the wrong entity.

The judge sees the question, its golden answers and the documents (:data:`JUDGE_PROMPT`,
this project's own wording: no released weights depend on it) and must reply with one
word, ``yes`` or ``no`` (:func:`parse_verdict`; a model's ``<think>`` block is dropped
first). Anything else is a malformed reply. Requests run ``concurrency`` at a time with
the project's one :class:`~zerosearch_env.http_client.RetryPolicy`: a timeout, a dropped
connection or a 5xx is retried; a malformed reply is not (at temperature 0 the same
prompt gives the same reply). A judgement that still fails is reported in its
:class:`Judgement` and the search is left out of the examples: never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..http_client import RequestFault, RetryPolicy, json_client, post_json
from ..openai_replies import completion_text
from ..protocol import drop_thoughts, format_documents

JUDGE_PROMPT = (
    "You are checking the results of a web search.\n"
    "\n"
    'Question: "{question}"\n'
    "Correct answer: {answers}\n"
    "\n"
    "Search results:\n"
    "{documents}\n"
    "\n"
    "Could a reader who sees only these search results answer the question correctly? "
    "Say yes only if the results state the correct answer, or something that plainly means the same, "
    "about the entity the question asks about. Say no if the answer is missing, only guessable, "
    "or stated about a different entity.\n"
    "Reply with exactly one word: yes or no.\n"
)
"""The judge's single user message; ``{answers}`` lists the golden answers joined by " / "."""

VERDICTS: dict[str, str] = {"yes": "useful", "no": "noisy"}
"""The one-word replies the judge may give, and the quality each means."""


def judge_prompt(question: str, golden_answers: Sequence[str], documents: Sequence[str]) -> str:
    """The judge's message for one search.

    >>> print(judge_prompt("Who founded Acme?", ["Jane Doe"], ["Jane Doe founded Acme."]).splitlines()[6])
    Doc 1: Jane Doe founded Acme.
    """
    return JUDGE_PROMPT.format(question=question, answers=" / ".join(golden_answers), documents=format_documents(documents))


def parse_verdict(reply: str) -> str:
    """The quality a judge's reply means: strict, one word (case, surrounding white space,
    a final full stop and a ``<think>`` block are forgiven; nothing else is).

    >>> parse_verdict(" Yes."), parse_verdict("<think>It says 1932.</think>\\nno")
    ('useful', 'noisy')
    >>> parse_verdict("Yes, the second result names him.")
    Traceback (most recent call last):
    ValueError: the verdict must be one word, yes or no; got 'Yes, the second result names him.'
    """
    word = drop_thoughts(reply).strip().removesuffix(".").strip().lower()
    if word not in VERDICTS:
        raise ValueError(f"the verdict must be one word, yes or no; got {reply.strip()[:80]!r}")
    return VERDICTS[word]


@dataclass(frozen=True)
class Judgement:
    """One search judged: ``quality`` (``"useful"``/``"noisy"``), or None with ``error``
    saying why the judge gave no verdict."""

    quality: str | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.quality is None


@dataclass(frozen=True)
class JudgeItem:
    """What the judge reads of one search."""

    question: str
    golden_answers: tuple[str, ...]
    documents: tuple[str, ...]


class LLMJudge:
    """A judge model behind ``/v1/chat/completions`` (``vllm serve``, SGLang, a hosted API).

    Args:
        base_url: the server's ``/v1`` URL.
        model: the model name the server expects.
        concurrency, timeout_s, retries, backoff_s: requests in flight; per-attempt
            timeout; extra attempts after the first; the first backoff (doubled on each retry).
        max_tokens: room for the reply (raise it for a model that thinks aloud first).
        api_key_env: the environment variable holding the key, sent as a bearer token
            and never logged.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        model: str = "default",
        *,
        concurrency: int = 16,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_tokens: int = 8,
        api_key_env: str | None = "OPENAI_API_KEY",
    ):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"the judge's base_url expects an http(s) URL like 'http://host:8000/v1', got {base_url!r}")
        if concurrency < 1 or timeout_s <= 0 or max_tokens < 1:
            raise ConfigError(f"the judge expects concurrency >= 1, timeout_s > 0, max_tokens >= 1; got {concurrency}, {timeout_s}, {max_tokens}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"judge:{model}"
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.retry = RetryPolicy(retries, backoff_s)
        self._client = json_client(timeout_s, concurrency, api_key_env)

    def __repr__(self) -> str:  # never shows the key
        return f"LLMJudge(base_url={self.base_url!r}, model={self.model!r})"

    def payload(self, item: JudgeItem) -> dict[str, Any]:
        """The JSON body of one judgement: greedy, short."""
        content = judge_prompt(item.question, item.golden_answers, item.documents)
        return {"model": self.model, "messages": [{"role": "user", "content": content}], "temperature": 0.0, "max_tokens": self.max_tokens}

    def judge(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        """One judgement per item, in order; a failed one carries its error."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(self._one, items))

    def _one(self, item: JudgeItem) -> Judgement:
        url = f"{self.base_url}/chat/completions"
        body = self.payload(item)

        def read(reply: Any) -> str:
            return parse_verdict(completion_text(reply))

        try:
            quality = self.retry.run(lambda attempt: post_json(self._client, url, body, read, expected="a one-word verdict", retry_malformed=False))
        except RequestFault as fault:
            return Judgement(None, f"{fault.kind}: {fault.message} (after {fault.attempts} attempt(s))")
        return Judgement(quality)

    def close(self) -> None:
        self._client.close()
