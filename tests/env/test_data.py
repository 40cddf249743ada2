"""Tests for zerosearch_env.data: every source format, the split rules, and the error messages."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from zerosearch_env.data import load_corpus, load_questions
from zerosearch_env.errors import DatasetError, MissingDependencyError
from zerosearch_env.protocol import build_policy_prompt
from zerosearch_env.records import CorpusDoc, Passage, QARow


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def search_r1_row(i: int, question: str, answers: list[str], split: str = "test") -> dict:
    """One row in the ZeroSearch / Search-R1 parquet layout."""
    return {
        "id": f"{split}_{i}",
        "question": question,
        "golden_answers": answers,
        "data_source": "nq",
        "prompt": [{"role": "user", "content": build_policy_prompt(question)}],
        "ability": "fact-reasoning",
        "reward_model": {"style": "rule", "ground_truth": {"target": answers}},
        "extra_info": {"index": i, "split": split},
    }


# ------------------------------------------------------------------ the real parquet


@pytest.fixture
def shared_parquet(shared_data: Path) -> Path:
    return shared_data / "nq_search_test_200.parquet"


@pytest.fixture
def shared_table(shared_parquet: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(shared_parquet).to_pylist()


@pytest.fixture
def shared_rows(shared_parquet: Path) -> list[QARow]:
    return load_questions(shared_parquet)


class TestSharedParquet:
    def test_all_rows_load(self, shared_rows: list[QARow]) -> None:
        assert len(shared_rows) == 200
        assert all(r.question and r.golden_answers and r.prompt for r in shared_rows)
        assert all(isinstance(r.id, str) and isinstance(r.golden_answers, tuple) for r in shared_rows)
        assert all(isinstance(a, str) for r in shared_rows for a in r.golden_answers)
        assert {r.data_source for r in shared_rows} == {"nq"}
        assert {r.split for r in shared_rows} == {"test"}
        assert shared_rows[0] == QARow(
            question="who got the first nobel prize in physics?",
            golden_answers=("Wilhelm Conrad Röntgen",),
            id="test_0",
            data_source="nq",
            prompt=build_policy_prompt("who got the first nobel prize in physics?"),
            split="test",
        )

    def test_prompts_match_the_spec_template_byte_for_byte(self, shared_rows: list[QARow]) -> None:
        assert all(r.prompt == build_policy_prompt(r.question) for r in shared_rows)

    def test_golden_answers_and_prompts_equal_the_stored_columns(self, shared_rows: list[QARow], shared_table: list[dict]) -> None:
        for row, raw in zip(shared_rows, shared_table):
            assert row.golden_answers == tuple(raw["golden_answers"])
            assert row.golden_answers == tuple(raw["reward_model"]["ground_truth"]["target"])
            assert row.prompt == raw["prompt"][0]["content"]

    def test_split_filter(self, shared_parquet: Path) -> None:
        assert len(load_questions(shared_parquet, split="test")) == 200
        with pytest.raises(DatasetError, match=r"no rows of split 'train'.*\['test'\]"):
            load_questions(shared_parquet, split="train")


# ------------------------------------------------------------------ parquet


def test_parquet_falls_back_to_reward_model_targets(tmp_path: Path) -> None:
    raw = search_r1_row(0, "Who wrote Hamlet?", ["William Shakespeare", "Shakespeare"])
    del raw["golden_answers"]
    rows = load_questions(write_parquet(tmp_path / "t.parquet", [raw]))
    assert rows[0].golden_answers == ("William Shakespeare", "Shakespeare")


def test_parquet_split_selects_rows(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "mixed.parquet",
        [search_r1_row(0, "q0?", ["a"], "train"), search_r1_row(1, "q1?", ["b"], "test")],
    )
    assert [r.id for r in load_questions(path, split="test")] == ["test_1"]
    assert len(load_questions(path)) == 2


# ------------------------------------------------------------------ jsonl


def test_jsonl_aliases_and_defaults(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "nq.jsonl",
        [
            {"id": "a", "question": " Who? ", "golden_answers": ["x", "y"], "data_source": "nq"},
            {"id": 7, "question": "What?", "answers": ["z"]},
            {"question": "When?", "answer": "1969"},
            {"question": "How many?", "answer": 3, "prompt": "custom prompt"},
        ],
    )
    rows = load_questions(path)
    assert [r.golden_answers for r in rows] == [("x", "y"), ("z",), ("1969",), ("3",)]
    assert [r.id for r in rows] == ["a", "7", "nq-2", "nq-3"]
    assert rows[0].question == "Who?"
    assert [r.data_source for r in rows] == ["nq", "unknown", "unknown", "unknown"]
    assert rows[3].prompt == "custom prompt" and rows[0].prompt is None
    assert all(r.split is None for r in rows)


def test_rl_framework_rows_without_a_question_column(tmp_path: Path) -> None:
    """Rows made for RL frameworks: the question in extra_info or only in the prompt, the
    answers in SkyRL's reward_spec."""
    path = write_jsonl(
        tmp_path / "rl.jsonl",
        [
            {"prompt": [{"role": "user", "content": build_policy_prompt("Who wrote Hamlet?")}], "reward_spec": {"ground_truth": {"target": ["Shakespeare"]}}},
            {"extra_info": {"question": "When?"}, "reward_model": {"ground_truth": {"target": "1603"}}},
        ],
    )
    rows = load_questions(path)
    assert [(r.question, r.golden_answers) for r in rows] == [("Who wrote Hamlet?", ("Shakespeare",)), ("When?", ("1603",))]


def test_split_is_ignored_when_rows_carry_none(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dev.jsonl", [{"question": "q", "golden_answers": ["a"]}])
    assert len(load_questions(path, split="whatever")) == 1


def test_jsonl_blank_lines_are_skipped_and_rows_numbered_by_line(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"question": "q", "golden_answers": ["a"]}\n\n{"question": "r"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"gaps\.jsonl row 2: missing field 'golden_answers'"):
        load_questions(path)


# ------------------------------------------------------------------ json (HotpotQA and FlashRAG lists)


HOTPOT_ROW = {
    "_id": "5a8b57f25542995d1e6f1371",
    "question": "Were Scott Derrickson and Ed Wood of the same nationality?",
    "answer": "yes",
    "type": "comparison",
    "level": "hard",
    "supporting_facts": [["Scott Derrickson", 0], ["Ed Wood", 0]],
    "context": [
        ["Ed Wood (film)", ["Ed Wood is a 1994 film.", " It stars Johnny Depp."]],
        ["Scott Derrickson", ["Scott Derrickson is an American director."]],
        ["Ed Wood", ["Edward Davis Wood Jr. was an American filmmaker.", " He died in 1978."]],
    ],
}


def test_hotpotqa_json(tmp_path: Path) -> None:
    path = tmp_path / "hotpot_dev_distractor.json"
    path.write_text(json.dumps([HOTPOT_ROW]), encoding="utf-8")
    (row,) = load_questions(path)
    assert row.id == "5a8b57f25542995d1e6f1371"
    assert row.golden_answers == ("yes",)
    assert row.data_source == "hotpotqa"
    assert row.context == (
        Passage("Ed Wood (film)", "Ed Wood is a 1994 film. It stars Johnny Depp.", supporting=False),
        Passage("Scott Derrickson", "Scott Derrickson is an American director.", supporting=True),
        Passage("Ed Wood", "Edward Davis Wood Jr. was an American filmmaker. He died in 1978.", supporting=True),
    )


def test_json_list_of_flashrag_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"id": "1", "question": "q", "golden_answers": ["a"]}]), encoding="utf-8")
    (row,) = load_questions(path)
    assert (row.id, row.golden_answers, row.data_source, row.context) == ("1", ("a",), "unknown", ())


def test_json_that_is_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    path.write_text(json.dumps({"data": []}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"obj\.json.*expected a JSON list"):
        load_questions(path)


# ------------------------------------------------------------------ directories


def test_directory_single_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "nq" / "test.jsonl", [{"question": "q", "golden_answers": ["a"]}])
    (row,) = load_questions(tmp_path / "nq")
    assert (row.split, row.data_source, row.id) == ("test", "nq", "test-0")
    assert load_questions(tmp_path / "nq", split="test") == [row]


def test_directory_with_several_splits_needs_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "nq" / "train.jsonl", [{"question": "t", "golden_answers": ["a"]}])
    write_parquet(tmp_path / "nq" / "test.parquet", [search_r1_row(0, "q?", ["b"])])
    with pytest.raises(DatasetError, match=r"several splits \['test', 'train'\].*split="):
        load_questions(tmp_path / "nq")
    with pytest.raises(DatasetError, match=r"no split 'dev'; available splits: \['test', 'train'\]"):
        load_questions(tmp_path / "nq", split="dev")
    assert [r.question for r in load_questions(tmp_path / "nq", split="train")] == ["t"]
    assert [r.data_source for r in load_questions(tmp_path / "nq", split="test")] == ["nq"]


def test_directory_of_benchmarks(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "nq" / "test.jsonl", [{"question": "n", "golden_answers": ["a"]}])
    write_jsonl(tmp_path / "nq" / "train.jsonl", [{"question": "nt", "golden_answers": ["a"]}])
    write_jsonl(
        tmp_path / "triviaqa" / "test.jsonl",
        [{"question": "t", "golden_answers": ["b"], "data_source": "tqa"}, {"question": "u", "answers": ["c"]}],
    )
    write_jsonl(tmp_path / "hotpotqa" / "dev.jsonl", [{"question": "h", "golden_answers": ["d"]}])
    (tmp_path / "empty_folder").mkdir()
    rows = load_questions(tmp_path, split="test")  # hotpotqa has no test split and is skipped
    assert [(r.question, r.data_source, r.split) for r in rows] == [
        ("n", "nq", "test"),
        ("t", "tqa", "test"),
        ("u", "triviaqa", "test"),
    ]
    with pytest.raises(DatasetError, match=r"no benchmark .* has split 'validation'"):
        load_questions(tmp_path, split="validation")


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no <split>\.jsonl"):
        load_questions(tmp_path)


# ------------------------------------------------------------------ in-memory rows


def test_list_of_dicts() -> None:
    rows = load_questions([{"question": "q", "golden_answers": ("a",)}, {"question": "r", "answer": "b"}])
    assert [(r.id, r.golden_answers) for r in rows] == [("list-0", ("a",)), ("list-1", ("b",))]


def test_list_of_qarows_is_returned_as_is() -> None:
    given = [QARow("q", ("a",), id="x"), QARow("r", ("b",), id="y")]
    rows = load_questions(given)
    assert rows == given and all(a is b for a, b in zip(rows, given))


def test_numpy_answers_and_chat_prompt_in_dicts() -> None:
    np = pytest.importorskip("numpy")
    raw = {
        "question": "q",
        "golden_answers": np.array(["a", "b"], dtype=object),
        "prompt": np.array([{"role": "user", "content": "P"}], dtype=object),
        "extra_info": {"index": 0, "split": "train"},
    }
    (row,) = load_questions([raw])
    assert row.golden_answers == ("a", "b") and row.prompt == "P" and row.split == "train"


def test_bad_list_item() -> None:
    with pytest.raises(DatasetError, match=r"<list> row 1: expected a dict or QARow, got int"):
        load_questions([{"question": "q", "answer": "a"}, 5])


def test_unsupported_source_type() -> None:
    with pytest.raises(DatasetError, match="got int"):
        load_questions(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------ malformed rows


@pytest.mark.parametrize(
    ("bad_row", "field"),
    [
        ({"id": "x", "golden_answers": ["a"]}, "'question'"),
        ({"question": "   ", "golden_answers": ["a"]}, "'question'"),
        ({"question": "q"}, "'golden_answers'"),
        ({"question": "q", "golden_answers": []}, "'golden_answers'"),
        ({"question": "q", "golden_answers": ["a", ""]}, "'golden_answers'"),
        ({"question": "q", "answers": {"a": 1}}, "'answers'"),
        ({"question": "q", "answer": "a", "prompt": [{"role": "system", "content": "s"}]}, "'prompt'"),
        ({"question": "q", "answer": "a", "context": [["title only"]]}, "'context'"),
    ],
)
def test_malformed_jsonl_row(tmp_path: Path, bad_row: dict, field: str) -> None:
    good = {"question": "fine", "golden_answers": ["ok"]}
    path = write_jsonl(tmp_path / "nq.jsonl", [good] * 17 + [bad_row])
    with pytest.raises(DatasetError) as info:
        load_questions(path)
    message = str(info.value)
    assert "nq.jsonl row 17:" in message and field in message


def test_missing_question_message_lists_expected_keys(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "nq.jsonl", [{"golden_answers": ["a"]}])
    with pytest.raises(DatasetError, match=r"nq\.jsonl row 0: missing field 'question' \(expected keys: question, golden_answers"):
        load_questions(path)


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n{not json\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"broken\.jsonl row 1: invalid JSON"):
        load_questions(path)


def test_malformed_parquet_row(tmp_path: Path) -> None:
    rows = [search_r1_row(0, "q?", ["a"]), search_r1_row(1, "", ["b"])]
    path = write_parquet(tmp_path / "bad.parquet", rows)
    with pytest.raises(DatasetError, match=r"bad\.parquet row 1: field 'question'"):
        load_questions(path)


def test_malformed_list_row() -> None:
    with pytest.raises(DatasetError, match=r"<list> row 0: missing field 'question'"):
        load_questions([{"answer": "a"}])


# ------------------------------------------------------------------ missing paths, hub ids, synthetic


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(DatasetError, match=r"nowhere\.jsonl.*does not exist"):
        load_questions(missing)
    with pytest.raises(DatasetError, match="does not exist"):
        load_questions("data/nowhere.parquet")  # looks like owner/name but has a data suffix


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("question,answer\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"\.parquet, \.jsonl or \.json"):
        load_questions(path)


def test_hub_id_without_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(MissingDependencyError, match="pip install datasets") as info:
        load_questions("sunhaonlp/ZeroSearch_dataset")
    assert "hf download" in str(info.value)


def test_hub_id_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def load_dataset(name: str, split: str) -> list[dict]:
        raise ConnectionError("offline")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(DatasetError, match=r"'owner/name'.*offline.*hf download") as info:
        load_questions("owner/name", split="test")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_hub_id_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def load_dataset(name: str, split: str) -> list[dict]:
        calls.append((name, split))
        return [{"question": "q", "golden_answers": ["a"], "data_source": "nq"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    (row,) = load_questions("owner/name")
    assert calls == [("owner/name", "train")]
    assert (row.question, row.golden_answers, row.split, row.data_source) == ("q", ("a",), "train", "nq")


@pytest.mark.skipif(
    importlib.util.find_spec("zerosearch_env.worlds.synthetic") is None,
    reason="zerosearch_env.worlds.synthetic is not written yet",
)
def test_synthetic() -> None:
    rows = load_questions("synthetic")
    assert rows and all(isinstance(r, QARow) and r.golden_answers for r in rows)


# ------------------------------------------------------------------ corpus


def test_load_corpus_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "wiki.jsonl",
        [
            {"id": "0", "contents": '"Paris"\nParis is the capital of France.'},
            {"id": 1, "title": "Seine", "text": "The Seine flows through Paris."},
            {"text": "No title here."},
        ],
    )
    assert load_corpus(path) == [
        CorpusDoc("0", '"Paris"\nParis is the capital of France.'),
        CorpusDoc("1", '"Seine"\nThe Seine flows through Paris.'),
        CorpusDoc("wiki-2", "No title here."),
    ]


def test_load_corpus_parquet(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "c.parquet", [{"id": "a", "contents": "x"}, {"id": "b", "contents": "y"}])
    assert load_corpus(path) == [CorpusDoc("a", "x"), CorpusDoc("b", "y")]


def test_load_corpus_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "wiki.jsonl", [{"id": "0", "contents": "ok"}, {"id": "1", "title": "t"}])
    with pytest.raises(DatasetError, match=r"wiki\.jsonl row 1: missing field 'contents'"):
        load_corpus(path)
    bad_type = write_jsonl(tmp_path / "typed.jsonl", [{"id": "0", "contents": 5}])
    with pytest.raises(DatasetError, match=r"typed\.jsonl row 0: field 'contents'"):
        load_corpus(bad_type)
    with pytest.raises(DatasetError, match="does not exist"):
        load_corpus(tmp_path / "none.jsonl")
