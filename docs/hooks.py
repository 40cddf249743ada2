"""mkdocs hook: pages show the figures the README keeps, from the README itself.

A line ``<!-- include: README.md NAME -->`` becomes the README's text between
``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` (the sections that
``benchmarks/report.py`` and ``benchmarks/cpu_demo.py`` rewrite), with its ``docs/``
paths made relative to the documentation folder. One copy of each figure, two places
it is read.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^<!-- include: (\S+) ([\w-]+) -->$", re.MULTILINE)


def included(match: re.Match[str]) -> str:
    source, name = ROOT / match.group(1), match.group(2)
    text = source.read_text(encoding="utf-8")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{source.name} has no {start} ... {end} section to include")
    section = text.split(start, 1)[1].split(end, 1)[0]
    return section.replace("](docs/", "](").strip("\n")


def expand(markdown: str) -> str:
    """The page's markdown with every include directive replaced."""
    return INCLUDE.sub(included, markdown)


def on_page_markdown(markdown: str, **_: object) -> str:
    return expand(markdown)
