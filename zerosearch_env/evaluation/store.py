"""A resumable run folder's records: a jsonl file appended line by line, and the
settings it was written with.

A slow run (an LLM simulator, a remote agent) must survive an interruption. Each
finished record is appended at once; a second run with the same settings skips the
records already written, and a folder written with other settings is refused (naming
the settings that changed) unless the caller starts it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError


class JsonlRecords:
    """Records keyed by ``record[key]``, appended to ``path`` one line each.

    A line cut short by an interruption is dropped on :meth:`load`.
    """

    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key

    def load(self) -> dict[Any, dict[str, Any]]:
        """The records already written, by key (a later line wins)."""
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        good = raw[: raw.rfind(b"\n") + 1]  # everything up to the last complete line
        if len(good) != len(raw):
            self.path.write_bytes(good)
        done: dict[Any, dict[str, Any]] = {}
        for number, line in enumerate(good.decode("utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigError(f"{self.path}:{number} is not valid JSON ({error}); delete the line or pass --overwrite") from error
                done[record[self.key]] = record
        return done

    def append(self, records: list[dict[str, Any]] | dict[str, Any]) -> None:
        """Append one record or several (one write, so a batch lands together)."""
        batch = [records] if isinstance(records, dict) else records
        if batch:
            with self.path.open("a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch))


def claim_folder(
    out_dir: Path, config_name: str, identity: dict[str, Any], records: list[Path], *, overwrite: bool, what: str = "a run"
) -> None:
    """Make ``out_dir`` the folder of a run with ``identity``, saved as ``config_name``.

    With ``overwrite`` the ``records`` files are deleted first. Otherwise, when the folder
    already holds records written under another identity, :class:`ConfigError` names
    every setting that changed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / config_name
    if overwrite:
        for path in records:
            path.unlink(missing_ok=True)
    elif config_path.exists() and any(path.exists() for path in records):
        old, new = flat(json.loads(config_path.read_text())), flat(identity)
        changed = [k for k in sorted(old.keys() | new.keys()) if old.get(k, _UNSET) != new.get(k, _UNSET)]
        if changed:
            details = ", ".join(f"{k}: {old.get(k, _UNSET)!r} -> {new.get(k, _UNSET)!r}" for k in changed)
            raise ConfigError(
                f"{out_dir} holds {what} with other settings ({details}); pass a new --out folder, or --overwrite to start this one again"
            )
    config_path.write_text(json.dumps(identity, indent=2) + "\n")


class _Unset:
    """A setting one identity has and the other lacks (a folder of an older version records fewer)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def flat(identity: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An identity with nested settings as dotted names, so a refusal names the one that
    changed (``sim_kwargs.temperature``), not the whole dict.

    >>> flat({"seed": 0, "sim_kwargs": {"model": "m", "headers": {"X": 1}}})
    {'seed': 0, 'sim_kwargs.model': 'm', 'sim_kwargs.headers.X': 1}
    """
    out: dict[str, Any] = {}
    for key, value in identity.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
