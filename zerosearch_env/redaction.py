"""Secrets out of everything the package writes: run files, reports, error messages.

A user hands the package secrets in settings (``api_key``, an ``Authorization`` header),
in URLs (``http://user:password@host``, ``?api_key=...``) and in environment variables.
Settings are written into run folders so a run can be resumed and compared, and error
messages name the URL that failed. :func:`redacted` strips secrets from a settings value,
:func:`redact_text` from any text; the typed errors (:mod:`.errors`) and the simulators'
fault messages pass through it, so stderr and search records never carry one.
Dependency-free: the lowest floor of the package imports it.
"""

from __future__ import annotations

import re
from typing import Any

#: Words of a setting's name that say its value is a secret (``api_key``, ``hf_token``,
#: ``accessToken``, an ``Authorization`` header). Such values are never written down.
SECRET_WORDS = frozenset(
    {"key", "apikey", "secret", "password", "passwd", "token", "auth", "authorization", "credential", "credentials", "cookie", "bearer", "sig", "signature"}
)
REDACTED = "<redacted>"

_CAMEL = (re.compile(r"([a-z0-9])([A-Z])"), re.compile(r"([A-Z]+)([A-Z][a-z])"))
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s\"'<>]+@")
_QUERY_VALUE = re.compile(r"([?&;])([^=&#\s\"'<>?]+)=([^&#\s\"']*)")  # a value may be <redacted> already
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def is_secret_name(name: str) -> bool:
    """Whether a setting's name says it holds a secret, in any case style.

    >>> [is_secret_name(n) for n in ("api_key", "OPENAI_API_KEY", "hf_token", "Authorization", "x-api-key", "accessToken", "APIKey")]
    [True, True, True, True, True, True, True]
    >>> [is_secret_name(n) for n in ("max_tokens", "max_new_tokens", "topk", "base_urls", "keyword", "monkey")]
    [False, False, False, False, False, False]
    """
    for camel in _CAMEL:
        name = camel.sub(r"\1 \2", name)
    return any(word in SECRET_WORDS for word in re.split(r"[^a-z0-9]+", name.lower()))


def redact_text(text: str) -> str:
    """``text`` with every URL's user info dropped, secret query values and bearer tokens
    replaced.

    >>> redact_text("connection: http://me:sk-1@127.0.0.1:9/v1/chat unreachable")
    'connection: http://127.0.0.1:9/v1/chat unreachable'
    >>> redact_text("http://sk-abc@host/v1?accessToken=t0k&model=m&api_key=")
    'http://host/v1?accessToken=<redacted>&model=m&api_key=<redacted>'
    >>> redact_text("header Authorization: Bearer sk-0123456789")
    'header Authorization: Bearer <redacted>'
    """
    if "://" in text:
        text = _URL_USERINFO.sub("", text)
    if "=" in text:
        text = _QUERY_VALUE.sub(lambda m: f"{m[1]}{m[2]}={REDACTED}" if is_secret_name(m[2]) else m[0], text)
    return _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", text)


def redacted(value: Any) -> Any:
    """``value`` without secrets: a dict loses the keys :func:`is_secret_name` flags (at
    any depth), a string goes through :func:`redact_text`.

    >>> redacted({"api_key": "sk-1", "headers": {"Authorization": "Bearer sk-1"}, "temperature": 0.8})
    {'headers': {}, 'temperature': 0.8}
    >>> redacted(["https://me:sk-1@host/v1?token=sk-1&model=m"])
    ['https://host/v1?token=<redacted>&model=m']
    """
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items() if not is_secret_name(str(k))}
    if isinstance(value, (list, tuple)):
        return [redacted(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
