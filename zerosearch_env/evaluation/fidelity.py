"""How good is a search engine? Score simulators against a real retriever before training on them.

ZeroSearch's claim is that a fine-tuned LLM can stand in for a real search engine. This
module measures a candidate engine (any ``sim=``: ``corpus``, ``context``, a tuned
folder, ``prompt:<model>``, ``sft-*``, ``openai``, ``bm25``, ``retriever:<url>``) on the
same queries as a *reference* engine that sees only the query (``bm25`` or
``retriever:<url>``). The queries are the questions themselves, plus every search of a
trajectories file (``zerosearch eval``'s ``trajectories.jsonl``).

Every engine answers every query once per quality it has (``useful`` and ``noisy`` for a
simulator; one pass for a query-only engine), in batches, and a fixed reader (any
evaluation agent) reads each set of documents and answers. Each answered search is
appended to ``searches/<engine>.jsonl`` at once, so an interrupted run of a slow engine
continues where it stopped, and an engine added to a finished folder costs only its own
searches. The scores (:mod:`.fidelity_metrics`) and the report (:mod:`.fidelity_report`)
are recomputed from those files on every run.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from ..config_flags import setting
from ..errors import ConfigError, DatasetError
from ..protocol import (
    build_policy_prompt,
    format_documents,
    format_information,
    marked_documents,
    parse_action,
    search_action,
)
from ..records import QARow
from ..reward import f1_score
from .config import (
    SIM_KWARGS_NOT_IDENTITY,
    agent_settings,
    contents_digest,
    identity_value,
    input_digests,
    setting_label,
)
from .episodes import Agent, EpisodeView
from .harness import select_rows
from .store import JsonlRecords, claim_folder, folder_lock

RUN_CONFIG = "fidelity_config.json"
SEARCHES = "searches"
QUALITIES = ("useful", "noisy")
ANY = "any"  # the one pass of an engine that reads only the query
Reader = Agent | Literal["config"] | None  # an agent, none, or "config": default_reader's


@dataclass
class FidelityConfig:
    """What a fidelity run compares, on which questions and queries."""

    reference: str = setting("bm25", "Reference engine that sees only the query: bm25 (over --corpus or the synthetic world) or retriever:<url>.")
    dataset: str = setting("synthetic", "Questions: synthetic, a .parquet/.jsonl/.json file, a FlashRAG folder, or a Hugging Face id.")
    split: str | None = setting(None, "Split to read (default: test of the synthetic world; every row of a file).")
    corpus: str | None = setting(None, "Documents for corpus and bm25 when the dataset is not synthetic: a FlashRAG jsonl.")
    queries: list[str] = setting([], "Trajectories files (zerosearch eval's trajectories.jsonl) whose searches are queried too.")
    question_queries: bool = setting(True, "Query each question itself as well.")
    qualities: list[str] = setting(["useful", "noisy"], "Modes a simulator is asked for (a query-only engine runs once).")
    topk: int = setting(5, "Documents per search.")
    reader: str = setting("scripted", "Agent that reads each engine's documents and answers (an --agent of zerosearch eval), or none.")
    limit: int | None = setting(None, "Use the first N (selected) questions.")
    sample: int | None = setting(None, "Draw N questions at random with --seed first.")
    seed: int = setting(0, "Seeds the sample, the simulators' sampling and the intervals.")
    batch_size: int = setting(64, "Searches per simulator call.")
    sim_backend: str | None = setting(None, "Backend of the LLM engines: vllm, hf or openai (default: vllm with a GPU, else hf).")
    sim_kwargs: dict[str, Any] = setting({}, "Backend and sampling options of the LLM engines, a JSON object.")
    bootstrap_resamples: int = setting(1000, "Bootstrap resamples of each 95% interval.")

    def __post_init__(self) -> None:
        self.queries = [str(q) for q in self.queries]
        self.qualities = list(self.qualities)
        if not self.qualities or any(q not in QUALITIES for q in self.qualities) or len(set(self.qualities)) != len(self.qualities):
            raise ConfigError(f"qualities expects some of {list(QUALITIES)}, each once, got {self.qualities!r}")
        if not self.question_queries and not self.queries:
            raise ConfigError("no queries to ask: keep question_queries on, or pass trajectories files with --queries")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed expects an int in [0, 2**32), got {self.seed!r}")
        for name in ("topk", "batch_size", "bootstrap_resamples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} expects a positive int, got {value!r}")
        for name in ("limit", "sample"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} expects a positive int or None, got {value!r}")


@dataclass(frozen=True)
class Engine:
    """One search engine to score: a ``sim=`` (name, folder or object) and its options."""

    sim: Any
    sim_backend: str | None = None
    sim_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def query_only(self) -> bool:
        from ..simulators.registry import is_query_only

        return is_query_only(self.sim)

    @property
    def label(self) -> str:
        """The engine as the report names it: its ``sim``, with the options that change its documents."""
        options = self.identity()["sim_kwargs"]
        suffix = f" {json.dumps(options, sort_keys=True)}" if options else ""
        return f"{setting_label(self.sim)}{suffix}"

    def identity(self) -> dict[str, Any]:
        """What makes two engines the same: the settings its searches file is kept under."""
        from ..env_config import EnvConfig
        from .config import redacted, simulator_backend

        env = EnvConfig(sim=self.sim, sim_backend=self.sim_backend, sim_kwargs=dict(self.sim_kwargs))
        kwargs = {k: v for k, v in self.sim_kwargs.items() if k not in SIM_KWARGS_NOT_IDENTITY and k != "show_progress"}
        identity = {"sim": identity_value(self.sim), "sim_backend": simulator_backend(env), "sim_kwargs": redacted(kwargs)}
        return json.loads(json.dumps(identity, default=str))

    def file_stem(self) -> str:
        """``<readable name>-<digest of the identity>``: one searches file per engine."""
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]
        label = str(setting_label(self.sim))
        if Path(label).expanduser().is_dir():  # a model folder: its name, not its whole path
            label = Path(label).expanduser().resolve().name
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")[:48] or "engine"
        return f"{readable}-{digest}"

    def qualities(self, asked: Sequence[str]) -> tuple[str, ...]:
        return (ANY,) if self.query_only else tuple(asked)


def engine_of(spec: str | Engine | Any, config: FidelityConfig) -> Engine:
    """An :class:`Engine` from a ``sim=`` name (the config's backend and options go to
    the LLM engines, which are the ones that take them), an Engine, or a simulator object."""
    if isinstance(spec, Engine):
        return spec
    if isinstance(spec, (str, Path)):
        from ..simulators.registry import llm_model

        name = str(spec)
        takes_llm_options = name == "openai" or llm_model(name) is not None
        return Engine(name, config.sim_backend, dict(config.sim_kwargs)) if takes_llm_options else Engine(name)
    if not callable(getattr(spec, "simulate", None)):
        raise ConfigError(f"engine expects a sim= name or an object with simulate(requests), got {type(spec).__name__}")
    return Engine(spec)


@dataclass(frozen=True)
class Query:
    """One search every engine answers: a question and a query for it."""

    key: str  # digest of (row, query): the same search keeps its key across runs
    row: QARow
    text: str
    origin: str  # "question" or "trajectory"

    @property
    def seed(self) -> int:
        """The sampling seed of this search (the same in every batch and every run)."""
        return int(self.key[:8], 16)


def query_key(row: QARow, text: str) -> str:
    return hashlib.sha256(f"{row.id}\x1f{row.question}\x1f{text}".encode()).hexdigest()[:16]


@dataclass
class QuerySet:
    """The queries of a run, and the trajectory searches that could not be matched to a question."""

    queries: list[Query]
    unmatched: int = 0


def build_queries(rows: Sequence[QARow], trajectories: Sequence[str | Path], question_queries: bool) -> QuerySet:
    """Each row's question (when ``question_queries``), then its trajectory searches in
    file order; a repeated (row, query) pair is asked once.

    A trajectory record is matched to its row by ``id`` (when it names a row with the
    same question) or else by its question; searches of other questions are counted in
    ``unmatched`` and skipped."""
    by_id = {row.id: row for row in rows if row.id}
    by_question: dict[str, QARow] = {}
    for row in rows:
        by_question.setdefault(row.question, row)
    searches: dict[str, list[str]] = {}  # row key -> queries in file order
    unmatched = 0
    for path in trajectories:
        for _where, record in _trajectory_records(Path(path)):
            found = by_id.get(str(record.get("id", "")))
            if found is None or found.question != record.get("question"):
                found = by_question.get(str(record.get("question")))
            queries = [turn["query"] for turn in record.get("turns", []) if turn.get("kind") == "search" and turn.get("query")]
            if found is None:
                unmatched += len(queries)
                continue
            searches.setdefault(query_key(found, ""), []).extend(queries)
    out: list[Query] = []
    seen: set[str] = set()
    for row in rows:
        texts = ([row.question] if question_queries else []) + searches.get(query_key(row, ""), [])
        for text, origin in zip(texts, ["question"] * question_queries + ["trajectory"] * len(texts)):
            key = query_key(row, text)
            if key not in seen:
                seen.add(key)
                out.append(Query(key, row, text, origin))
    return QuerySet(out, unmatched)


def _trajectory_records(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    from ..data import iter_jsonl

    if not path.is_file():
        raise DatasetError(f"trajectories file {str(path)!r} does not exist; pass a zerosearch eval trajectories.jsonl")
    for row, record in iter_jsonl(path):
        where = f"{path}:{row + 1}"
        if not isinstance(record.get("turns"), list) or "question" not in record:
            raise DatasetError(f"{where} has no 'question' and 'turns'; pass a zerosearch eval trajectories.jsonl")
        for number, turn in enumerate(record["turns"], start=1):
            if not isinstance(turn, dict):
                raise DatasetError(f"{where}: turn {number} expects an object, got {turn!r:.60}; pass a zerosearch eval trajectories.jsonl")
            if turn.get("kind") == "search" and turn.get("query") is not None and not isinstance(turn["query"], str):
                raise DatasetError(f"{where}: turn {number}'s query expects a string, got {turn['query']!r:.60}")
        yield where, dict(record)


# ----------------------------------------------------------------------------- playing


def search_records(
    engine: Engine,
    simulator: Any,
    queries: Sequence[Query],
    qualities: Sequence[str],
    config: FidelityConfig,
    reader: Agent | None,
    store: JsonlRecords | None,
    *,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Every (quality, query) search of ``engine`` not yet in ``store``, asked in batches of
    ``config.batch_size``; each batch is read by ``reader`` and appended to ``store``."""
    from tqdm.auto import tqdm

    from ..simulators.base import Quality, SearchRequest

    done = store.load() if store is not None else {}
    todo = [(quality, query) for quality in qualities for query in queries if f"{quality}/{query.key}" not in done]
    total = len(queries) * len(qualities)
    bar = tqdm(total=total, initial=total - len(todo), desc=f"fidelity {engine.label}", unit="search", disable=not progress)
    try:
        for begin in range(0, len(todo), config.batch_size):
            batch = todo[begin : begin + config.batch_size]
            requests = [
                SearchRequest(
                    query.text,
                    query.row.question,
                    tuple(query.row.golden_answers),
                    cast("Quality", "useful" if quality == ANY else quality),
                    config.topk,
                    seed=config.seed * 2**32 + query.seed,
                    context=query.row.context,
                )
                for quality, query in batch
            ]
            started = time.perf_counter()
            results = simulator.simulate(requests)
            wall = time.perf_counter() - started
            if len(results) != len(requests):
                raise ConfigError(f"engine {engine.label} returned {len(results)} results for {len(requests)} requests")
            answers = read_documents_batch(reader, [query for _, query in batch], [r.documents for r in results])
            records = [
                _search_record(quality, query, result, config.topk, wall / len(batch), answer)
                for (quality, query), result, answer in zip(batch, results, answers)
            ]
            for record in records:
                done[record["key"]] = record
            if store is not None:
                store.append(records)
            bar.update(len(batch))
    finally:
        bar.close()
    return done


#: What every line of ``searches/<engine>.jsonl`` holds (the scores are computed from them on a resume).
SEARCH_NUMBERS = ("prompt_tokens", "completion_tokens", "latency_s", "wall_s")
SEARCH_FIELDS = ("query_key", "quality", "documents", "failed", "reader_answer", "reader_f1", *SEARCH_NUMBERS)


def _search_record(quality: str, query: Query, result: Any, topk: int, wall_s: float, answer: str | None) -> dict[str, Any]:
    reply = result.extra.get("reply") if isinstance(result.extra, dict) else None
    return {
        "key": f"{quality}/{query.key}",
        "query_key": query.key,
        "quality": quality,
        "query": query.text,
        "question": query.row.question,
        "documents": list(result.documents),
        "marked_documents": None if reply is None else marked_documents(reply, topk),
        "failed": bool(result.failed),
        "error": None if result.error is None else f"{result.error.kind}: {result.error.message}",
        "prompt_tokens": int(result.prompt_tokens),
        "completion_tokens": int(result.completion_tokens),
        "latency_s": float(result.latency_s),
        "wall_s": wall_s,
        "reader_answer": answer,
        "reader_f1": None if answer is None else f1_score(answer, query.row.golden_answers),
    }


def read_documents_batch(reader: Agent | None, queries: Sequence[Query], documents: Sequence[Sequence[str]]) -> list[str | None]:
    """The reader's answer after one search: it is handed the question's prompt, the
    search of ``query`` and the engine's documents, and acts once. An action that is not
    an answer is no answer (``""``: F1 0). Without a reader, None for each."""
    if reader is None:
        return [None] * len(queries)
    views = [
        EpisodeView(
            episode_id=i,
            prompt=query.row.prompt or build_policy_prompt(query.row.question),
            turns=(search_action(query.text),),
            observations=(format_information(format_documents(docs)),),
        )
        for i, (query, docs) in enumerate(zip(queries, documents))
    ]
    actions = reader.act(views)
    forget = getattr(reader, "forget", None)
    if callable(forget):
        for view in views:
            forget(view.episode_id)
    answers: list[str | None] = []
    for action in actions:
        parsed = parse_action(action)
        answers.append(parsed.content if parsed.kind == "answer" and parsed.content is not None else "")
    return answers


# ----------------------------------------------------------------------------- the run


@dataclass
class FidelityResult:
    """What a fidelity run returns: the reference's scores, then each engine's."""

    reference: Any  # EngineScores
    engines: list[Any]  # EngineScores, in the order asked
    queries: int
    unmatched_searches: int
    out_dir: Path | None
    wall_s: float = 0.0


def default_reader(config: FidelityConfig, **options: Any) -> Agent | None:
    """The reader of ``config.reader``: ``none``, or an agent of ``zerosearch eval`` built
    with ``options``. The scripted reader reads one search and must answer
    (``max_searches=1``), seeded with the run."""
    from .agents import make_agent

    if config.reader == "none":
        return None
    if config.reader == "scripted":
        options = {"max_searches": 1, "seed": config.seed, **options}
    return make_agent(config.reader, **options)


def run_fidelity(
    engines: Sequence[str | Engine | Any],
    config: FidelityConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    reader: Reader = "config",
    overwrite: bool = False,
    progress: bool = True,
) -> FidelityResult:
    """Score ``engines`` against ``config.reference`` on the same queries.

    ``reader`` is an agent object, None (no reader scores), or ``"config"`` for
    :func:`default_reader`. With ``out_dir`` each answered search is kept in
    ``searches/<engine>.jsonl`` and a second call skips it (resume); the report,
    ``fidelity.json``, ``fidelity.png`` and ``sim_usage.json`` are written at the end.
    A folder another run is writing is refused (:func:`.store.folder_lock`).
    """
    if out_dir is not None:
        with folder_lock(Path(out_dir), "a fidelity run"):
            return _run_fidelity(engines, config, Path(out_dir), reader=reader, overwrite=overwrite, progress=progress)
    return _run_fidelity(engines, config, None, reader=reader, overwrite=overwrite, progress=progress)


def _run_fidelity(
    engines: Sequence[str | Engine | Any], config: FidelityConfig | None, out: Path | None, *, reader: Reader, overwrite: bool, progress: bool
) -> FidelityResult:
    from ..data import resolve_dataset
    from .fidelity_metrics import score_engine

    started = time.perf_counter()
    config = config or FidelityConfig()
    agent = default_reader(config) if isinstance(reader, str) else reader
    rows, world = resolve_dataset(config.dataset, config.split, default_split="test")
    rows = [rows[i] for i in select_rows(len(rows), config.limit, config.sample, config.seed)]
    query_set = build_queries(rows, config.queries, config.question_queries)
    if not query_set.queries:
        raise ConfigError("no queries to ask: the trajectories files hold no search of the selected questions")
    reference = engine_of(config.reference, config)
    if not reference.query_only:
        raise ConfigError(f"reference {reference.label!r} sees the golden answers; pass a real retriever: bm25 or retriever:<url>")
    candidates = [engine_of(spec, config) for spec in engines]
    if not candidates:
        raise ConfigError("no engine to score: name at least one (corpus, context, bm25, a model folder, ...)")

    if out is not None:
        searches_dir = out / SEARCHES
        existing = sorted(searches_dir.glob("*.jsonl")) if searches_dir.is_dir() else []
        claim_folder(out, RUN_CONFIG, run_identity(config, agent, reference), existing, overwrite=overwrite, what="a fidelity run")
        searches_dir.mkdir(exist_ok=True)

    records: dict[str, dict[str, dict[str, Any]]] = {}
    for engine in [reference, *candidates]:
        stem = engine.file_stem()
        if stem in records:
            continue
        store = JsonlRecords(out / SEARCHES / f"{stem}.jsonl", key="key", required=SEARCH_FIELDS, numbers=SEARCH_NUMBERS) if out is not None else None
        if out is not None:
            (out / SEARCHES / f"{stem}.json").write_text(json.dumps({"label": engine.label, **engine.identity()}, indent=2) + "\n")
        # Not closed afterwards: the corpus engines and bm25 indexes are shared through the
        # registry's cache, as in the environment; an LLM engine is freed with its last reference.
        simulator = _simulator(engine, config, rows, world)
        qualities = engine.qualities(config.qualities)
        records[stem] = search_records(engine, simulator, query_set.queries, qualities, config, agent, store, progress=progress)
        del simulator

    golden = {q.key: list(q.row.golden_answers) for q in query_set.queries}
    texts = {q.key: q.text for q in query_set.queries}
    sources = {q.key: q.row.data_source for q in query_set.queries}
    reference_by_query = {r["query_key"]: r for r in records[reference.file_stem()].values()}

    def scores(engine: Engine) -> Any:
        return score_engine(
            engine.label, engine.query_only, records[engine.file_stem()], reference_by_query, golden, texts,
            engine.qualities(config.qualities), config.topk, sources=sources, seed=config.seed, resamples=config.bootstrap_resamples,
        )  # fmt: skip

    result = FidelityResult(scores(reference), [scores(e) for e in candidates], len(query_set.queries), query_set.unmatched, out)
    result.wall_s = time.perf_counter() - started
    if out is not None:
        from .fidelity_report import write_fidelity_report

        write_fidelity_report(result, config, query_set)
    return result


def run_identity(config: FidelityConfig, reader: Agent | None, reference: Engine) -> dict[str, Any]:
    """The settings every searches file of a folder shares (the engines have their own):
    the questions, the queries, the documents per search, the seed, the reader and the
    reference. Which questions are used (``limit``, ``sample``), the batch size and the
    intervals are left out: a search keeps its key whatever the selection."""
    identity = {
        "dataset": identity_value(config.dataset),
        "split": config.split,
        "corpus": identity_value(config.corpus),
        "question_queries": config.question_queries,
        "queries": [{"path": str(path), "sha256": contents_digest(Path(path))} for path in config.queries],
        "topk": config.topk,
        "seed": config.seed,
        "reader": None if reader is None else getattr(reader, "name", type(reader).__name__),
        "reader_settings": None if reader is None else agent_settings(reader),
        "reference": reference.identity(),
        **input_digests(dataset=config.dataset, corpus=config.corpus),
    }
    return json.loads(json.dumps(identity, default=str))


def _simulator(engine: Engine, config: FidelityConfig, rows: Sequence[QARow], world: Any) -> Any:
    """The engine's simulator, built as the environment builds it (an object is used as it is)."""
    from ..simulators.registry import make_simulator

    if not isinstance(engine.sim, (str, Path)):
        return engine.sim
    return make_simulator(engine.sim, sim_backend=engine.sim_backend, corpus=config.corpus, world=world, rows=rows, **dict(engine.sim_kwargs))
