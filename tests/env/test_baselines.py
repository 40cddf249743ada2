"""The scripted agent: well-formed actions, bounded turns, and a clear useful/noisy gap.

Retrieval here is a local BM25 helper with the corpus simulator's behaviour (useful:
answer-bearing hits first; noisy: answer-bearing hits removed), so these tests do not
depend on zerosearch_env.simulators.corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from zerosearch_env.baselines import COMPANY_SUFFIXES, ScriptedAgent, plan_question, titled_documents
from zerosearch_env.errors import ConfigError
from zerosearch_env.protocol import build_policy_prompt, format_documents, format_information, parse_action
from zerosearch_env.records import QARow
from zerosearch_env.reward import f1_score, normalize_answer
from zerosearch_env.worlds import synthetic
from zerosearch_env.worlds.synthetic import SyntheticWorld, make_world

N_QUESTIONS = 150
_WELL_FORMED = re.compile(r"^<think>[^<>]+</think>\n<(search|answer)> [^<>]+ </\1>$")


class LocalRetrieval:
    """BM25 over the world's documents with useful/noisy selection by golden answers."""

    def __init__(self, world: SyntheticWorld, *, candidates: int = 50, topk: int = 5):
        import bm25s

        self.contents = [d.contents for d in world.documents]
        self.padded = [f" {normalize_answer(c)} " for c in self.contents]
        self.candidates, self.topk = candidates, topk
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(self.contents, stopwords="en", show_progress=False), show_progress=False)

    def __call__(self, query: str, golden: tuple[str, ...], quality: str) -> str:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        hits, scores = self.bm25.retrieve(tokens, k=self.candidates, show_progress=False)
        found = [int(h) for h, s in zip(hits[0], scores[0]) if s > 0]
        answers = [f" {normalize_answer(g)} " for g in golden if normalize_answer(g)]
        bearing = {h for h in found if any(a in self.padded[h] for a in answers)}
        if quality == "useful":
            ranked = [h for h in found if h in bearing] + [h for h in found if h not in bearing]
        else:
            ranked = [h for h in found if h not in bearing]
        return format_information(format_documents([self.contents[h] for h in ranked[: self.topk]]))


Search = Callable[[str, tuple, str], str]


def play(agent: ScriptedAgent, row: QARow, search: Search, quality: str) -> tuple[str | None, list[str]]:
    """One episode: returns (answer or None, actions). Stops after max_searches + 2 turns."""
    agent.reset()
    observation, actions = build_policy_prompt(row.question), []
    for _ in range(agent.max_searches + 2):
        action = agent.act(observation)
        actions.append(action)
        parsed = parse_action(action)
        if parsed.kind == "answer":
            return parsed.content, actions
        assert parsed.kind == "search", action
        observation = search(parsed.content, row.golden_answers, quality)
    return None, actions


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return make_world(seed=0)


@pytest.fixture(scope="module")
def search(world: SyntheticWorld) -> LocalRetrieval:
    return LocalRetrieval(world)


@pytest.fixture(scope="module")
def rows(world: SyntheticWorld) -> list[QARow]:
    return world.questions("test")[:N_QUESTIONS]


@pytest.fixture(scope="module")
def scores(rows: list[QARow], search: LocalRetrieval) -> dict[str, list[float]]:
    agent = ScriptedAgent()
    return {quality: [f1_score(play(agent, row, search, quality)[0], row.golden_answers) for row in rows] for quality in ("useful", "noisy")}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_useful_retrieval_is_answered(rows: list[QARow], scores: dict[str, list[float]]) -> None:
    assert len(rows) >= 50
    assert {r.data_source for r in rows} == set(synthetic.DATA_SOURCES)
    assert _mean(scores["useful"]) >= 0.6


def test_noisy_retrieval_is_clearly_worse(scores: dict[str, list[float]]) -> None:
    assert _mean(scores["noisy"]) <= _mean(scores["useful"]) - 0.2


@pytest.mark.parametrize("source", synthetic.DATA_SOURCES)
def test_every_question_style_is_handled(rows: list[QARow], scores: dict[str, list[float]], source: str) -> None:
    useful = [s for s, r in zip(scores["useful"], rows) if r.data_source == source]
    assert useful and _mean(useful) >= 0.6


@pytest.mark.parametrize("max_searches", [0, 1, 3])
@pytest.mark.parametrize("quality", ["useful", "noisy"])
def test_actions_are_well_formed_and_bounded(rows: list[QARow], search: LocalRetrieval, max_searches: int, quality: str) -> None:
    agent = ScriptedAgent(max_searches=max_searches)
    for row in rows[:40]:
        answer, actions = play(agent, row, search, quality)
        assert answer, actions
        assert len(actions) <= max_searches + 1
        assert all(_WELL_FORMED.match(a) for a in actions), actions


def test_deterministic(rows: list[QARow], search: LocalRetrieval) -> None:
    for seed in (None, 7):
        first = [play(ScriptedAgent(seed=seed), row, search, "noisy")[1] for row in rows[:30]]
        again = [play(ScriptedAgent(seed=seed), row, search, "noisy")[1] for row in rows[:30]]
        assert first == again


def test_unknown_question_still_answers() -> None:
    agent = ScriptedAgent(max_searches=2)
    action = agent.act(build_policy_prompt("What is the meaning of life?"))
    assert parse_action(action).kind == "search"
    action = agent.act(format_information(format_documents(['"Deep Thought" The answer computed by Deep Thought is 42.'])))
    assert parse_action(action).kind == "answer"


def test_reset_is_implied_by_a_new_prompt() -> None:
    agent = ScriptedAgent()
    agent.act(build_policy_prompt("Who founded Karvex Mills?"))
    action = agent.act(build_policy_prompt("When was Lora Vestin born?"))
    assert parse_action(action).content == "Lora Vestin born year"


def test_invalid_feedback_does_not_crash() -> None:
    from zerosearch_env.protocol import INVALID_ACTION_FEEDBACK

    agent = ScriptedAgent(max_searches=1)
    agent.act(build_policy_prompt("Who founded Karvex Mills?"))
    assert parse_action(agent.act(INVALID_ACTION_FEEDBACK)).kind == "answer"


def test_plans() -> None:
    def steps(question: str) -> list[tuple[str, str | None]]:
        return [(lookup.relation, lookup.subject) for lookup in plan_question(question).lookups]

    assert steps("Who directed the film The Silent Varro?") == [("director", "The Silent Varro")]
    assert steps("In which country was Lora Vestin born?") == [("birth_city", "Lora Vestin"), ("country", None)]
    assert steps("What is the capital of the country where Dremor is located?") == [("country", "Dremor"), ("capital", None)]
    assert steps("Which river is longer, the Oskel River or the Vark River?") == [
        ("length_km", "Oskel River"),
        ("length_km", "Vark River"),
    ]
    assert plan_question("Which river is longer, the Oskel River or the Vark River?").compare == "max"
    assert steps("Why?") == [("unknown", "Why?")]


def test_every_world_question_has_a_plan(world: SyntheticWorld) -> None:
    assert all(plan_question(r.question).lookups[0].relation != "unknown" for r in world.questions())


def test_company_suffixes_match_the_world() -> None:
    assert frozenset(synthetic.COMPANY_SUFFIXES) == COMPANY_SUFFIXES


def test_titled_documents() -> None:
    obs = format_information(format_documents(['"A B"\nA B was born in 1900.', "untitled text"]))
    assert titled_documents(obs) == [("A B", "A B was born in 1900."), ("", "untitled text")]


@pytest.mark.parametrize("kwargs", [{"max_searches": -1}, {"max_searches": 1.5}, {"seed": "x"}])
def test_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="expects"):
        ScriptedAgent(**kwargs)
