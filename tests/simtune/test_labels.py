"""labels: searches read from a hand-written trajectories file, the outcome and presence
labellers, the report's balance and warnings, and the exact bytes of an example."""

from __future__ import annotations

import json

import pytest

from zerosearch_env.errors import ConfigError, DatasetError
from zerosearch_env.simtune import SimExample, read_examples
from zerosearch_env.simtune.label_report import LabellerCounts
from zerosearch_env.simtune.labels import REPORT, LabelConfig, label_files, label_outcome, label_presence, read_searches

FOUNDER = ["Jane Doe founded Acme in 1901.", "Acme is a company."]
SOAP = ["Acme makes soap."]
OHIO = ["Acme is in Ohio."]

# Three episodes, written out of row order (as a resumed run appends them): row 0 right,
# row 2 half right (F1 0.5, cover-EM 1) with the answer in its documents, row 1 wrong
# after one search without the answer, one failed search and one empty one.
EPISODES = [
    {
        "index": 0, "data_source": "toy", "question": "Who founded Acme?", "golden_answers": ["Jane Doe"], "f1": 1.0, "em": 1.0, "cover_em": 1.0,
        "turns": [
            {"action": "...", "kind": "search", "query": "Acme founder", "documents": FOUNDER, "doc_quality": "useful"},
            {"action": "...", "kind": "answer", "answer": "Jane Doe"},
        ],
    },
    {
        "index": 2, "data_source": "toy", "question": "Where is Acme?", "golden_answers": ["Ohio"], "f1": 0.5, "em": 0.0, "cover_em": 1.0,
        "turns": [
            {"action": "...", "kind": "search", "query": "Acme location", "documents": OHIO, "doc_quality": "useful"},
            {"action": "...", "kind": "answer", "answer": "Ohio state"},
        ],
    },
    {
        "index": 1, "data_source": "toy", "question": "When was Acme founded?", "golden_answers": ["1901", "in 1901"], "f1": 0.0, "em": 0.0, "cover_em": 0.0,
        "turns": [
            {"action": "...", "kind": "search", "query": "Acme products", "documents": SOAP, "doc_quality": "useful"},
            {"action": "...", "kind": "search", "query": "Acme year", "documents": [], "doc_quality": "useful", "sim_error": "timeout: slow"},
            {"action": "...", "kind": "invalid"},
            {"action": "...", "kind": "search", "query": "Acme history", "documents": [], "doc_quality": "useful"},
            {"action": "...", "kind": "answer", "answer": "1902"},
        ],
    },
]  # fmt: skip


@pytest.fixture
def trajectories(tmp_path):
    path = tmp_path / "run" / "trajectories.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(e) + "\n" for e in EPISODES))
    return path


def test_every_search_with_documents_is_read_in_row_order_and_the_rest_counted(trajectories):
    read = read_searches([trajectories])
    assert read.episodes == 3 and read.failed == 1 and read.empty == 1
    assert [(s.query, s.documents, s.source) for s in read.searches] == [
        ("Acme founder", tuple(FOUNDER), f"{trajectories}:1:1"),
        ("Acme products", tuple(SOAP), f"{trajectories}:3:1"),
        ("Acme location", tuple(OHIO), f"{trajectories}:2:1"),
    ]
    assert read.searches[1].golden_answers == ("1901", "in 1901")
    assert read_searches([trajectories.parent]).searches == read.searches  # a folder is searched for the file


def test_outcome_follows_the_episode_score_and_its_threshold_and_presence_the_documents(trajectories):
    searches = read_searches([trajectories]).searches
    assert label_outcome(searches) == ["useful", "noisy", "noisy"]
    assert label_outcome(searches, "cover_em", 1.0) == ["useful", "noisy", "useful"]
    assert label_outcome(searches, "f1", 0.5) == ["useful", "noisy", "useful"]
    assert label_presence(searches) == ["useful", "noisy", "useful"]
    with pytest.raises(ConfigError, match="metric expects"):
        label_outcome(searches, "bleu")


def test_label_files_writes_the_exact_examples_and_the_report(trajectories, tmp_path):
    out = tmp_path / "labels" / "examples.jsonl"
    result = label_files([trajectories], out)
    assert read_examples(out) == result.examples == [
        SimExample("Acme founder", "Who founded Acme?", ("Jane Doe",), "useful", tuple(FOUNDER), "outcome", f"{trajectories}:1:1"),
        SimExample("Acme products", "When was Acme founded?", ("1901", "in 1901"), "noisy", tuple(SOAP), "outcome", f"{trajectories}:3:1"),
        SimExample("Acme location", "Where is Acme?", ("Ohio",), "noisy", tuple(OHIO), "outcome", f"{trajectories}:2:1"),
    ]  # fmt: skip
    report = json.loads((out.parent / REPORT).read_text())
    assert report["labeller"] == "outcome" and report["searches"] == 3 and report["episodes"] == 3
    assert report["skipped"] == {"failed": 1, "empty": 1}
    assert report["examples"] == {"useful": 1, "noisy": 2}
    outcome, presence = report["labellers"]["outcome"], report["labellers"]["presence"]
    assert (outcome["useful"], outcome["noisy"], outcome["noisy_with_answer"], outcome["useful_without_answer"]) == (1, 2, 1, 0)
    assert outcome["noisy_with_answer_share"] == 0.5 and outcome["useful_without_answer_share"] == 0.0
    assert (presence["useful"], presence["noisy"], presence["noisy_with_answer_share"]) == (2, 1, 0.0)
    assert "judge" not in report["labellers"]  # only asked for, never run for free
    assert report["by_source"] == {"toy": {"useful": 1, "noisy": 2}}


def test_presence_labels_are_written_when_asked(trajectories, tmp_path):
    result = label_files([trajectories], tmp_path / "p.jsonl", LabelConfig(labeller="presence"))
    assert [(e.query, e.quality, e.label) for e in result.examples] == [
        ("Acme founder", "useful", "presence"), ("Acme products", "noisy", "presence"), ("Acme location", "useful", "presence"),
    ]  # fmt: skip


def test_the_example_is_the_released_chat_byte_for_byte(trajectories, tmp_path):
    useful, noisy, _ = label_files([trajectories], tmp_path / "e.jsonl").examples
    line = json.loads((tmp_path / "e.jsonl").read_text().splitlines()[0])
    assert line["prompt"] == [
        {"role": "system", "content": ""},
        {
            "role": "user",
            "content": "You are the Google search engine.\n"
            "Given a query, you need to generate five useful documents for the query.\n\n"
            'The user is trying to answer the question: "Who founded Acme?" whose answer is Jane Doe.\n'
            "Each document should contain about 30 words, and these documents should contain useful information.\n\n"
            "Query: Acme founder\nUseful Output:\n",
        },
    ]
    assert line["completion"] == [{"role": "assistant", "content": "Doc 1: Jane Doe founded Acme in 1901.\nDoc 2: Acme is a company."}]
    assert noisy.prompt == (
        "You are the Google search engine.\n"
        "Given a query, you need to generate five noisy documents for the query.\n\n"
        'The user is trying to answer the question: "When was Acme founded?" whose answer is 1901.\n'
        "Each document should contain about 30 words, and these documents should contain noisy information.\n\n"
        "Query: Acme products\nNoisy Output:\n"
    )
    assert useful.prompt.endswith("Useful Output:\n") and noisy.prompt.endswith("Noisy Output:\n")


def _episode(index: int, f1: float, documents: list[str]) -> dict:
    search = {"action": "...", "kind": "search", "query": f"q{index}", "documents": documents, "doc_quality": "useful"}
    return {"index": index, "question": f"Q{index}?", "golden_answers": ["Zorvan"], "f1": f1, "em": f1, "cover_em": f1, "turns": [search]}


def _write(path, episodes):
    path.write_text("".join(json.dumps(e) + "\n" for e in episodes))
    return path


def test_a_perfect_agent_yields_no_negatives_and_the_report_says_what_to_do(tmp_path):
    episodes = [_episode(i, 1.0, ["Zorvan is the answer."] if i % 2 else ["Nothing here."]) for i in range(10)]
    report = label_files([_write(tmp_path / "t.jsonl", episodes)], tmp_path / "e.jsonl").report
    assert report.examples == {"useful": 10, "noisy": 0}
    text = " ".join(report.warnings)
    assert "a perfect agent yields no negatives" in text and "--labeller presence (it finds 5 noisy here)" in text
    assert "--noisy-share 0.5" in text
    assert "50.0% of the 'useful' document sets hold no golden answer" in text
    assert "no noisy searches" in report.summary()


def test_a_weak_agent_yields_noisy_sets_with_the_answer_and_the_report_says_so(tmp_path):
    episodes = [_episode(i, 0.0 if i < 6 else 1.0, ["Zorvan is the answer."]) for i in range(10)]
    report = label_files([_write(tmp_path / "t.jsonl", episodes)], tmp_path / "e.jsonl").report
    assert report.labellers["outcome"].noisy_with_answer_share == 1.0
    assert any("100.0% of the 'noisy' document sets hold a golden answer" in w and "weak agent" in w for w in report.warnings)
    assert not any("no noisy searches" in w for w in report.warnings)


def test_a_lopsided_balance_suggests_mixing_and_presence_labels_raise_no_disagreement(tmp_path):
    episodes = [_episode(i, 1.0, ["Zorvan is the answer."] if i else ["Nothing here."]) for i in range(10)]
    path = _write(tmp_path / "t.jsonl", episodes)
    report = label_files([path], tmp_path / "e.jsonl", LabelConfig(labeller="presence")).report
    assert report.examples == {"useful": 9, "noisy": 1}
    assert report.warnings == [
        ("the examples are 10.0% noisy, far from even: the reference curriculum ends at 50% noisy searches. Mix noisy examples in with --noisy-share 0.5.")
    ]
    assert "presence" in report.summary() and "10.0% noisy" in report.summary()
    assert report.by_source == {"": {"useful": 9, "noisy": 1}}


def test_counts_shares_are_none_without_examples_of_that_quality():
    assert LabellerCounts(useful=0, noisy=3, noisy_with_answer=1).useful_without_answer_share is None
    assert LabellerCounts(useful=0, noisy=4, noisy_with_answer=1).noisy_with_answer_share == 0.25


def test_bad_inputs_are_refused_with_the_place(tmp_path):
    with pytest.raises(ConfigError, match="labeller expects"):
        LabelConfig(labeller="vibes")
    with pytest.raises(ConfigError, match="noisy_share"):
        LabelConfig(noisy_share=1.0)
    with pytest.raises(DatasetError, match="does not exist"):
        read_searches([tmp_path / "missing.jsonl"])
    with pytest.raises(DatasetError, match=r"holds no trajectories\.jsonl"):
        read_searches([tmp_path])
    (tmp_path / "bad.jsonl").write_text('{"question": "Q?"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:1 is not an episode"):
        read_searches([tmp_path / "bad.jsonl"])


def test_label_never_writes_over_its_input_nor_an_existing_file_unasked(trajectories, tmp_path):
    before = trajectories.read_bytes()
    with pytest.raises(ConfigError, match="one of the trajectories files"):
        label_files([trajectories], trajectories)
    assert trajectories.read_bytes() == before
    out = tmp_path / "examples.jsonl"
    label_files([trajectories], out)
    with pytest.raises(ConfigError, match=r"exists already.*--overwrite"):
        label_files([trajectories], out)
    assert label_files([trajectories], out, overwrite=True).path == out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"f1": "abc"}, "scores expect numbers"),
        ({"index": "nq_17"}, "'index' expects the row's int index"),
        ({"index": None}, "'index' expects the row's int index"),
        ({"turns": [{"kind": "search", "query": "q", "documents": "one long string"}]}, "'documents' expects a list of strings"),
    ],
)
def test_a_malformed_episode_is_a_dataset_error_naming_the_line(tmp_path, change, message):
    path = tmp_path / "trajectories.jsonl"
    path.write_text(json.dumps(EPISODES[0]) + "\n" + json.dumps({**EPISODES[1], **change}) + "\n")
    with pytest.raises(DatasetError, match=rf"trajectories.jsonl:2.*{message}"):
        read_searches([path])
