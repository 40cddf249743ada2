"""The README's Python examples run as written (those that need downloads are skipped)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, monkeypatch, capsys):
    code = BLOCKS[index]
    compiled = compile(code, f"README.md block {index}", "exec")  # even a block skipped below must parse
    if "ZeroSearch_dataset/" in code:
        pytest.skip("needs the released dataset (downloaded by the user)")
    if "import skyrl_gym" in code:
        pytest.importorskip("skyrl_gym", reason="the SkyRL example needs skyrl-gym (pip install -e '.[skyrl]')")
    if "../shared/data/" in code:
        if not (README.parent.parent / "shared" / "data").exists():
            pytest.skip("shared/ is not beside this checkout")
        monkeypatch.chdir(README.parent)
    exec(compiled, {})
    if "print(reward" in code:
        assert capsys.readouterr().out.strip().endswith("1.0 True 1.0 1.0 1.0")
