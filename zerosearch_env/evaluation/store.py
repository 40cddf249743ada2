"""A resumable run folder's records: a jsonl file appended line by line, and the
settings it was written with.

A slow run (an LLM simulator, a remote agent) must survive an interruption. Each
finished record is appended at once; a second run with the same settings skips the
records already written, and a folder written with other settings is refused (naming
the settings that changed) unless the caller starts it again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError


class JsonlRecords:
    """Records keyed by ``record[key]``, appended to ``path`` one line each.

    A line cut short by an interruption is dropped on :meth:`load`.
    """

    def __init__(self, path: Path, key: str, required: tuple[str, ...] = (), numbers: tuple[str, ...] = ()):
        self.path = path
        self.key = key
        self.required = required  # fields every record must hold (a typed error names the line otherwise)
        self.numbers = numbers  # required fields that must be numbers (the scores summed on a resume)

    def load(self) -> dict[Any, dict[str, Any]]:
        """The records already written, by key (a later line wins)."""
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        good = raw[: raw.rfind(b"\n") + 1]  # everything up to the last complete line
        if len(good) != len(raw):
            self.path.write_bytes(good)
        try:
            text = good.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError(
                f"{self.path} is not UTF-8 text ({error}); it was not written by this package: pass --overwrite or another --out folder"
            ) from None
        done: dict[Any, dict[str, Any]] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigError(f"{self.path}:{number} is not valid JSON ({error}); delete the line or pass --overwrite") from error
                if not isinstance(record, dict) or not isinstance(record.get(self.key), (str, int)):
                    found = type(record).__name__ if not isinstance(record, dict) else f"{self.key!r} = {record.get(self.key)!r}"
                    raise ConfigError(f"{self.path}:{number} is not a record with a {self.key!r} (found {found}); delete the line or pass --overwrite")
                missing = [name for name in self.required if name not in record]
                if missing:
                    raise ConfigError(f"{self.path}:{number} lacks {missing}: it was not written by this version; delete the line or pass --overwrite")
                wrong = [name for name in self.numbers if isinstance(record[name], bool) or not isinstance(record[name], (int, float))]
                if wrong:
                    raise ConfigError(f"{self.path}:{number}: {wrong} expect numbers, got {[record[n] for n in wrong]!r}; delete the line or pass --overwrite")
                done[record[self.key]] = record
        return done

    def append(self, records: list[dict[str, Any]] | dict[str, Any]) -> None:
        """Append one record or several (one write, so a batch lands together)."""
        batch = [records] if isinstance(records, dict) else records
        if batch:
            with self.path.open("a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch))


LOCK_FILE = ".zerosearch.lock"


@contextmanager
def folder_lock(out_dir: Path, what: str = "a run") -> Iterator[None]:
    """Hold ``out_dir`` for one run, from claiming it to its last write.

    Two runs appending to one folder interleave their records under one settings file
    (the second run's settings, the first run's documents). The lock is an exclusive
    ``flock`` on ``out_dir/.zerosearch.lock``, which names the holder's pid: a second
    run, in this process or another, is refused at once. The system drops the lock when
    the holder dies, however it dies, so a killed run never leaves the folder locked.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no locking
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ConfigError(f"{out_dir} is being written by another run ({holder}); wait for it to end, or pass another --out folder for {what}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim_folder(out_dir: Path, config_name: str, identity: dict[str, Any], records: list[Path], *, overwrite: bool, what: str = "a run") -> None:
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
        old, new = flat(read_settings(config_path)), flat(identity)
        changed = [k for k in sorted(old.keys() | new.keys()) if old.get(k, _UNSET) != new.get(k, _UNSET)]
        if changed:
            details = ", ".join(f"{k}: {old.get(k, _UNSET)!r} -> {new.get(k, _UNSET)!r}" for k in changed)
            raise ConfigError(f"{out_dir} holds {what} with other settings ({details}); pass a new --out folder, or --overwrite to start this one again")
    write_atomically(config_path, json.dumps(identity, indent=2) + "\n")


def read_settings(path: Path) -> dict[str, Any]:
    """A settings file of a run folder, as a dict; anything else (cut short, empty, not
    UTF-8, not an object) is a :class:`ConfigError` naming the file and the fix."""
    fix = "pass --overwrite to start the folder again, or another --out folder"
    try:
        value = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; {fix}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}); {fix}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} holds a JSON {type(value).__name__}, not the settings object; {fix}")
    return value


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader (or a
    resume after a crash) sees the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


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
