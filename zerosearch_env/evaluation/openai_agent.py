"""A policy behind any OpenAI-compatible server (``vllm serve``, SGLang, a hosted API).

Two ways to talk to it:

- ``api="chat"`` (default): ``/v1/chat/completions`` with the episode as a conversation,
  the prompt as the first user message, each turn an assistant message and each
  observation a user message. Works with any chat model, hosted ones included.
- ``api="completions"``: ``/v1/completions`` with the raw transcript, which the model
  continues, as the policy was trained (Search-R1 and ZeroSearch policies served by
  ``vllm serve``). ``chat_template`` wraps the first prompt in the model's template
  text when the server does not (pass the template's text with a ``{prompt}`` field).

Each turn stops at ``</search>`` or ``</answer>``; the server drops the stop string and
:func:`~zerosearch_env.protocol.close_stop_tag` puts it back. Requests run
``concurrency`` at a time; a failed request is retried with the project's one
:class:`~zerosearch_env.http_client.RetryPolicy` (exponential backoff; a wrong model name,
key or URL is not retried) and then raises :class:`AgentError`, which stops the
evaluation (rerun the same command to resume it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from ..errors import ConfigError, ZeroSearchError
from ..http_client import RequestFault, RetryPolicy, json_client, post_json
from ..openai_replies import completion_text, token_counts
from ..protocol import STOP_TAGS, close_stop_tag
from .episodes import EpisodeView


class AgentError(ZeroSearchError):
    """The agent could not produce an action (its server failed after every retry)."""


class OpenAIAgent:
    """Args:
    base_url: the server's ``/v1`` URL.
    model: the model name the server expects.
    api: ``"chat"`` or ``"completions"`` (see the module docstring).
    temperature, top_p, max_tokens: sampling per turn (greedy by default: an
        evaluation should be reproducible).
    seed: sent as the request seed, offset by episode and turn, for servers that honour it.
    api_key_env: the environment variable with the key; sent as a bearer token, never logged.
    concurrency, timeout_s, retries, backoff_s: requests in flight; per-attempt timeout;
        extra attempts; first backoff (doubled on each retry).
    chat_template: for ``api="completions"``, text with a ``{prompt}`` field around the
        first prompt.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        model: str = "default",
        *,
        api: Literal["chat", "completions"] = "chat",
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 500,
        seed: int | None = 0,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        chat_template: str | None = None,
    ):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"OpenAIAgent base_url expects an http(s) URL like 'http://host:8000/v1', got {base_url!r}")
        if api not in ("chat", "completions"):
            raise ConfigError(f"OpenAIAgent api expects 'chat' or 'completions', got {api!r}")
        if concurrency < 1 or timeout_s <= 0 or max_tokens < 1:
            raise ConfigError(f"OpenAIAgent expects concurrency >= 1, timeout_s > 0, max_tokens >= 1; got {concurrency}, {timeout_s}, {max_tokens}")
        if chat_template is not None and "{prompt}" not in chat_template:
            raise ConfigError("OpenAIAgent chat_template expects a {prompt} field")
        self.name = f"openai:{model}"
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.sampling = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self.seed = seed
        self.concurrency = concurrency
        self.retry = RetryPolicy(retries, backoff_s)
        self.chat_template = chat_template
        self._client = json_client(timeout_s, concurrency, api_key_env)
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0}
        self._usage_lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIAgent(base_url={self.base_url!r}, model={self.model!r}, api={self.api!r})"

    def payload(self, view: EpisodeView) -> dict[str, Any]:
        """The JSON body for the next turn of one episode."""
        body: dict[str, Any] = {"model": self.model, "stop": list(STOP_TAGS), **self.sampling}
        if self.seed is not None:
            body["seed"] = self.seed + 1000 * view.episode_id + len(view.turns)
        if self.api == "chat":
            messages = [{"role": "user", "content": view.prompt}]
            for turn, observation in zip(view.turns, view.observations):
                messages.append({"role": "assistant", "content": turn})
                messages.append({"role": "user", "content": observation.strip()})
            body["messages"] = messages
        else:
            prompt = self.chat_template.format(prompt=view.prompt) if self.chat_template else view.prompt
            body["prompt"] = prompt + view.transcript[len(view.prompt) :]
        return body

    def act(self, episodes: Sequence[EpisodeView]) -> list[str]:
        if not episodes:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(episodes))) as pool:
            return list(pool.map(self._one, episodes))

    def _one(self, view: EpisodeView) -> str:
        body = self.payload(view)
        endpoint = f"{self.base_url}/{'chat/completions' if self.api == 'chat' else 'completions'}"
        try:
            return self.retry.run(lambda attempt: post_json(self._client, endpoint, body, self._read, expected="a completion"))
        except RequestFault as fault:
            raise AgentError(
                f"{self.name}: {fault.message} (episode {view.episode_id}, turn {len(view.turns)}, "
                f"after {fault.attempts} attempt(s)); check that the server runs and serves model {self.model!r} "
                "(e.g. `vllm serve <model> --port 8000`), then rerun the same command to resume"
            ) from fault

    def _read(self, reply: Any) -> str:
        """The turn a completion wrote (its stop tag put back); counts the tokens it cost.
        A malformed reply raises before anything is counted (a ``protocol`` fault)."""
        text = completion_text(reply, chat=self.api == "chat")
        prompt_tokens, completion_tokens = token_counts(reply)
        with self._usage_lock:  # replies are read on the pool's threads
            self.usage["prompt_tokens"] += prompt_tokens
            self.usage["completion_tokens"] += completion_tokens
            self.usage["requests"] += 1
        return close_stop_tag(text)

    def close(self) -> None:
        self._client.close()
