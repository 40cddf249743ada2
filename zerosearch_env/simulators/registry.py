"""From a ``sim=`` argument (a name, a path or an object) to a :class:`Simulator`.

Names:

- ``sft-3b``/``sft-7b``/``sft-14b``: the released Google-style simulation LLMs;
  ``wiki-sft-3b``/``7b``/``14b``: the Wikipedia-style ones;
- ``prompt:<model>``: prompt-based (few-shot) simulation with any instruct model;
- a local folder saved with ``save_pretrained``: an sft simulator from disk;
- ``openai``: any OpenAI-compatible server (SGLang, ``vllm serve``, ...);
- ``corpus`` / ``context``: the LLM-free search engines (they read the golden answers
  to be useful or noisy on purpose);
- ``bm25``: a real retriever, BM25 over a corpus (indexed once, then memory-mapped);
- ``retriever:<url>``: a real retriever behind Search-R1's ``/retrieve`` HTTP API.

Real retrievers see only the query, never the golden answers: use them to evaluate a
policy without answer leakage.

LLM simulators run on a backend: ``sim_backend="vllm"`` (offline engine), ``"hf"``
(transformers) or ``"openai"`` (HTTP). Without one, vLLM is used when it is installed and
a GPU is visible, else transformers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UnknownSimulatorError
from ..models import SFT_MODELS, SimulatorModel, download_command, resolve_weights  # noqa: F401  (re-exported)
from .base import Simulator

if TYPE_CHECKING:
    from ..records import CorpusDoc, QARow
    from ..worlds.synthetic import SyntheticWorld


OTHER_SIMULATORS: dict[str, str] = {
    "prompt:<model>": "prompt-based simulation with any instruct model (a hub id in the cache, a folder, or prompt:smollm2-135m)",
    "<path>": "a local folder with a fine-tuned simulator saved by save_pretrained",
    "openai": "any OpenAI-compatible server; sim_kwargs={'base_urls': [...], 'model': ...}",
    "corpus": "BM25 over a corpus (the synthetic world's by default); useful = answer-bearing first, noisy = answer-bearing removed",
    "context": "the paragraphs a HotpotQA-style row ships with; useful = supporting first, noisy = distractors only",
    "bm25": "real retriever: BM25 over corpus= (index saved once to <corpus>.bm25/, then memory-mapped; "
    "the synthetic world's corpus by default); query only, no answer leakage; sim_kwargs={'index_dir': ...}",
    "retriever:<url>": "real retriever: a Search-R1 retrieval server (POST /retrieve, e.g. FAISS + e5), "
    "sim='retriever:http://127.0.0.1:8000/retrieve'; query only, no answer leakage",
}

BACKENDS: tuple[str, ...] = ("vllm", "hf", "openai")


def simulator_table() -> list[tuple[str, str, str]]:
    """(name, size, what) for ``zerosearch sims``."""
    rows = [(name, m.size, f"{m.hub_id} ({m.style} style)") for name, m in SFT_MODELS.items()]
    return rows + [(name, "", what) for name, what in OTHER_SIMULATORS.items()]


def choose_backend(sim_backend: str | None) -> str:
    """The explicit backend, else vLLM when installed with a visible GPU, else transformers."""
    if sim_backend is not None:
        if sim_backend not in BACKENDS:
            raise ConfigError(f"sim_backend expects one of {list(BACKENDS)} or None, got {sim_backend!r}")
        return sim_backend
    from ..import_utils import cuda_device_count, is_vllm_available

    return "vllm" if is_vllm_available() and cuda_device_count() > 0 else "hf"


def _llm_simulator(model: str, mode: str, name: str, sim_backend: str | None, sim_kwargs: dict[str, Any]) -> Simulator:
    backend = choose_backend(sim_backend)
    if backend == "openai":
        from .openai import OpenAISimulator

        sim_kwargs.setdefault("model", model)
        return OpenAISimulator(mode=mode, name=name, **sim_kwargs)
    weights = resolve_weights(model)
    if backend == "vllm":
        from .vllm import VLLMSimulator

        return VLLMSimulator(weights, mode=mode, name=name, **sim_kwargs)
    from .hf import HFSimulator

    return HFSimulator(weights, mode=mode, name=name, **sim_kwargs)


@functools.lru_cache(maxsize=8)
def _world_simulator(world: SyntheticWorld) -> Simulator:
    from .corpus import CorpusSimulator

    return CorpusSimulator(world.documents, name="corpus")


@functools.lru_cache(maxsize=4)
def _file_simulator(path: str, mtime: float) -> Simulator:
    from ..data import load_corpus
    from .corpus import CorpusSimulator

    return CorpusSimulator(load_corpus(path), name=f"corpus:{Path(path).name}")


@functools.lru_cache(maxsize=8)
def _world_retriever(world: SyntheticWorld) -> Simulator:
    from .bm25 import BM25Retriever

    return BM25Retriever.build(world.documents, show_progress=False, name="bm25")


@functools.lru_cache(maxsize=4)
def _file_retriever(path: str, size: int, mtime_ns: int, index_dir: str | None, show_progress: bool) -> Simulator:
    from .bm25 import BM25Retriever

    return BM25Retriever.from_corpus(path, index_dir, show_progress=show_progress)


_BM25_KWARGS = ("index_dir", "show_progress")


def _bm25_retriever(corpus: str | Path | Sequence[CorpusDoc | str] | None, world: SyntheticWorld | None, sim_kwargs: dict[str, Any]) -> Simulator:
    """BM25 over the corpus file (index cached per file version, so N envs share one),
    the documents given, or the synthetic world's corpus."""
    from .bm25 import BM25Retriever
    from .bm25_index import check_corpus_file

    unknown = sorted(set(sim_kwargs) - set(_BM25_KWARGS))
    if unknown:
        raise ConfigError(f"sim='bm25' accepts sim_kwargs {list(_BM25_KWARGS)}, got {unknown}")
    index_dir = sim_kwargs.get("index_dir")
    show_progress = bool(sim_kwargs.get("show_progress", True))
    if isinstance(corpus, (str, Path)):
        path = check_corpus_file(corpus)
        stat = path.stat()
        folder = None if index_dir is None else str(Path(index_dir).expanduser().resolve())
        return _file_retriever(str(path.resolve()), stat.st_size, stat.st_mtime_ns, folder, show_progress)
    if corpus is not None:
        documents: Sequence[CorpusDoc | str] = list(corpus)
    elif world is None:
        raise ConfigError(
            "sim='bm25' needs documents to search: pass corpus='path/to/corpus.jsonl' "
            "(FlashRAG format, one {'id', 'contents'} per line) or use dataset='synthetic'"
        )
    elif index_dir is None:
        return _world_retriever(world)
    else:
        documents = world.documents
    return BM25Retriever.build(documents, index_dir, show_progress=show_progress and index_dir is not None)


def _corpus_simulator(corpus: str | Path | Sequence[CorpusDoc | str] | None, world: SyntheticWorld | None, rows: Sequence[QARow]) -> Simulator:
    from .corpus import ContextSimulator, CorpusSimulator

    if corpus is not None:
        if isinstance(corpus, (str, Path)):
            path = Path(corpus)
            if not path.exists():
                from ..errors import DatasetError

                raise DatasetError(f"corpus file {str(path)!r} does not exist; pass a FlashRAG jsonl with 'id' and 'contents'")
            return _file_simulator(str(path.resolve()), path.stat().st_mtime)
        return CorpusSimulator(list(corpus))
    if world is not None:
        return _world_simulator(world)
    if rows and all(row.context for row in rows):
        return ContextSimulator()
    raise ConfigError(
        "sim='corpus' needs documents to search: pass corpus='path/to/corpus.jsonl' "
        "(FlashRAG format, one {'id', 'contents'} per line), use dataset='synthetic', "
        "or a HotpotQA-style dataset whose rows carry 'context' paragraphs"
    )


def llm_model(sim: str | Path) -> str | None:
    """The model the LLM simulator ``sim`` loads in this process (a hub id or a folder), or
    None for the search engines that load none: ``corpus``, ``context``, ``bm25``,
    ``retriever:<url>``, and ``openai`` (its model is on the server). The names are
    :func:`make_simulator`'s; an unknown one raises as it does.

    >>> llm_model("sft-7b"), llm_model("prompt:Qwen/Qwen2.5-14B-Instruct"), llm_model("bm25")
    ('sunhaonlp/Simulation_LLM_google_7B_V2', 'Qwen/Qwen2.5-14B-Instruct', None)
    """
    name = str(sim)
    if name in ("corpus", "context", "bm25", "retriever", "openai") or name.startswith("retriever:"):
        return None
    if name in SFT_MODELS:
        return SFT_MODELS[name].hub_id
    if name.startswith("prompt:"):
        return name.removeprefix("prompt:")
    if Path(name).expanduser().is_dir():
        return name
    raise _unknown(name)


def is_query_only(sim: str | Path | Simulator) -> bool:
    """Whether ``sim`` is a real search engine that reads only the query (``bm25``,
    ``retriever:<url>``, or an object with a true ``query_only``): it has no noisy mode
    and never sees the golden answers.

    >>> is_query_only("bm25"), is_query_only("retriever:http://h:8000/retrieve"), is_query_only("corpus")
    (True, True, False)
    """
    if isinstance(sim, (str, Path)):
        return str(sim) == "bm25" or str(sim).startswith("retriever:")
    return bool(getattr(sim, "query_only", False))


def _unknown(name: str) -> UnknownSimulatorError:
    return UnknownSimulatorError(
        f"unknown sim {name!r}; expected one of {sorted(SFT_MODELS)}, 'prompt:<model>', 'openai', 'corpus', "
        "'context', 'bm25', 'retriever:<url>', a local model folder, or a simulator object "
        "(run `zerosearch sims` to list them)"
    )


def make_simulator(
    sim: str | Path | Simulator,
    *,
    sim_backend: str | None = None,
    corpus: str | Path | Sequence[CorpusDoc | str] | None = None,
    world: SyntheticWorld | None = None,
    rows: Sequence[QARow] = (),
    **sim_kwargs: Any,
) -> Simulator:
    """Resolve ``sim`` to a simulator; ``sim_kwargs`` go to the backend (sampling, batch
    size, URLs, engine options).

    ``"corpus"`` searches ``corpus`` (a FlashRAG jsonl/parquet path or a list of
    documents) when given, else the synthetic ``world``'s corpus, else the rows'
    HotpotQA ``context`` paragraphs. ``"bm25"`` searches the same corpus, or the
    world's, as a real retriever (``sim_kwargs``: ``index_dir``, ``show_progress``);
    ``"retriever:<url>"`` asks a Search-R1 ``/retrieve`` server. Indexes of the built-in world and of corpus files are
    cached, so many environments over the same corpus share one index.
    """
    if not isinstance(sim, (str, Path)):
        if not callable(getattr(sim, "simulate", None)):
            raise ConfigError(
                f"sim expects a simulator name (see `zerosearch sims`), a folder, or an object with a simulate(requests) method, got {type(sim).__name__}"
            )
        return sim
    name = str(sim)
    if name in ("corpus", "context"):
        if sim_kwargs or sim_backend:
            raise ConfigError(f"sim={name!r} takes no sim_backend or sim_kwargs, got {sorted(sim_kwargs) or sim_backend}")
        if name == "context":
            from .corpus import ContextSimulator

            return ContextSimulator()
        return _corpus_simulator(corpus, world, rows)
    kwargs = dict(sim_kwargs)
    if name in ("bm25", "retriever") or name.startswith("retriever:"):
        return _retriever(name, corpus, world, sim_backend, kwargs)
    if name in SFT_MODELS:
        return _llm_simulator(SFT_MODELS[name].hub_id, "sft", name, sim_backend, kwargs)
    if name.startswith("prompt:"):
        model = name.removeprefix("prompt:")
        if not model:
            raise ConfigError("sim='prompt:<model>' expects a model after the colon, e.g. 'prompt:Qwen/Qwen2.5-14B-Instruct'")
        mode = kwargs.pop("mode", "prompt")
        if mode not in ("prompt", "prompt-small"):
            raise ConfigError(
                f"sim='prompt:<model>' takes mode 'prompt' (the few-shot prompt) or 'prompt-small' (its variant for small instruct models), got {mode!r}"
            )
        return _llm_simulator(model, mode, name, sim_backend, kwargs)
    if name == "openai":
        if sim_backend not in (None, "openai"):
            raise ConfigError(f"sim='openai' runs on the openai backend, got sim_backend={sim_backend!r}")
        from .openai import OpenAISimulator

        return OpenAISimulator(**kwargs)
    if Path(name).expanduser().is_dir():
        return _llm_simulator(name, kwargs.pop("mode", "sft"), f"sft:{Path(name).name}", sim_backend, kwargs)
    raise _unknown(name)


def _retriever(
    name: str,
    corpus: str | Path | Sequence[CorpusDoc | str] | None,
    world: SyntheticWorld | None,
    sim_backend: str | None,
    sim_kwargs: dict[str, Any],
) -> Simulator:
    """``bm25`` or ``retriever:<url>``: the real retrievers (query only)."""
    if sim_backend is not None:
        raise ConfigError(f"sim={name!r} is a retriever and takes no sim_backend, got {sim_backend!r}")
    if name == "bm25":
        return _bm25_retriever(corpus, world, sim_kwargs)
    url = name.removeprefix("retriever").removeprefix(":")
    if not url:
        raise ConfigError("sim='retriever:<url>' expects the server's URL after the colon, e.g. 'retriever:http://127.0.0.1:8000/retrieve'")
    from .retriever import HTTPRetriever

    return HTTPRetriever(url, **sim_kwargs)
