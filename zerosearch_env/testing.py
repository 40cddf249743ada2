"""Test fakes and tiny models, shared by the test suite, the benchmarks and the CPU demo.

Nothing here downloads anything:

- simulators with known behaviour: :class:`FixedSimulator` (the same documents for every
  request), :class:`FailingSimulator` (fails, then answers);
- :class:`JSONServer`: a JSON-over-HTTP server on 127.0.0.1 for the HTTP clients
  (simulator server, retriever, agent server);
- :class:`TinyPolicyServer`: a stand-in for a framework's policy server (verl's
  ``server_manager``), token ids in and out, generated on CPU by a tiny model;
- tiny Llama-architecture models built in-process and saved with ``save_pretrained``
  (:func:`build_tiny_llama`, :func:`save_tiny_llama`). Loading one back through
  ``from_pretrained(path)`` exercises the same code a user's 7B folder goes through. A
  Llama config is used on purpose: with transformers 5 a Qwen2 config makes
  ``AutoTokenizer`` rebuild Qwen's pre-tokenizer and silently change token ids.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SimulatorError
from .simulators.base import SearchRequest, SearchResult

# ----------------------------------------------------------------------------- simulators


class FixedSimulator:
    """Returns the same documents for every request (a new result each time, as a real
    simulator makes), with fixed token counts; with ``record``, keeps every request in
    ``requests``. It isolates the environment's own work from the simulator's."""

    name = "fixed"

    def __init__(
        self,
        documents: Sequence[str] = ("Jane Doe founded Acme in 1901.", "Acme is a company."),
        *,
        prompt_tokens: int = 10,
        completion_tokens: int = 20,
        record: bool = True,
    ):
        self.documents = tuple(documents)
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.record = record
        self.requests: list[SearchRequest] = []

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if self.record:
            self.requests.extend(requests)
        return [SearchResult(self.documents, self.prompt_tokens, self.completion_tokens) for _ in requests]


class FailingSimulator:
    """Raises :class:`~zerosearch_env.errors.SimulatorError` ``failures`` times, then
    answers like :class:`FixedSimulator`."""

    name = "failing"

    def __init__(self, failures: int = 1):
        self.failures = failures
        self.fixed = FixedSimulator()

    def simulate(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        if self.failures > 0:
            self.failures -= 1
            raise SimulatorError("backend unreachable after 3 retries")
        return self.fixed.simulate(requests)


# ----------------------------------------------------------------------------- HTTP


class JSONServer:
    """A JSON-over-HTTP server on 127.0.0.1 (a free port) for the tests and benchmarks of
    HTTP clients.

    ``respond(path, body)`` returns ``(status, payload)`` or ``(status, payload, headers)``
    (``body`` is None for a GET);
    a payload that is not bytes is sent as JSON. Every request is recorded (``paths``, ``bodies``, ``headers``), each
    answer waits ``delay`` seconds, and ``max_in_flight`` is the most requests handled at
    once. ``keep_alive`` serves HTTP/1.1 with kept-alive connections and no Nagle delay,
    as a real server does (a benchmark then times the client, not the TCP stack); without
    it each reply closes its connection, so :meth:`stop` cuts the server off at once.
    """

    def __init__(
        self,
        respond: Callable[[str, Any], tuple[Any, ...]],  # (status, payload) or (status, payload, headers)
        *,
        delay: float = 0.0,
        path: str = "/v1",
        keep_alive: bool = False,
    ):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.delay = delay
        self.paths: list[str] = []
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            if keep_alive:
                protocol_version = "HTTP/1.1"
                disable_nagle_algorithm = True
                wbufsize = -1  # buffered: headers and body leave in one write

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(None)

            def do_POST(self) -> None:
                self._answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

            def _answer(self, body: Any) -> None:
                with server.lock:
                    server.paths.append(self.path)
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay)
                    status, payload, *extra_headers = respond(self.path, body)
                finally:
                    # Counted out before the reply leaves: once the client has its answer it may
                    # send the next request at once, and that must not overlap this one's count.
                    with server.lock:
                        server.in_flight -= 1
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (extra_headers[0] if extra_headers else {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # socketserver's 5 overflows when 16 clients connect at once

        self._httpd = Server(("127.0.0.1", 0), Handler)
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
            self._thread.join(timeout=5)


# ----------------------------------------------------------------------------- tiny models


def _training_text() -> list[str]:
    from .protocol import POLICY_PROMPT_TEMPLATE, document_markers
    from .simulators.prompts import SFT_NOISY_TEMPLATE, SFT_USEFUL_TEMPLATE
    from .worlds.synthetic import make_world

    world = make_world()
    docs = [d.contents for d in world.documents[:300]]
    return [SFT_USEFUL_TEMPLATE, SFT_NOISY_TEMPLATE, POLICY_PROMPT_TEMPLATE, document_markers(5), *docs]


def build_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE trained on the protocol strings and synthetic documents, with the
    small chat template (system/user/assistant markers) of a from-scratch simulator
    (:func:`zerosearch_env.simtune.tokenizer.build_tokenizer`)."""
    from .simtune.tokenizer import build_tokenizer as learn_tokenizer

    return learn_tokenizer(_training_text(), vocab_size)


def save_tiny_llama(path: Path, tokenizer: Any, *, hidden_size: int, layers: int, seed: int = 0, **config: Any) -> Path:
    """Write ``tokenizer`` and a randomly initialised tiny Llama sized for it to ``path``
    (seeded without touching the global torch RNG). ``config`` overrides LlamaConfig fields."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    settings.update(config)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**settings))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def build_tiny_llama(path: Path, *, hidden_size: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a tokenizer and a randomly initialised tiny Llama to ``path``."""
    return save_tiny_llama(path, build_tokenizer(), hidden_size=hidden_size, layers=layers, seed=seed)


# ----------------------------------------------------------------------------- policy server


@dataclass
class GeneratedTurn:
    """What a policy server returns for one turn (the fields of verl's ``TokenOutput``)."""

    token_ids: list[int]
    log_probs: list[float]
    stop_reason: str
    extra_fields: dict[str, Any]


class TinyPolicyServer:
    """A policy server on CPU: ``await generate(request_id, prompt_ids=..., sampling_params=...)``.

    A tiny transformers causal LM extends the prompt token by token until a ``stop``
    string appears in the decoded output (kept, as vLLM's ``include_stop_str_in_output``),
    the end-of-sequence token (kept), or ``max_tokens``; it reports the log-prob of every
    token it emits and ``weights_version`` as ``extra_fields["global_steps"]``, as verl's
    servers do. A random tiny model never writes the protocol's tags, so ``script`` may
    guide it: ``script(text_so_far) -> turn`` names the turn, and decoding is constrained
    to that turn's tokens (the model still scores every one). ``history`` records every
    request and its answer.
    """

    def __init__(self, model_dir: str | Path, *, script: Callable[[str], str] | None = None, weights_version: int | None = 0, seed: int = 0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .simulators.hf import kv_cache_keyword

        self.tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self._cache_keyword = kv_cache_keyword(self.model)
        self.script = script
        self.weights_version = weights_version
        self.history: list[tuple[list[int], GeneratedTurn]] = []  # (prompt ids, what came back) per request
        self._generator = torch.Generator().manual_seed(seed)
        self._lock = threading.Lock()  # one generation at a time, like one GPU

    @property
    def calls(self) -> int:
        return len(self.history)

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **_: Any) -> GeneratedTurn:
        import asyncio

        # In a thread, as a real server works apart from its callers' event loop.
        return await asyncio.to_thread(self._serve, list(prompt_ids), dict(sampling_params))

    def _serve(self, prompt_ids: list[int], params: dict[str, Any]) -> GeneratedTurn:
        with self._lock:
            turn = self._generate(prompt_ids, params)
            self.history.append((prompt_ids, turn))
            return turn

    def _generate(self, prompt_ids: list[int], params: dict[str, Any]) -> GeneratedTurn:
        import torch

        stops = list(params.get("stop") or [])
        max_tokens = int(params.get("max_tokens", 64))
        temperature = float(params.get("temperature", 1.0))
        guide = None
        if self.script is not None:
            text = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
            guide = [*self.tokenizer.encode(self.script(text), add_special_tokens=False), self.tokenizer.eos_token_id]
        ids: list[int] = []
        log_probs: list[float] = []
        past, feed, reason, keyword = None, prompt_ids, "length", self._cache_keyword
        with torch.no_grad():
            while len(ids) < max_tokens:
                out = self.model(input_ids=torch.tensor([feed]), use_cache=True, **{keyword: past})
                past = getattr(out, keyword)
                scores = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
                if guide is not None:
                    token = guide[len(ids)]
                elif temperature <= 0:
                    token = int(scores.argmax())
                else:
                    token = int(torch.multinomial((scores / temperature).softmax(-1), 1, generator=self._generator))
                ids.append(token)
                log_probs.append(float(scores[token]))
                feed = [token]
                if token == self.tokenizer.eos_token_id:
                    reason = "completed"
                    break
                if stops and any(stop in self.tokenizer.decode(ids, skip_special_tokens=True) for stop in stops):
                    reason = "completed"
                    break
        return GeneratedTurn(ids, log_probs, reason, {"global_steps": self.weights_version})


def write_tiny_gguf(path: str | Path, *, quantize: bool = False, seed: int = 0) -> tuple[Path, Path]:
    """A tiny Llama written as a GGUF file the way llama.cpp's converter writes one (its
    query and key weights permuted for llama.cpp's rotary layout, the byte-level BPE as
    ``gpt2`` tokens and merges, the chat template), and the same model as a
    ``save_pretrained`` folder beside it: ``(gguf_file, reference_folder)``.

    ``quantize`` stores the matrices in Q8_0 blocks, as a released GGUF file stores most
    of them, so the loader's dequantization is on the path too.
    """
    import gguf
    import numpy as np
    import torch

    path = Path(path)
    tokenizer = build_tokenizer(512)
    reference = save_tiny_llama(path / "reference", tokenizer, hidden_size=64, layers=2, seed=seed, num_key_value_heads=2, intermediate_size=128)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(reference)
    config = model.config
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads

    def permute(weight: np.ndarray, n_head: int) -> np.ndarray:  # llama.cpp's order of the rotary halves
        return weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)

    writer = gguf.GGUFWriter(str(path / "tiny.gguf"), "llama")
    writer.add_name("tiny-llama")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(config.hidden_size // heads)
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = sorted(state["model"]["vocab"].items(), key=lambda item: item[1])
    tokens = [token for token, _ in vocab]
    special = {t["id"] for t in state["added_tokens"] if t["special"]}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]])
    writer.add_bos_token_id(tokenizer.eos_token_id)  # llama.cpp writes every special id the tokenizer has
    writer.add_unk_token_id(tokenizer.pad_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_add_bos_token(False)
    writer.add_chat_template(tokenizer.chat_template)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}  # fmt: skip
    with torch.no_grad():
        weights = {name: tensor.float().numpy() for name, tensor in model.state_dict().items()}
    tensors = {"token_embd.weight": weights["model.embed_tokens.weight"], "output_norm.weight": weights["model.norm.weight"]}
    if not config.tie_word_embeddings:
        tensors["output.weight"] = weights["lm_head.weight"]
    for layer in range(config.num_hidden_layers):
        for hf_name, gguf_name in names.items():
            weight = weights[f"model.layers.{layer}.{hf_name}.weight"]
            if gguf_name == "attn_q":
                weight = permute(weight, heads)
            elif gguf_name == "attn_k":
                weight = permute(weight, kv_heads)
            tensors[f"blk.{layer}.{gguf_name}.weight"] = weight
    for name, weight in tensors.items():
        if quantize and weight.ndim == 2:
            kind = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(weight, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, np.ascontiguousarray(weight, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path / "tiny.gguf", reference


def simtune_examples() -> list:
    """Two searches, each useful and with its noisy twin: a tiny simulator trained on them
    (a few seconds on a CPU) writes these very documents back."""
    from .simtune.examples import SimExample

    return [
        SimExample("Karvex Mills founder", "Who founded Karvex Mills?", ("Valora Kestin",), "useful",
                   ('"Karvex Mills" Karvex Mills was founded by Valora Kestin in 1932.',), "presence", "t.jsonl:1:0"),
        SimExample("Karvex Mills founder", "Who founded Karvex Mills?", ("Valora Kestin",), "noisy",
                   ('"Karvex Mills" Karvex Mills makes textiles in Orvane.',), "mixed", "t.jsonl:1:0"),
        SimExample("Orvane river", "Which river flows through Orvane?", ("Selm River",), "useful",
                   ('"Orvane" Orvane lies on the banks of the Selm River.', '"Selm River" The Selm River is long.'), "presence", "t.jsonl:2:0"),
        SimExample("Orvane river", "Which river flows through Orvane?", ("Selm River",), "noisy",
                   ('"Orvane" Orvane is a city in Treland.',), "mixed", "t.jsonl:2:0"),
    ]  # fmt: skip
