"""benchmarks/sim_vs_real.py: which engines a call retrains, the table it renders, the README section it replaces.

The training itself runs in CI (``--quick``); these check the logic around it, with no model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def svr():
    return load_script(ROOT / "benchmarks" / "sim_vs_real.py", "sim_vs_real")


SETTINGS = {"preset": "cpu-demo", "mode": "full", "overrides": {}, "questions": 4, "seed": 0}


def _row(svr, key: str, f1: list[float], *, wall_s: float = 60.0, sim_kwargs=None, searches: int = 100, completion: int = 0, sim_s: float = 0.0):
    spec = svr.EngineSpec(key, f"row {key}", key, "hf" if sim_kwargs else None, sim_kwargs or {})
    mean = sum(f1) / len(f1)
    return {
        "key": key,
        "label": spec.label,
        "engine": spec.overrides(),
        "identity": {"engine": spec.identity(), **SETTINGS},
        "eval_bm25": {
            "f1": [mean, mean - 0.1, mean + 0.1],
            "em": [mean, 0, 1],
            "cover_em": [mean, 0, 1],
            "episodes": len(f1),
            "searches_per_episode": 1.5,
            "invalid_action_rate": 0.0,
            "truncation_rate": 0.0,
            "wall_s": 1.0,
        },
        "per_question": {"f1": f1, "em": f1, "cover_em": f1},
        "own_engine": {"before_rl": {"f1": 0.1}, "after_rl": {"f1": 0.9}},
        "train_wall_s": wall_s,
        "sim_usage": {
            key: {"sim": key, "searches": searches, "prompt_tokens": 10 * searches if completion else 0, "completion_tokens": completion, "sim_wall_s": sim_s}
        },
        "rollout_s_per_step": 1.0,
        "sim_s_per_step": 0.5,
        "train_searches_per_episode_last10": 1.0,
        "fidelity": {
            "searches": 8,
            "format_valid": [1.0, 1.0, 1.0],
            "presence_useful": [0.7, 0.6, 0.8],
            "leak_noisy": None,
            "separation": None,
            "overlap": [1.0, 1.0, 1.0],
            "reader_f1_useful": [0.7, 0.6, 0.8],
            "reader_f1_noisy": None,
            "reference_reader_f1": [0.7, 0.6, 0.8],
        },
    }


META = {"machine": "x86_64 (2 cores)", "seed": 0, "questions": 4, "overrides_text": "as it is"}


def test_the_table_marks_the_rows_not_run_and_pairs_differences_by_question(svr):
    rows = {"corpus": _row(svr, "corpus", [1.0, 1.0, 0.0, 0.0]), "bm25": _row(svr, "bm25", [1.0, 0.0, 0.0, 0.0])}
    text = svr.render(rows, META)
    table = [line for line in text.splitlines() if line.startswith(("| row ", "| ("))]
    assert [line.split(" | ")[0] for line in table[:4]] == ["| row bm25", "| row corpus", "| (c) tuned simulator", "| (d) untuned LLM, prompt-based"]
    assert "+0.250 [" in table[1]  # corpus minus bm25, paired: one question better of four
    assert svr.TUNED_NOT_RUN in text and svr.PROMPT_NOT_RUN in text
    assert "32.81" in text and "30.47 / 33.53 / 34.47" in text  # the paper's anchor
    assert "in the loop" not in text  # no LLM row, no slowdown line


def test_an_llm_row_gets_its_cost_per_search_projected_onto_the_corpus_run(svr):
    rows = {
        "corpus": _row(svr, "corpus", [1.0, 0.0], wall_s=60.0),
        "random-llm": _row(svr, "random-llm", [0.0, 0.0], wall_s=90.0, sim_kwargs={"max_new_tokens": 64}, searches=200, completion=12800, sim_s=20.0),
    }
    line = next(line for line in svr.render(rows, META).splitlines() if "in the loop" in line)
    assert "200 searches in 20 s: 100.0 ms a search (64 new tokens each)" in line
    assert "corpus run's 100 searches that adds 0.2 min to its 1.0 min (x1.17)" in line  # 100 searches x 0.1 s more each


def test_only_missing_or_changed_engines_are_trained(svr):
    specs = [svr.EngineSpec("bm25", "a", "bm25"), svr.EngineSpec("corpus", "b", "corpus"), svr.EngineSpec("tuned", "c", "/m", "hf", {"max_new_tokens": 64})]
    rows = {"bm25": _row(svr, "bm25", [1.0]), "corpus": _row(svr, "corpus", [1.0]), "tuned": _row(svr, "tuned", [1.0], sim_kwargs={"max_new_tokens": 32})}
    rows["tuned"]["identity"]["engine"]["sim"] = "/m"
    keys = ["bm25", "corpus", "tuned"]
    assert [s.key for s in svr.engines_to_train(specs, rows, keys, SETTINGS)] == ["tuned"]  # its options changed
    assert [s.key for s in svr.engines_to_train(specs, rows, ["bm25"], SETTINGS, force=True)] == ["bm25"]
    assert [s.key for s in svr.engines_to_train(specs, {}, keys, SETTINGS)] == keys
    assert [s.key for s in svr.engines_to_train(specs, rows, keys, {**SETTINGS, "questions": 200})] == keys  # other settings: every row is stale


def test_paired_difference_needs_the_same_questions(svr):
    assert svr.paired_difference(_row(svr, "corpus", [1.0, 0.0]), _row(svr, "bm25", [1.0])) is None
    assert svr.paired_difference(_row(svr, "corpus", [1.0, 1.0]), _row(svr, "bm25", [0.0, 1.0]))[0] == 0.5


def test_the_readme_section_is_replaced_between_its_markers_only(svr, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{svr.START}\nold table\n{svr.END}\nafter\n")
    assert svr.replace_readme_section("new table", readme)
    assert readme.read_text() == f"before\n{svr.START}\nnew table\n{svr.END}\nafter\n"
    readme.write_text("no markers\n")
    assert not svr.replace_readme_section("new table", readme) and readme.read_text() == "no markers\n"


def test_the_short_table_has_its_own_section_and_its_own_shortening(svr, tmp_path):
    readme = tmp_path / "README.md"
    start, end = svr.SHORT_MARKERS
    readme.write_text(f"{svr.START}\nfull table\n{svr.END}\n{start}\nold\n{end}\n")
    assert svr.replace_readme_section("short table", readme, markers=svr.SHORT_MARKERS)
    assert readme.read_text() == f"{svr.START}\nfull table\n{svr.END}\n{start}\nshort table\n{end}\n"  # the full table untouched
    from zerosearch_agents.config import make_config

    cfg = make_config("cpu-demo", **svr.SHORT)  # a valid shortening of the preset
    assert cfg.bc_questions == 512 and cfg.steps * cfg.questions_per_step * cfg.group_size < 2500  # episodes of GRPO
    assert svr.FIDELITY_QUESTIONS["short"] < svr.QUESTIONS["short"]  # fidelity costs the simulator; the bm25 evaluation does not
