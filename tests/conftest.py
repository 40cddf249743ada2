"""Shared fixtures: small simulators with known behaviour."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from zerosearch_env.records import CorpusDoc
from zerosearch_env.errors import SimulatorError
from zerosearch_env.simulators.base import SearchRequest, SearchResult


class FixedSimulator:
    """Returns the same documents for every request and records what it was asked."""

    name = "fixed"

    def __init__(self, documents: Sequence[str] = ("Jane Doe founded Acme in 1901.", "Acme is a company.")):
        self.documents = tuple(documents)
        self.requests: list[SearchRequest] = []

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        self.requests.extend(requests)
        return [SearchResult(documents=self.documents, prompt_tokens=10, completion_tokens=20) for _ in requests]


class FailingSimulator:
    """Fails ``failures`` times, then answers like FixedSimulator."""

    name = "failing"

    def __init__(self, failures: int = 1):
        self.failures = failures
        self.fixed = FixedSimulator()

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if self.failures > 0:
            self.failures -= 1
            raise SimulatorError("backend unreachable after 3 retries")
        return self.fixed.simulate(requests)


#: A small corpus about an anvil maker: the searches of the corpus and retriever tests.
ANVIL_CORPUS = [
    CorpusDoc("d0", '"Acme"\nAcme is a maker of anvils. Acme was founded by Jane Doe in 1901.'),
    CorpusDoc("d1", '"Acme history"\nThe anvil company Acme grew fast in the twentieth century.'),
    CorpusDoc("d2", '"Jane Doe"\nJane Doe was an engineer who founded the anvil maker Acme.'),
    CorpusDoc("d3", '"Anvils"\nAn anvil is a block of iron. Many companies make anvils.'),
    CorpusDoc("d4", '"Beta Corp"\nBeta Corp is a rival anvil company founded by Max Roe.'),
    CorpusDoc("d5", '"Gardening"\nTomatoes need sun and water.'),
]

ROWS = [
    {"question": "Who founded Acme?", "golden_answers": ["Jane Doe"], "data_source": "toy"},
    {"question": "When was Acme founded?", "golden_answers": ["1901"], "data_source": "toy"},
]


@pytest.fixture
def fixed_sim() -> FixedSimulator:
    return FixedSimulator()


@pytest.fixture
def toy_rows() -> list[dict]:
    return [dict(row) for row in ROWS]


def _has_vllm_gpu() -> bool:
    from zerosearch_env.import_utils import cuda_device_count, is_vllm_available

    return is_vllm_available() and cuda_device_count() > 0


#: GPU-only tests; their CPU twins (same prompts, same parsing) run everywhere.
require_vllm = pytest.mark.skipif(not _has_vllm_gpu(), reason="needs the vllm package and a CUDA GPU")


def episode_mask(batch: int, length: int, seed: int):
    """Loss masks shaped like multi-turn episodes: prompt, then policy turns separated by
    observation tokens, then padding. Row 0 has no policy token at all."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, length)
    for row in range(1, batch):
        t = int(torch.randint(0, 4, (), generator=gen))  # prompt
        end = length - int(torch.randint(0, 3, (), generator=gen))  # padding after `end`
        policy_turn = True
        while t < end:
            span = int(torch.randint(1, 4, (), generator=gen))
            mask[row, t : min(t + span, end)] = float(policy_turn)
            t += span
            policy_turn = not policy_turn
    return mask


class JSONServer:
    """A JSON-over-HTTP server on 127.0.0.1 (a free port) for the tests of HTTP clients.

    ``respond(path, body)`` returns ``(status, payload)``; a payload that is not bytes is
    sent as JSON. Every request is recorded (``paths``, ``bodies``, ``headers``), each
    answer waits ``delay`` seconds, and ``max_in_flight`` is the most requests handled at
    once. Subclasses keep their own state and pass their ``respond`` method.
    """

    def __init__(self, respond, *, delay: float = 0.0, path: str = "/v1"):
        import json
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.delay = delay
        self.paths: list[str] = []
        self.bodies: list = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.paths.append(self.path)
                    server.bodies.append(json.loads(raw))
                    server.headers.append(dict(self.headers))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay)
                    status, payload = respond(self.path, json.loads(raw))
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        """Shut the server down (a test may do it early, to simulate a server dying)."""
        if not self._stopped:
            self._stopped = True
            self._httpd.shutdown()
            self._httpd.server_close()


@pytest.fixture
def start_server():
    """``start_server(ServerClass, **kwargs)``: a JSONServer (subclass) stopped after the test."""
    started: list[JSONServer] = []

    def start(kind=JSONServer, *args, **kwargs):
        started.append(kind(*args, **kwargs))
        return started[-1]

    yield start
    for server in started:
        server.stop()
