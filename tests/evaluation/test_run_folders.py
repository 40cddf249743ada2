"""Run folders: one writer at a time, inputs identified by their contents, and every
file read back with a typed error that names it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zerosearch_env.errors import ConfigError
from zerosearch_env.evaluation import EnvConfig, EvalConfig, ScriptedBatchAgent, run_eval
from zerosearch_env.evaluation.fidelity import FidelityConfig, run_fidelity
from zerosearch_env.evaluation.store import JsonlRecords, folder_lock, read_settings


def bm25(limit=4, dataset="synthetic", topk=1, **env):
    return EvalConfig(EnvConfig(sim="bm25", topk=topk, dataset=dataset, **env), limit=limit)


def test_a_second_run_on_a_folder_being_written_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "eval"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pathlib import Path; from zerosearch_env.evaluation.store import folder_lock\n"
         f"with folder_lock(Path({str(out)!r})):\n    print('held', flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"being written by another run \(pid {holder.pid}"):
            run_eval(ScriptedBatchAgent(), bm25(), out, progress=False)
        with pytest.raises(ConfigError, match=rf"pid {holder.pid}"):
            run_fidelity(["corpus"], FidelityConfig(topk=1, limit=2), out, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert len(run_eval(ScriptedBatchAgent(), bm25(), out, progress=False).records) == 4  # the dead holder's lock is gone


def test_the_lock_is_one_writer_in_one_process_too(tmp_path):
    with folder_lock(tmp_path), pytest.raises(ConfigError, match=r"another run \(pid"):
        run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False)
    run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False)  # released when the first is done


def test_two_evaluations_started_together_never_mix_their_records(tmp_path):
    out = tmp_path / "eval"
    code = (
        "import sys; from zerosearch_env.cli import main; "
        f"sys.exit(main(['eval', '--sim', 'bm25', '--topk', sys.argv[1], '--limit', '30', '--out', {str(out)!r}, '--no-progress']))"
    )
    runs = [subprocess.Popen([sys.executable, "-c", code, topk], stderr=subprocess.PIPE, text=True) for topk in ("1", "3")]
    codes = [run.wait(120) for run in runs]
    errors = [run.stderr.read() for run in runs]
    assert sorted(codes) in ([0, 0], [0, 2]), errors  # the second is refused, or starts after the first ended
    settings = read_settings(out / "eval_config.json")
    records = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    assert len(records) == 30
    sizes = {len(turn["documents"]) for r in records for turn in r["turns"] if "documents" in turn}
    assert sizes <= {settings["topk"]}


def test_a_resume_after_the_dataset_changed_in_place_is_refused(tmp_path):
    from zerosearch_env.cli import main

    assert main(["world", str(tmp_path / "w")]) == 0
    dataset = tmp_path / "w" / "test.jsonl"
    config = bm25(limit=6, dataset=str(dataset), corpus=str(tmp_path / "w" / "corpus.jsonl"))
    run_eval(ScriptedBatchAgent(), config, tmp_path / "eval", progress=False)
    rows = [json.loads(line) for line in dataset.read_text().splitlines()]
    rows[0]["golden_answers"] = ["someone else"]
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ConfigError, match="dataset_sha256"):
        run_eval(ScriptedBatchAgent(), config, tmp_path / "eval", progress=False)
    fidelity = FidelityConfig(topk=1, limit=2, dataset=str(dataset), corpus=str(tmp_path / "w" / "corpus.jsonl"))
    run_fidelity(["corpus"], fidelity, tmp_path / "fid", progress=False)
    dataset.write_text(dataset.read_text().replace("someone else", "a third answer"))
    with pytest.raises(ConfigError, match="dataset_sha256"):
        run_fidelity(["corpus"], fidelity, tmp_path / "fid", progress=False)


BAD_SETTINGS = {
    "truncated": b'{"agent": "scr',
    "empty": b"",
    "not utf-8": b'{"agent": "\xff\xfe"}',
    "a list": b"[1, 2]",
    "null": b"null",
}


@pytest.mark.parametrize("content", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_a_broken_settings_file_is_a_typed_error_naming_it(tmp_path, content):
    run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False)
    (tmp_path / "eval_config.json").write_bytes(content)
    with pytest.raises(ConfigError, match=r"eval_config\.json .*--overwrite"):
        run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False)


def test_a_settings_file_with_a_bom_is_read(tmp_path):
    run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False)
    path = tmp_path / "eval_config.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False).records) == 4


BAD_LINES = {
    "a list": b"[1, 2]\n",
    "a number": b"7\n",
    "no key": b'{"other": 1}\n',
    "a null key": b'{"index": null}\n',
    "not utf-8": b'{"index": "\xff"}\n',
}


@pytest.mark.parametrize("line", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_broken_record_line_is_a_typed_error_naming_the_file(tmp_path, line):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"index": 0}\n' + line)
    with pytest.raises(ConfigError, match=r"records\.jsonl"):
        JsonlRecords(path, key="index").load()


def test_settings_are_written_atomically(tmp_path, monkeypatch):
    """A run killed while it writes its settings leaves the old file whole: the new one
    is written aside and renamed over it (the rename is where this run is stopped)."""
    import zerosearch_env.evaluation.store as store

    run_eval(ScriptedBatchAgent(), bm25(), tmp_path, progress=False)
    before = (tmp_path / "eval_config.json").read_bytes()

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run_eval(ScriptedBatchAgent(), bm25(topk=3), tmp_path, overwrite=True, progress=False)  # other settings
    assert (tmp_path / "eval_config.json").read_bytes() == before
    assert read_settings(tmp_path / "eval_config.json")["sim"] == "bm25"


@pytest.mark.parametrize("seed", [-1, 2**40, True, 1.5])
def test_a_seed_out_of_range_is_a_typed_error(seed):
    with pytest.raises(ConfigError, match="seed expects an int"):
        EvalConfig(EnvConfig(sim="bm25"), seed=seed)
    with pytest.raises(ConfigError, match="seed expects an int"):
        FidelityConfig(seed=seed)
