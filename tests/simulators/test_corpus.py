import pytest

from zerosearch_env.errors import ConfigError, SimulatorError
from zerosearch_env.protocol import format_documents
from zerosearch_env.records import Passage
from zerosearch_env.simulators.base import SearchRequest
from zerosearch_env.simulators.corpus import ContextSimulator, CorpusSimulator
from zerosearch_env.simulators.registry import make_simulator

from .conftest import ANVIL_CORPUS

CORPUS = ANVIL_CORPUS


def request(quality, query="who founded the anvil company Acme", **kwargs):
    return SearchRequest(query=query, question="Who founded Acme?", golden_answers=("Jane Doe",), quality=quality, **kwargs)


@pytest.fixture(scope="module")
def sim():
    return CorpusSimulator(CORPUS)


def test_useful_ranks_answer_bearing_documents_first(sim):
    (result,) = sim.simulate([request("useful", topk=3)])
    assert len(result.documents) == 3
    assert all("Jane Doe" in doc for doc in result.documents[:2])
    assert result.documents[0].startswith('"')  # contents flattened to one line, title kept
    assert "\n" not in result.text.replace("\nDoc ", " Doc ")


def test_noisy_never_contains_an_answer_but_stays_on_topic(sim):
    (result,) = sim.simulate([request("noisy", topk=5)])
    assert result.documents, "noisy results should still return related documents"
    assert all("jane doe" not in doc.lower() for doc in result.documents)
    assert all("Gardening" not in doc for doc in result.documents)  # zero-score documents are not returned


def test_batch_keeps_order_and_each_request_its_own_answers(sim):
    other = SearchRequest(query="Beta Corp founder", question="Who founded Beta?", golden_answers=("Max Roe",), quality="noisy")
    results = sim.simulate([request("useful"), other, request("noisy")])
    assert "Jane Doe" in results[0].documents[0]
    assert all("Max Roe" not in d for d in results[1].documents)
    assert all("Jane Doe" not in d for d in results[2].documents)
    assert sim.simulate([]) == []


def test_empty_query_returns_no_documents(sim):
    (result,) = sim.simulate([request("useful", query="")])
    assert result.documents == () and result.text == ""


def test_text_matches_released_simulator_format(sim):
    (result,) = sim.simulate([request("useful", topk=2)])
    assert result.text == format_documents(result.documents)
    assert result.text.startswith("Doc 1: ") and "\nDoc 2: " in result.text


def test_empty_corpus_rejected():
    with pytest.raises(ConfigError, match="non-empty"):
        CorpusSimulator([])


CONTEXT = (
    Passage("Acme", "Acme was founded by Jane Doe.", supporting=True),
    Passage("Anvil", "Anvils are heavy blocks used by Acme rivals.", supporting=False),
    Passage("Trivia", "Jane Doe also liked tea.", supporting=False),  # distractor that holds the answer
    Passage("Beta", "Beta Corp makes anvils.", supporting=False),
)


def test_context_simulator_useful_and_noisy():
    sim = ContextSimulator()
    useful, noisy = sim.simulate([request("useful", context=CONTEXT), request("noisy", context=CONTEXT)])
    assert useful.documents[0] == '"Acme" Acme was founded by Jane Doe.'
    assert len(useful.documents) == 4
    assert all("Jane Doe" not in d for d in noisy.documents) and len(noisy.documents) == 2


def test_context_simulator_without_context_raises():
    with pytest.raises(SimulatorError, match="context"):
        ContextSimulator().simulate([request("useful")])


def sim_from_list_first_doc():
    return CorpusSimulator(CORPUS).simulate([request("useful")])[0].documents[0]


def test_make_simulator_corpus_sources(tmp_path):
    import json

    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": d.id, "contents": d.contents}) + "\n" for d in CORPUS))
    from_file = make_simulator("corpus", corpus=path)
    assert from_file.simulate([request("useful")])[0].documents[0] == sim_from_list_first_doc()
    with pytest.raises(Exception, match="does not exist"):
        make_simulator("corpus", corpus=tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="corpus="):
        make_simulator("corpus")
    assert isinstance(make_simulator("corpus", corpus=CORPUS), CorpusSimulator)
    from zerosearch_env.records import QARow

    rows = [QARow("q", ("a",), context=CONTEXT)]
    assert isinstance(make_simulator("corpus", rows=rows), ContextSimulator)
    with pytest.raises(ConfigError, match="sim_kwargs"):
        make_simulator("corpus", corpus=CORPUS, temperature=0.8)


def test_world_invariants_with_the_real_simulator():
    """On the built-in world, a good query (the question itself) gets the answer from a
    useful search, and a noisy search never returns it."""
    from zerosearch_env.reward import normalize_answer
    from zerosearch_env.simulators.registry import make_simulator
    from zerosearch_env.worlds.synthetic import make_world

    world = make_world()
    sim = make_simulator("corpus", world=world)
    rows = [r for r in world.questions("test") if r.data_source == "synthetic-single"][:150]

    def requests(quality):
        return [SearchRequest(r.question, r.question, r.golden_answers, quality) for r in rows]

    def holds_answer(result, row):
        text = f" {normalize_answer(result.text)} "
        return any(f" {normalize_answer(g)} " in text for g in row.golden_answers)

    useful = sim.simulate(requests("useful"))
    noisy = sim.simulate(requests("noisy"))
    assert sum(holds_answer(res, row) for res, row in zip(useful, rows)) / len(rows) >= 0.95
    assert not any(holds_answer(res, row) for res, row in zip(noisy, rows))
    assert all(res.documents for res in noisy)  # on-topic documents, just not the answer


def test_equal_scores_rank_in_corpus_order_on_every_platform():
    from zerosearch_env.simulators.corpus import CorpusSimulator

    docs = ["kestin mills harbour", "other words entirely", "kestin mills harbour", "kestin mills harbour", "mills"]
    sim = CorpusSimulator(docs)
    ranked = sim.ranked(["kestin mills harbour"], k=5)[0]
    assert ranked[:3] == [0, 2, 3]  # three identical documents: ties keep corpus order
    assert 1 not in ranked  # no shared word, no positive score
