"""A tuned simulator folder served by ``transformers serve``, a real OpenAI-compatible server,
writes the same documents through ``sim="openai"`` as in process with ``sim_backend="hf"``.

Greedy (temperature 0) requests, useful and noisy, go to both backends: the server renders
the chat template and tokenizes it as the in-process backend does (the same prompt tokens,
no BOS of its own), takes ``temperature: 0`` as greedy decoding, ``max_tokens`` as new
tokens, and stops on the folder's end token, so the replies are the same text, token for
token. The folder is a tiny simulator trained in seconds to write ``Doc 1: ...``
documents, so the replies being compared are real documents, not random tokens.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
for _module in ("fastapi", "uvicorn", "openai", "pydantic"):  # what `transformers serve` checks for
    pytest.importorskip(_module, reason="`transformers serve` needs pip install 'transformers[serving]'")

import httpx

from zerosearch_env.simtune import write_examples
from zerosearch_env.simtune.train import SimTuneConfig, train_simulator
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.registry import make_simulator
from zerosearch_env.testing import simtune_examples

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXAMPLES = simtune_examples()

#: The trained searches in both modes, and one search the simulator never saw (its reply
#: is the model's own guess: the comparison does not rest on memorised text alone).
REQUESTS = [
    SearchRequest(query, question, answers, quality, seed=seed)
    for seed, (query, question, answers, quality) in enumerate(
        [
            ("Karvex Mills founder", "Who founded Karvex Mills?", ("Valora Kestin",), "useful"),
            ("Karvex Mills founder", "Who founded Karvex Mills?", ("Valora Kestin",), "noisy"),
            ("Orvane river", "Which river flows through Orvane?", ("Selm River",), "useful"),
            ("Orvane river", "Which river flows through Orvane?", ("Selm River",), "noisy"),
            ("Selm River length", "How long is the Selm River?", ("300 km",), "useful"),
            ("Selm River length", "How long is the Selm River?", ("300 km",), "noisy"),
        ]
    )
]

MAX_NEW_TOKENS = 120  # far more than a trained reply needs: the end token ends it
STARTUP_DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A small simulator trained to write the examples' documents (a few seconds on a CPU).
    Its ``generation_config.json`` ends generation on ``<|end|>`` and samples at 0.8 by
    default: the requests' temperature 0 has to override that on both backends."""
    folder = tmp_path_factory.mktemp("served")
    examples = write_examples(EXAMPLES * 4, folder / "examples.jsonl")
    cfg = SimTuneConfig(
        examples=str(examples), out_dir=str(folder / "model"), model="tiny", tiny_hidden_size=64, tiny_layers=2,
        tiny_vocab_size=400, max_steps=150, learning_rate=3e-3, batch_size=8, eval_share=0.1, torch_threads=1,
    )  # fmt: skip
    return train_simulator(cfg, progress=False).out_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, model: str, log) -> None:
    """Poll ``/v1/models`` until the server lists ``model`` as loaded; fail with the server's
    log if it exits or the deadline passes first."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            listed = httpx.get(f"{url}/models", timeout=2.0).json()["data"]
            if any(entry["id"] == model and entry.get("status", {}).get("value") == "loaded" for entry in listed):
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"transformers serve did not answer within {STARTUP_DEADLINE_S:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tuned, tmp_path_factory):
    """``transformers serve <folder>`` on 127.0.0.1 and a free port; yields its ``/v1`` URL.

    The folder is given on the command line, so the model is loaded before the server
    listens, and it is the only model served: requests must name it exactly as given."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [
        sys.executable, "-m", "transformers.cli.transformers", "serve", str(tuned),
        "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "OMP_NUM_THREADS": "1"}
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(process, url, str(tuned), log)
        yield url
    finally:
        process.terminate()  # the server stops its model's process on SIGTERM
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)  # its session: the server and the processes it spawned
            process.wait(timeout=15)


def both_backends(folder, url, max_new_tokens):
    """The in-process backend and the HTTP one, greedy, with the same token budget.

    The in-process backend generates one request at a time, as the server does: left
    padding a batch changes the floats a little (not the protocol this file checks), and
    a tiny model's near tie could then flip a greedy token."""
    local = make_simulator(str(folder), sim_backend="hf", temperature=0.0, max_new_tokens=max_new_tokens, batch_size=1, device="cpu")
    remote = make_simulator("openai", base_urls=[url], model=str(folder), mode="sft", temperature=0.0, max_new_tokens=max_new_tokens, retries=0)
    return local, remote


def test_the_served_folder_writes_the_same_documents_as_the_in_process_backend(tuned, served):
    local, remote = both_backends(tuned, served, MAX_NEW_TOKENS)
    try:
        in_process, over_http = local.simulate(REQUESTS), remote.simulate(REQUESTS)
    finally:
        remote.close()
    for request, mine, theirs in zip(REQUESTS, in_process, over_http, strict=True):
        where = f"{request.query!r} ({request.quality})"
        assert theirs.error is None and mine.error is None, where
        assert theirs.extra["reply"] == mine.extra["reply"], where  # the raw text, token for token
        assert theirs.documents == mine.documents and mine.documents, where
        assert theirs.prompt_tokens == mine.prompt_tokens > 0, where  # the same template, no extra BOS
        assert theirs.completion_tokens == mine.completion_tokens < MAX_NEW_TOKENS, where  # the end token stopped both
    trained = {(e.query, e.quality): e.documents for e in EXAMPLES}
    for request, result in zip(REQUESTS[:4], over_http):
        assert result.documents == trained[request.query, request.quality]  # it writes what it was taught
    assert over_http[0].documents != over_http[1].documents  # useful and noisy are different replies


def test_max_tokens_counts_new_tokens_on_both_backends(tuned, served):
    local, remote = both_backends(tuned, served, 8)
    try:
        in_process, over_http = local.simulate(REQUESTS[:2]), remote.simulate(REQUESTS[:2])
    finally:
        remote.close()
    for mine, theirs in zip(in_process, over_http, strict=True):
        assert theirs.completion_tokens == mine.completion_tokens == 8  # cut mid-document, prompt not counted
        assert theirs.extra["reply"] == mine.extra["reply"] and mine.extra["reply"].startswith("Doc 1:")
        assert theirs.documents == mine.documents
