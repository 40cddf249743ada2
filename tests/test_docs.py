"""The documentation runs as written: every Python block of the README and of the pages
under docs/ is executed, every ``zerosearch`` command of a shell block is parsed by the
real command line, and every script a shell block runs exists.

A Python block that needs what a test machine lacks says so on its first line,
``# needs: a GPU`` (or a server, or the released data), and is compiled but not run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
NEEDS = re.compile(r"^# needs: (.+)")


def _blocks() -> dict[str, list[tuple[str, str]]]:
    """Language -> (page:index, code) of every fenced block, includes expanded as the site shows them."""
    expand = load_script(ROOT / "docs" / "hooks.py", "docs_hooks").expand
    found: dict[str, list[tuple[str, str]]] = {}
    for page in PAGES:
        text = expand(page.read_text(encoding="utf-8"))
        for index, (language, code) in enumerate(m.groups() for m in FENCE.finditer(text)):
            found.setdefault(language, []).append((f"{page.relative_to(ROOT)}:{index}", code))
    return found


BLOCKS = _blocks()
PYTHON = BLOCKS["python"]
SHELL = BLOCKS["bash"]


def test_the_readme_is_a_two_minute_page_that_starts_with_the_two_set_up_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    first = FENCE.search(text)
    assert first.group(1) == "bash" and [line.split(" && ")[-1] for line in first.group(2).splitlines()] == [
        "zerosearch train --preset cpu-demo",
        "pytest",
    ]
    for name in ("cpu-demo", "benchmarks"):  # the sections benchmarks/cpu_demo.py and report.py rewrite
        assert f"<!-- {name}:start -->" in text and f"<!-- {name}:end -->" in text


def test_the_pages_have_code_to_run():
    assert len(PYTHON) >= 10 and len(SHELL) >= 20
    assert any(name.startswith("README.md") for name, _ in PYTHON)


@pytest.mark.parametrize("name, code", PYTHON, ids=[name for name, _ in PYTHON])
def test_python_blocks_run(name, code, monkeypatch, capsys):
    compiled = compile(code, name, "exec")  # even a block that cannot run here must parse
    needs = NEEDS.match(code)
    if needs:
        pytest.skip(f"needs {needs.group(1)}")
    if "ZeroSearch_dataset/" in code:
        pytest.skip("needs the released dataset (downloaded by the user)")
    if "import skyrl_gym" in code:
        pytest.importorskip("skyrl_gym", reason="the SkyRL example needs skyrl-gym (pip install -e '.[skyrl]')")
    if "../shared/data/" in code and not (ROOT.parent / "shared" / "data").exists():
        pytest.skip("shared/ is not beside this checkout")
    monkeypatch.chdir(ROOT)
    exec(compiled, {"__name__": f"docs_block_{abs(hash(name))}"})
    promised = re.search(r"^print\(reward, terminated.*#\s*(.+)$", code, re.MULTILINE)
    if promised:  # the quick starts say what their last line prints
        assert capsys.readouterr().out.strip().splitlines()[-1] == promised.group(1).strip()


def _commands(code: str) -> list[list[str]]:
    """The block's commands as words: continuations joined, comments dropped, split at
    ``&&``, ``;``, ``|`` and ``&``."""
    commands = []
    for line in re.sub(r"\\\n\s*", " ", code).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in lexer:
            if token in ("&&", ";", "|", "||", "&"):
                commands.append(words)
                words = []
            else:
                words.append(token)
        commands.append(words)
    return [words for words in commands if words]


@pytest.mark.parametrize("name, code", SHELL, ids=[name for name, _ in SHELL])
def test_shell_blocks_name_real_commands_and_files(name, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # what the commands that run write lands here
    _check_shell(name, code, run=True)


def test_the_shell_check_catches_a_wrong_flag_and_a_missing_script():
    with pytest.raises(pytest.fail.Exception, match="does not parse"):
        _check_shell("page", "zerosearch eval --agent scripted --no-such-flag 3\n")
    with pytest.raises(AssertionError, match="not in the repository"):
        _check_shell("page", "pip install -e . && python examples/no_such_script.py --x 1\n")
    _check_shell("page", "ZEROSEARCH_CACHE=/tmp zerosearch eval --agent scripted --limit 5 \\\n    --sim-kwargs '{\"a\": 1}' # a comment\n")


#: Engines that need no model: a command using only these runs in the test.
_NO_MODEL = {None, "corpus", "bm25", "context"}


def _is_quick(args: list[str]) -> bool:
    """Whether ``zerosearch <args>`` needs no model, no server and no long run."""
    if not args:
        return False

    def flag(name: str) -> str | None:
        return args[args.index(name) + 1] if name in args[:-1] else None

    command = args[0]
    if command in ("world", "sims", "demo"):
        return True
    if command == "train":
        return "--plan" in args or "--help" in args
    if command == "eval":
        return flag("--agent") in (None, "scripted") and flag("--sim") in _NO_MODEL and flag("--dataset") in (None, "synthetic")
    if command == "fidelity":
        engines = []
        for word in args[1:]:  # the engines come before the first flag
            if word.startswith("-"):
                break
            engines.append(word)
        return bool(engines) and set(engines) <= _NO_MODEL - {None}
    return False


def _check_shell(name: str, code: str, *, run: bool = False) -> None:
    """Parse every ``zerosearch`` command with the real command line; with ``run``, also
    run the block's quick commands, in order, until the first that is not quick (the
    next ones may need what it makes)."""
    from zerosearch_env.cli import build_parser, main

    parser = build_parser()
    running = run
    for words in _commands(code):
        command = " ".join(words)
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value prefixes
            words = words[1:]
        if not words:
            continue
        if words[0] == "zerosearch":
            try:
                parser.parse_args(words[1:])
            except SystemExit as exit:
                if exit.code not in (0, None):  # --help exits 0
                    pytest.fail(f"{name}: `{command}` does not parse")
                continue
            running = running and _is_quick(words[1:])
            if running:
                assert main(words[1:]) in (0, None), f"{name}: `{command}` failed"
            continue
        running = False
        if words[0] in ("python", "python3", "bash") and len(words) > 1 and not words[1].startswith("-"):
            script = words[1]
            if script.endswith((".py", ".sh")) and not script.startswith(("/", "$")):
                assert (ROOT / script).exists(), f"{name}: `{command}` runs {script}, which is not in the repository"
