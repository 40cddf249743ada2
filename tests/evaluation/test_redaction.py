"""No secret reaches a file the package writes or its stderr: settings, URLs in error
messages, search records, reports."""

import json

import pytest

from zerosearch_env.cli import main
from zerosearch_env.errors import ConfigError
from zerosearch_env.redaction import is_secret_name, redact_text, redacted
from zerosearch_env.simulators.base import SimulatorFault

SECRETS = ("sk-PASSWORD", "sk-USERTOKEN", "sk-QUERY", "sk-CAMEL")
BASE_URLS = [
    "http://me:sk-PASSWORD@127.0.0.1:9/v1",
    "http://sk-USERTOKEN@127.0.0.1:9/v1?api_key=sk-QUERY&accessToken=sk-CAMEL",
]


@pytest.mark.parametrize("name", ["api_key", "API-KEY", "accessToken", "AccessToken", "xApiKey", "clientSecret", "hf_token", "SAS-signature"])
def test_secret_names_in_any_case_style(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "keyword", "monkey", "topk", "base_urls", "tokenizer", "authority_score"])
def test_ordinary_names_are_kept(name):
    assert not is_secret_name(name)


def test_user_info_is_dropped_whole_and_query_secrets_replaced():
    for url in BASE_URLS:
        cleaned = redact_text(f"connection: {url}/chat/completions unreachable")
        assert not any(secret in cleaned for secret in SECRETS) and "127.0.0.1:9/v1" in cleaned
    assert redacted({"headers": {"X-Api-Key": "k"}, "model": "m"}) == {"headers": {}, "model": "m"}


def test_typed_errors_and_fault_messages_are_redacted_when_made():
    assert "sk-PASSWORD" not in str(ConfigError(f"cannot reach {BASE_URLS[0]}"))
    assert "sk-USERTOKEN" not in SimulatorFault("connection", f"{BASE_URLS[1]} unreachable").message


def test_redaction_is_idempotent():
    once = redact_text(f"{BASE_URLS[1]}/chat/completions")
    assert redact_text(once) == once and once.count("<redacted>") == 2


def _assert_no_secret(out, captured):
    written = [path for path in out.rglob("*") if path.is_file()]
    assert written
    for text in [captured.out, captured.err, *(path.read_text(errors="replace") for path in written), *(str(p) for p in written)]:
        assert not any(secret in text for secret in SECRETS)
    return written


KWARGS = json.dumps({"base_urls": BASE_URLS, "retries": 0, "timeout_s": 2.0})


def test_a_failing_server_leaves_no_secret_in_eval_files_or_stderr(tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "--agent", "scripted", "--sim", "openai", "--sim-kwargs", KWARGS, "--limit", "3", "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2 and "unreachable" in captured.err  # the typed error names the URL, less its secrets
    _assert_no_secret(out, captured)


def test_a_failing_server_leaves_no_secret_in_fidelity_files_or_stderr(tmp_path, capsys):
    out = tmp_path / "fidelity"
    code = main(["fidelity", "openai", "--reference", "bm25", "--sim-kwargs", KWARGS, "--limit", "2", "--topk", "1", "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    written = _assert_no_secret(out, captured)
    searches = [path for path in written if "searches" in path.parts and path.name.startswith("openai")]
    assert code == 0 and any("unreachable" in path.read_text() for path in searches)  # the failures were written down
