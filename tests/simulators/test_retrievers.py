"""Real retrievers (BM25 over a saved index, the Search-R1 HTTP API): query only, no leakage.

The HTTP tests run a small ``/retrieve`` server on 127.0.0.1 started by the tests.
"""

import json
import os
import pickle
import re
import socket

import gymnasium as gym
import pytest

import zerosearch_env  # noqa: F401
from zerosearch_env.errors import ConfigError, DatasetError, UnknownSimulatorError
from zerosearch_env.records import CorpusDoc
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.bm25 import BM25Retriever
from zerosearch_env.simulators.bm25_index import MANIFEST, default_index_dir
from zerosearch_env.simulators.corpus import CorpusSimulator
from zerosearch_env.simulators.registry import OTHER_SIMULATORS, make_simulator
from zerosearch_env.simulators.retriever import HTTPRetriever
from zerosearch_env.testing import JSONServer

from .conftest import ANVIL_CORPUS

CORPUS = [
    *ANVIL_CORPUS,
    CorpusDoc("d6", "kestin mills harbour"),
    CorpusDoc("d7", "kestin mills harbour"),
]
QUERIES = ["who founded the anvil company Acme", "Beta Corp founder", "kestin harbour", "tomatoes", "the of and", ""]


def write_corpus(path, docs=CORPUS):
    path.write_text("".join(json.dumps({"id": d.id, "contents": d.contents}) + "\n" for d in docs))
    return path


def request(query, golden=("Jane Doe",), quality="useful", topk=5, question="Who founded Acme?"):
    return SearchRequest(query=query, question=question, golden_answers=golden, quality=quality, topk=topk)


def documents(results):
    return [r.documents for r in results]


@pytest.fixture(scope="module")
def memory():
    return BM25Retriever.build(CORPUS, show_progress=False)


# ------------------------------------------------------------------- BM25: ranking


def test_results_ignore_golden_answers_quality_and_question(memory):
    base = documents(memory.simulate([request(q) for q in QUERIES]))
    assert base == documents(memory.simulate([request(q, quality="noisy") for q in QUERIES]))
    assert base == documents(memory.simulate([request(q, golden=("Max Roe", "1901")) for q in QUERIES]))
    assert base == documents(memory.simulate([request(q, golden=(), question="something else") for q in QUERIES]))


def test_noisy_request_still_gets_the_answer_bearing_top_hits(memory):
    """Unlike CorpusSimulator, a real retriever does not hide the answer."""
    (noisy,) = memory.simulate([request("who founded the anvil company Acme", quality="noisy", topk=2)])
    assert any("Jane Doe" in doc for doc in noisy.documents)
    (useful,) = CorpusSimulator(CORPUS).simulate([request("who founded the anvil company Acme", quality="noisy", topk=2)])
    assert not any("Jane Doe" in doc for doc in useful.documents)


def test_top_k_by_bm25_with_corpus_order_ties(memory):
    ranked = CorpusSimulator(CORPUS).ranked(QUERIES, k=8)
    assert memory.ranked(QUERIES, k=8) == ranked  # the shared ranking
    (result,) = memory.simulate([request("kestin harbour", topk=2)])
    assert result.extra["ids"] == ("d6", "d7")  # equal scores: corpus order
    (result,) = memory.simulate([request("Beta Corp founder", topk=3)])
    assert result.documents[0] == '"Beta Corp" Beta Corp is a rival anvil company founded by Max Roe.'
    assert len(result.documents) <= 3 and all("Gardening" not in d for d in result.documents)


def test_each_request_keeps_its_own_topk_and_order(memory):
    results = memory.simulate([request("acme anvil", topk=1), request("tomatoes", topk=4), request("acme anvil", topk=3)])
    assert len(results[0].documents) == 1 and results[2].documents[:1] == results[0].documents
    assert results[1].extra["ids"] == ("d5",)  # only documents with a positive score
    assert all(r.latency_s >= 0 and r.prompt_tokens == r.completion_tokens == 0 for r in results)
    assert memory.simulate([]) == []


def test_documents_are_one_line(memory):
    (result,) = memory.simulate([request("acme", topk=5)])
    assert all("\n" not in d and "  " not in d for d in result.documents)
    assert result.text.startswith('Doc 1: "')


# ----------------------------------------------------------- BM25: saved indexes


def test_saved_index_matches_in_memory_index(tmp_path, memory):
    saved = BM25Retriever.build(CORPUS, tmp_path / "index", show_progress=False)
    assert saved.index_dir == tmp_path / "index" and len(saved) == len(CORPUS)
    loaded = BM25Retriever.load(tmp_path / "index")
    for retriever in (saved, loaded):
        assert documents(retriever.simulate([request(q) for q in QUERIES])) == documents(memory.simulate([request(q) for q in QUERIES]))
    assert loaded.document(4) == CORPUS[4]
    clone = pickle.loads(pickle.dumps(loaded))  # pickles as its folder, memory-maps again
    assert documents(clone.simulate([request("acme")])) == documents(loaded.simulate([request("acme")]))


def test_loaded_index_is_memory_mapped(tmp_path):
    import numpy as np

    BM25Retriever.build(CORPUS, tmp_path / "index", show_progress=False)
    loaded = BM25Retriever.load(tmp_path / "index")
    assert isinstance(loaded._bm25.scores["data"], np.memmap)
    assert not isinstance(loaded._documents, list)  # texts are read from disk when returned


def test_from_corpus_reuses_the_index_and_rebuilds_when_the_corpus_changes(tmp_path, caplog):
    corpus = write_corpus(tmp_path / "wiki.jsonl")
    first = BM25Retriever.from_corpus(corpus, show_progress=False)
    folder = tmp_path / "wiki.jsonl.bm25"
    assert first.index_dir == folder == default_index_dir(corpus) and (folder / MANIFEST).is_file()
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["documents"] == len(CORPUS) and manifest["corpus"]["path"] == str(corpus.resolve())
    assert manifest["corpus"]["size"] == corpus.stat().st_size and "mtime_ns" in manifest["corpus"] and manifest["bm25s"]
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    second = BM25Retriever.from_corpus(corpus, show_progress=False)  # loads, does not rebuild
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert documents(second.simulate([request("acme")])) == documents(first.simulate([request("acme")]))

    write_corpus(corpus, [*CORPUS, CorpusDoc("d8", "zyxwv quokka facts")])
    with caplog.at_level("WARNING"):
        third = BM25Retriever.from_corpus(corpus, show_progress=False)
    assert "changed" in caplog.text and "rebuilding" in caplog.text
    assert len(third) == len(CORPUS) + 1 and json.loads((folder / MANIFEST).read_text())["documents"] == len(CORPUS) + 1
    assert third.simulate([request("quokka")])[0].extra["ids"] == ("d8",)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["wiki.jsonl", "wiki.jsonl.bm25"]


def test_from_corpus_reads_flashrag_title_text_rows_and_explicit_index_dir(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "t1", "title": "Quokka", "text": "A small\nmarsupial."}) + "\n")
    retriever = BM25Retriever.from_corpus(corpus, tmp_path / "elsewhere", show_progress=False)
    assert retriever.simulate([request("quokka")])[0].documents == ('"Quokka" A small marsupial.',)
    assert (tmp_path / "elsewhere" / MANIFEST).is_file() and not (tmp_path / "c.jsonl.bm25").exists()


def test_parquet_corpus_and_in_memory_build_from_a_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    corpus = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [d.id for d in CORPUS], "contents": [d.contents for d in CORPUS]}), corpus)
    saved = BM25Retriever.from_corpus(corpus, show_progress=False)
    in_memory = BM25Retriever.build(corpus, show_progress=False)
    assert in_memory.index_dir is None and saved.index_dir == tmp_path / "c.parquet.bm25"
    reqs = [request(q) for q in QUERIES]
    assert documents(saved.simulate(reqs)) == documents(in_memory.simulate(reqs))
    unicode = BM25Retriever.build([CorpusDoc("u", "Zoë café \ud800 naïve")], tmp_path / "u", show_progress=False)
    assert unicode.document(0).contents == "Zoë café \ud800 naïve"


def test_unwritable_corpus_folder_uses_the_cache(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "c.jsonl")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    folder = default_index_dir(corpus)
    assert folder.parent == tmp_path / "cache" / "zerosearch" / "bm25"


# ------------------------------------------------------------------ BM25: errors


def test_missing_corpus_file(tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.jsonl.*does not exist.*FlashRAG"):
        BM25Retriever.from_corpus(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="does not exist"):
        make_simulator("bm25", corpus=tmp_path / "missing.jsonl")


def test_empty_corpus(tmp_path):
    with pytest.raises(DatasetError, match="non-empty"):
        BM25Retriever.build([])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DatasetError, match="non-empty"):
        BM25Retriever.from_corpus(empty, show_progress=False)
    assert not (tmp_path / "empty.jsonl.bm25").exists()  # no half-built index left behind
    assert not [p for p in tmp_path.iterdir() if ".building-" in p.name]


def test_folder_that_is_not_an_index(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy anvils")
    with pytest.raises(ConfigError, match=r"not a BM25 index.*missing manifest\.json"):
        BM25Retriever.load(folder)
    with pytest.raises(ConfigError, match="does not exist"):
        BM25Retriever.load(tmp_path / "nowhere")
    corpus = write_corpus(tmp_path / "c.jsonl")
    with pytest.raises(ConfigError, match="not empty and holds no BM25 index"):
        BM25Retriever.from_corpus(corpus, folder, show_progress=False)
    assert (folder / "todo.txt").read_text() == "buy anvils"  # never written over


def test_corrupt_manifest(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl")
    BM25Retriever.from_corpus(corpus, show_progress=False)
    manifest = tmp_path / "c.jsonl.bm25" / MANIFEST
    manifest.write_text("{not json")
    with pytest.raises(ConfigError, match=r"corrupt BM25 index manifest.*delete"):
        BM25Retriever.load(tmp_path / "c.jsonl.bm25")
    with pytest.raises(ConfigError, match="corrupt"):
        BM25Retriever.from_corpus(corpus, show_progress=False)
    manifest.write_text(json.dumps({"format": 1, "documents": "eight"}))
    with pytest.raises(ConfigError, match="'documents' must be a int"):
        BM25Retriever.load(tmp_path / "c.jsonl.bm25")


# ------------------------------------------------------------------ BM25: registry


def test_registry_bm25_sources(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl")
    from_file = make_simulator("bm25", corpus=corpus, show_progress=False)
    assert make_simulator("bm25", corpus=str(corpus), show_progress=False) is from_file  # one index for N envs
    assert from_file.name == "bm25:c.jsonl" and from_file.index_dir == tmp_path / "c.jsonl.bm25"
    own = make_simulator("bm25", corpus=corpus, index_dir=tmp_path / "idx", show_progress=False)
    assert own.index_dir == (tmp_path / "idx").resolve()
    assert isinstance(make_simulator("bm25", corpus=CORPUS), BM25Retriever)

    from zerosearch_env.worlds.synthetic import make_world

    world = make_world()
    assert make_simulator("bm25", world=world) is make_simulator("bm25", world=world)
    with pytest.raises(ConfigError, match="corpus="):
        make_simulator("bm25")
    with pytest.raises(ConfigError, match="index_dir"):
        make_simulator("bm25", corpus=CORPUS, temperature=0.8)
    with pytest.raises(ConfigError, match="sim_backend"):
        make_simulator("bm25", corpus=CORPUS, sim_backend="hf")


def test_registry_lists_retrievers():
    assert "bm25" in OTHER_SIMULATORS and "retriever:<url>" in OTHER_SIMULATORS
    with pytest.raises(UnknownSimulatorError, match=r"'bm25', 'retriever:<url>'"):
        make_simulator("no-such-sim")
    with pytest.raises(ConfigError, match="URL after the colon"):
        make_simulator("retriever:")
    retriever = make_simulator("retriever:http://127.0.0.1:1/retrieve", retries=0)
    assert isinstance(retriever, HTTPRetriever) and retriever.url == "http://127.0.0.1:1/retrieve"


def test_env_searches_a_flashrag_corpus_with_bm25(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    dataset = tmp_path / "test.jsonl"
    dataset.write_text(json.dumps({"question": "Who founded Beta Corp?", "golden_answers": ["Max Roe"]}) + "\n")
    env = gym.make("ZeroSearch-v0", sim="bm25", dataset=str(dataset), corpus=str(corpus), topk=2, difficulty=1.0, sim_kwargs={"show_progress": False})
    env.reset(seed=0)
    _, _, _, _, info = env.step("<search> Beta Corp anvil founded </search>")
    assert info["documents"][0] == '"Beta Corp" Beta Corp is a rival anvil company founded by Max Roe.'
    assert len(info["documents"]) == 2  # difficulty 1.0 asks for noisy results; a retriever ignores it


# ------------------------------------------------------------------ HTTP retriever


def score(query, contents):
    return len(set(query.lower().split()) & set(contents.lower().replace('"', " ").split()))


class RetrieveServer(JSONServer):
    """Search-R1's ``/retrieve`` over CORPUS (word-overlap scores); fails the first
    ``failures`` requests with HTTP 503, or always answers ``garbage``."""

    def __init__(self, failures=0, garbage=False):
        self.failures = failures
        self.garbage = garbage
        super().__init__(self.respond, path="/retrieve")

    def respond(self, path, body):
        if path != "/retrieve":
            return 404, b'{"detail": "Not Found"}'
        if self.failures > 0:
            self.failures -= 1
            return 503, b"busy"
        if self.garbage:
            return 200, b'{"answer": 42}'
        return 200, {"result": [self.search(q, body["topk"], body["return_scores"]) for q in body["queries"]]}

    @staticmethod
    def search(query, topk, return_scores):
        ranked = sorted(CORPUS, key=lambda d: -score(query, d.contents))[:topk]
        docs = [{"id": d.id, "contents": d.contents} for d in ranked]
        if return_scores:
            return [{"document": doc, "score": float(score(query, doc["contents"]))} for doc in docs]
        return docs


@pytest.fixture
def servers(start_server):
    return lambda **kwargs: start_server(RetrieveServer, **kwargs)


def test_http_batches_queries_and_cuts_each_topk(servers):
    server = servers()
    retriever = HTTPRetriever(server.url, batch_size=2, retries=0)
    secret = {"golden": ("Zanzibar Quux",), "question": "Secret question?"}
    reqs = [request("Beta Corp founder", topk=1, **secret), request("Jane Doe engineer", topk=3), request("tomatoes sun", topk=2)]
    results = retriever.simulate(reqs)
    assert [len(r.documents) for r in results] == [1, 3, 2]
    assert results[0].documents == ('"Beta Corp" Beta Corp is a rival anvil company founded by Max Roe.',)
    assert results[1].extra["ids"][0] == "d2" and results[1].extra["scores"][0] == 3.0
    assert all("\n" not in d for r in results for d in r.documents) and all(r.error is None for r in results)
    assert sorted(len(b["queries"]) for b in server.bodies) == [1, 2]  # batch_size 2
    assert all(b["topk"] == 3 and b["return_scores"] is True for b in server.bodies)
    sent = json.dumps(server.bodies)
    assert "Zanzibar" not in sent and "Secret" not in sent and "Who founded" not in sent  # the query only


def test_http_documents_without_scores_and_plain_urls(servers):
    server = servers()
    retriever = HTTPRetriever(server.url.removesuffix("/retrieve"), retries=0)  # host only: /retrieve added
    assert retriever.url == server.url
    retriever.payload = lambda queries, topk: {"queries": list(queries), "topk": topk, "return_scores": False}
    (result,) = retriever.simulate([request("Beta Corp founder", topk=2)])
    assert result.documents[0].startswith('"Beta Corp"') and result.extra["scores"] == (None, None)


def test_http_retries_then_succeeds(servers):
    server = servers(failures=1)
    (result,) = HTTPRetriever(server.url, retries=2, backoff_s=0.0).simulate([request("Beta Corp")])
    assert result.documents and len(server.bodies) == 2


def test_http_errors_are_typed_and_name_the_url_and_the_fix(servers):
    def fault(retriever):
        (result,) = retriever.simulate([request("acme")])
        assert result.failed and result.documents == ()
        return result.error

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/retrieve"
    error = fault(HTTPRetriever(dead, retries=1, backoff_s=0.0))
    assert error.kind == "connection" and error.attempts == 2
    assert re.search(rf"{dead} unreachable.*retrieval_server\.py", error.message)

    busy = servers(failures=10)
    error = fault(HTTPRetriever(busy.url, retries=2, backoff_s=0.0))
    assert error.kind == "http" and error.attempts == 3 and "HTTP 503" in error.message

    garbage = servers(garbage=True)
    error = fault(HTTPRetriever(garbage.url, retries=3, backoff_s=0.0))
    assert error.kind == "protocol" and "not a /retrieve answer" in error.message and len(garbage.bodies) == 1  # not retried

    wrong_path = servers()
    error = fault(HTTPRetriever(wrong_path.url.replace("/retrieve", "/search"), retries=3, backoff_s=0.0))
    assert "HTTP 404" in error.message and len(wrong_path.bodies) == 1  # a 404 is not retried


def test_http_retriever_pickles_and_checks_arguments(servers):
    server = servers()
    clone = pickle.loads(pickle.dumps(HTTPRetriever(server.url, retries=0)))
    assert clone.simulate([request("Beta Corp")])[0].documents
    with pytest.raises(ConfigError, match="http"):
        HTTPRetriever("localhost:8000")
    with pytest.raises(ConfigError, match="batch_size"):
        HTTPRetriever(server.url, batch_size=0)
