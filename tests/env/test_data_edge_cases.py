"""Tests for zerosearch_env.data and zerosearch_env.row_fields on the files and fields that
real datasets get wrong: a byte-order mark, bytes that are not UTF-8, files without rows,
numpy scalars where Python values were expected, a data_source that is not one name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zerosearch_env.data import load_corpus, load_questions, resolve_dataset
from zerosearch_env.errors import DatasetError
from zerosearch_env.records import CorpusDoc


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_utf8_bom_at_the_start_of_a_file_is_not_part_of_the_data(tmp_path: Path) -> None:
    """Windows editors (Notepad, Excel's "UTF-8" export) start a file with a BOM."""
    bom = "\ufeff"
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_text(bom + '{"question": "q", "golden_answers": ["a"]}\n', encoding="utf-8")
    as_json = tmp_path / "bom.json"
    as_json.write_text(bom + '[{"question": "q", "golden_answers": ["a"]}]', encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(bom + '{"id": "0", "contents": "x"}\n', encoding="utf-8")
    assert [(r.question, r.golden_answers) for r in load_questions(jsonl)] == [("q", ("a",))]
    assert [(r.question, r.golden_answers) for r in load_questions(as_json)] == [("q", ("a",))]
    assert load_corpus(corpus) == [CorpusDoc("0", "x")]


def test_bytes_that_are_not_utf8_are_reported_with_the_file_and_the_row(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = b'{"question": "q", "golden_answers": ["a"]}\n'
    path.write_bytes(good * 3 + b"\n" + '{"question": "Qui a écrit Candide ?", "answer": "Voltaire"}\n'.encode("latin-1") + good)
    with pytest.raises(DatasetError, match=r"latin1\.jsonl row 4 \(line 5\): not valid UTF-8") as info:
        load_questions(path)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)
    with pytest.raises(DatasetError, match=r"latin1\.jsonl row 4 \(line 5\): not valid UTF-8"):
        load_corpus(path)


@pytest.mark.parametrize("name, content", [("empty.jsonl", ""), ("blank.jsonl", "\n  \n"), ("empty.json", "[]")])
def test_a_file_without_rows_is_an_error_that_names_it(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{re.escape(str(path))} holds no rows"):
        load_questions(path)


def test_a_parquet_file_without_rows_is_an_error_that_names_it(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "0", "question": "q?", "golden_answers": ["a"]}]).slice(0, 0), path)
    with pytest.raises(DatasetError, match=rf"{re.escape(str(path))} holds no rows"):
        load_questions(path)


def test_an_empty_file_is_named_before_the_environment_asks_for_a_split(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="holds no rows") as info:
        resolve_dataset(str(path), split=None)
    assert "check the split name" not in str(info.value)


def test_numpy_scalar_answers_count_as_their_python_value() -> None:
    np = pytest.importorskip("numpy")
    rows = load_questions(
        [
            {"question": "q0", "answer": np.int64(1969)},
            {"question": "q1", "golden_answers": [np.int32(3), "three"]},
            {"question": "q2", "golden_answers": [np.str_("Paris")]},
            {"question": "q3", "answer": 1969},  # what numpy answers must match
        ]
    )
    assert [r.golden_answers for r in rows] == [("1969",), ("3", "three"), ("Paris",), ("1969",)]
    for bad in (np.float64(3.5), np.bool_(True), 3.5, True):  # as Python floats and bools are: rejected
        with pytest.raises(DatasetError, match=r"<list> row 0: field 'answer'"):
            load_questions([{"question": "q", "answer": bad}])


@pytest.mark.parametrize("source", [["nq", "hotpotqa"], ("nq",), {"name": "nq"}, {"nq"}])
def test_a_data_source_that_is_not_one_name_is_rejected(source) -> None:
    good = {"question": "fine", "golden_answers": ["ok"], "data_source": "nq"}
    rows = [good] * 3 + [{"question": "q", "golden_answers": ["a"], "data_source": source}]
    with pytest.raises(DatasetError, match=rf"<list> row 3: field 'data_source' must be a string, got {type(source).__name__}"):
        load_questions(rows)


def test_a_list_valued_data_source_in_a_file_names_the_file_the_row_and_the_field(tmp_path: Path) -> None:
    good = {"question": "fine", "golden_answers": ["ok"], "data_source": "nq"}
    path = write_jsonl(tmp_path / "nq.jsonl", [good] * 3 + [{"question": "q", "answer": "a", "data_source": ["nq", "tqa"]}])
    with pytest.raises(DatasetError, match=r"nq\.jsonl row 3: field 'data_source' must be a string, got list"):
        load_questions(path)


def test_a_list_valued_id_is_rejected_in_questions_and_in_a_corpus(tmp_path: Path) -> None:
    from zerosearch_env.data import load_corpus

    with pytest.raises(DatasetError, match=r"<list> row 0: field 'id' must be a string, got list"):
        load_questions([{"question": "q", "golden_answers": ["a"], "id": ["1", "2"]}])
    path = write_jsonl(tmp_path / "corpus.jsonl", [{"id": "d0", "contents": "fine"}, {"id": {"x": 1}, "contents": "text"}])
    with pytest.raises(DatasetError, match=r"corpus\.jsonl row 1: field 'id' must be a string, got dict"):
        load_corpus(path)
    assert load_questions([{"question": "q", "golden_answers": ["a"], "id": 7}])[0].id == "7"  # a number is one name
