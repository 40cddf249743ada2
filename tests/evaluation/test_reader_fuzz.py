"""Every file a run folder holds, read back after it was damaged: cut short, emptied,
given a byte-order mark, non-UTF-8 bytes, another JSON type, missing or wrongly typed
fields. Each case ends in a correct result or a typed error (ZeroSearchError), never a
raw exception. The counts are printed (run with -s)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from zerosearch_env.errors import ZeroSearchError
from zerosearch_env.evaluation import EnvConfig, EvalConfig, ScriptedBatchAgent, run_eval
from zerosearch_env.evaluation.cost import read_sim_usage
from zerosearch_env.evaluation.fidelity import FidelityConfig, run_fidelity
from zerosearch_env.evaluation.throughput import read_throughput_file
from zerosearch_env.simtune.collect import collected_sim
from zerosearch_env.simtune.labels import read_searches

GPU_CHECK = {"mode": "gpu", "sections": {"simulator": {"status": "ok", "results": {"batches": {"8": {"tokens_per_s": 900.0}}}}}}


def damaged(valid: bytes) -> dict[str, bytes]:
    """The ways a file gets damaged, from its valid bytes."""
    cases = {
        "truncated": valid[: len(valid) // 2],
        "empty": b"",
        "bom": b"\xef\xbb\xbf" + valid,
        "not utf-8": valid[:1] + b"\xff\xfe" + valid[1:],
        "a list": b"[1, 2]\n",
        "null": b"null\n",
        "a number": b"7\n",
        "a string": b'"text"\n',
        "an empty object": b"{}\n",
        "huge number": valid.replace(b"1", b"1" + b"0" * 400, 1),
    }
    lines = valid.decode("utf-8").splitlines()
    try:
        objects = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        objects = []
    if len(objects) > 1 and all(isinstance(o, dict) for o in objects):  # jsonl: one bad line among good ones
        for name, line in {"a list line": "[]", "a null line": "null", "an empty line object": "{}"}.items():
            cases[name] = ("\n".join([*lines[:-1], line]) + "\n").encode()
        first = objects[0]
        cases["wrong types in a line"] = ("\n".join([json.dumps({k: [] for k in first}), *lines[1:]]) + "\n").encode()
        cases["missing fields in a line"] = ("\n".join([json.dumps(dict(list(first.items())[:1])), *lines[1:]]) + "\n").encode()
        last = {k: v if k in ("index", "key") else [] for k, v in objects[-1].items()}
        cases["wrong types in a later line"] = ("\n".join([*lines[:-1], json.dumps(last)]) + "\n").encode()
    else:
        whole = json.loads(valid.decode("utf-8-sig"))
        if isinstance(whole, dict):
            cases["wrong types"] = json.dumps({k: [] for k in whole}).encode()
            cases["strings for everything"] = json.dumps({k: "x" for k in whole}).encode()
            cases["missing fields"] = json.dumps(dict(list(whole.items())[:1])).encode()
    return cases


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    config = EvalConfig(EnvConfig(sim="bm25", topk=1), limit=3)
    run_eval(ScriptedBatchAgent(), config, root / "eval", progress=False)
    run_fidelity(["corpus"], FidelityConfig(topk=1, limit=2), root / "fidelity", progress=False)
    (root / "gpu_check.json").write_text(json.dumps(GPU_CHECK))
    return root, config


def readers(root: Path, config: EvalConfig):
    """(name, file relative to a folder copy, the reader called on that copy)."""
    fidelity = FidelityConfig(topk=1, limit=2)
    search_file = next((root / "fidelity" / "searches").glob("corpus-*.jsonl")).relative_to(root / "fidelity")
    return [
        ("eval resume: eval_config.json", "eval", "eval_config.json", lambda f: run_eval(ScriptedBatchAgent(), config, f, progress=False)),
        ("eval resume: trajectories.jsonl", "eval", "trajectories.jsonl", lambda f: run_eval(ScriptedBatchAgent(), config, f, progress=False)),
        ("cost: sim_usage.json", "eval", "sim_usage.json", read_sim_usage),
        ("simtune collect: eval_config.json", "eval", "eval_config.json", collected_sim),
        ("simtune label: trajectories.jsonl", "eval", "trajectories.jsonl", lambda f: read_searches([f / "trajectories.jsonl"])),
        ("fidelity resume: fidelity_config.json", "fidelity", "fidelity_config.json", lambda f: run_fidelity(["corpus"], fidelity, f, progress=False)),
        ("fidelity resume: searches", "fidelity", str(search_file), lambda f: run_fidelity(["corpus"], fidelity, f, progress=False)),
        ("cost --throughput-file", "gpu", "gpu_check.json", lambda f: read_throughput_file(f / "gpu_check.json")),
    ]


def test_every_damaged_file_gives_a_result_or_a_typed_error(folders, tmp_path, capsys):
    root, config = folders
    outcomes: Counter[str] = Counter()
    raw: list[str] = []
    copies = iter(range(10_000))
    for name, folder, relative, read in readers(root, config):
        source = root / folder if folder != "gpu" else root
        valid = (source / relative).read_bytes()
        for case, content in damaged(valid).items():
            copy = tmp_path / str(next(copies))
            if folder == "gpu":
                copy.mkdir()
            else:
                shutil.copytree(source, copy)
            (copy / relative).write_bytes(content)
            try:
                read(copy)
                outcomes["correct result"] += 1
            except ZeroSearchError as error:
                assert relative.split("/")[-1].split("-")[0] in str(error) or str(copy) in str(error), (name, case, str(error))
                outcomes["typed error"] += 1
            except Exception as error:  # noqa: BLE001 - what this test counts
                raw.append(f"{name} / {case}: {type(error).__name__}: {error}")
    with capsys.disabled():
        print(
            f"\nreader fuzz: {sum(outcomes.values()) + len(raw)} cases, {outcomes['typed error']} typed errors, "
            f"{outcomes['correct result']} correct results, {len(raw)} raw exceptions"
        )
    assert not raw, "\n".join(raw)
