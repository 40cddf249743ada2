"""The house rules of the code base, checked: arrows point down, modules stay small, the
text boundary is typed in one place, and the environment never needs the learner."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zerosearch_env", "zerosearch_agents")
MAX_MODULE_LINES = 500


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the two packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """The project modules ``module`` imports, at module level or inside functions
    (imports under ``if TYPE_CHECKING:`` are for type checkers only and do not count)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            for alias in node.names:
                found.add(alias.name)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            base = ".".join([*package[: len(package) - node.level + 1], node.module or ""]).strip(".") if node.level else node.module or ""
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)

    Visitor().visit(ast.parse(path.read_text()))
    return {resolved for name in found if (resolved := resolve(name)) and resolved != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_the_import_graph_has_no_cycles():
    graph = {module: _imports(module, path) for module, path in MODULES.items()}
    assert _cycles(graph) == []


def test_the_environment_never_imports_the_learner():
    for module, path in MODULES.items():
        if module.startswith("zerosearch_env"):
            learner = {name for name in _imports(module, path) if name.startswith("zerosearch_agents")}
            assert not learner, f"{module} imports {learner}; resolve the learner by an entry point string instead"


def test_no_module_holds_two_concepts():
    long = {module: n for module, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these by concept: {long}"


#: What only protocol.py may type: the stop tags, the information block, "Doc i:" markers.
_PROTOCOL_TEXT = re.compile(r"</search>|</answer>|</?information>|Doc \d|Doc \{")
#: The fuzzing agent writes malformed turns on purpose, as literal text.
_ALLOWED = {"zerosearch_env.evaluation.agents"}


def test_the_text_protocol_is_typed_only_in_protocol_py():
    offenders = []
    for module, path in MODULES.items():
        if module == "zerosearch_env.protocol" or module in _ALLOWED:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings and _PROTOCOL_TEXT.search(node.value):
                offenders.append(f"{module}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == [], "import these from zerosearch_env.protocol"


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT)


@pytest.mark.parametrize("module", ["zerosearch_env", "zerosearch_env.evaluation", "zerosearch_env.cli"])
def test_importing_the_environment_loads_neither_the_learner_nor_torch_nor_a_framework(module):
    out = _run(f"import sys, {module}; print(sorted(m for m in ('torch', 'zerosearch_agents', 'verl', 'skyrl_gym', 'trl') if m in sys.modules))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_command_line_builds_every_parser_without_torch():
    """A core install (no torch) still gets `zerosearch --help` and `zerosearch train --help`."""
    out = _run("import sys; sys.modules['torch'] = None; from zerosearch_env.cli import main; main(['train', '--help'])")
    assert out.returncode == 0, out.stderr
    assert "--preset" in out.stdout


def test_another_package_named_agents_first_on_the_path_changes_nothing(tmp_path):
    """The OpenAI Agents SDK installs a top-level ``agents`` package: ours is not called that."""
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "__init__.py").write_text("raise ImportError('this agents package belongs to another project')\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = _run("from zerosearch_env.cli import main; main(['train', '--help'])", PYTHONPATH=path)
    assert out.returncode == 0, out.stderr
    assert "--preset" in out.stdout and "--sim" in out.stdout
    for folder in ("tests", "benchmarks", *PACKAGES):
        for file in (ROOT / folder).rglob("*.py"):
            assert not re.search(r"^\s*(from|import) agents\b", file.read_text(), re.MULTILINE), file
