"""The simulator throughput a cost is computed with, and where it came from.

GPU-hours follow from completion tokens only through a throughput, and a throughput
guessed is a cost guessed. So ``zerosearch cost`` takes it from a measurement when there
is one, and says which:

- ``--tokens-per-s N``: given outright (it wins over a file);
- ``--throughput-file PATH``: ``gpu_check.json`` from ``benchmarks/gpu_check.py`` (its
  ``simulator`` section: completion tokens/s of the transformers backend per batch size;
  the best batch size is taken, and named), or the ``--benchmark-json`` file of
  ``pytest benchmarks/bench_vllm.py`` (the vector env's end-to-end completion tokens/s
  with the vLLM backend, recorded as ``extra_info["sim_tokens_per_s"]``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

from ..errors import ConfigError

BOTH_WAYS = (
    "pass --tokens-per-s N (completion tokens per second of your simulator deployment), or --throughput-file PATH: "
    "the gpu_check.json of `python benchmarks/gpu_check.py`, or the file of "
    "`pytest benchmarks/bench_vllm.py --benchmark-json PATH` (both on a GPU)"
)


def find_throughput(tokens_per_s: float | None, throughput_file: str | Path | None) -> tuple[float, str]:
    """``(completion tokens/s, where it came from)``: ``tokens_per_s`` if given, else the
    measurement in ``throughput_file``; a :class:`ConfigError` listing both ways if neither."""
    if tokens_per_s is not None:
        if isinstance(tokens_per_s, bool) or not isinstance(tokens_per_s, (int, float)) or not math.isfinite(tokens_per_s) or tokens_per_s <= 0:
            raise ConfigError(f"--tokens-per-s expects a throughput > 0, got {tokens_per_s!r}")
        return float(tokens_per_s), "--tokens-per-s"
    if throughput_file is None:
        raise ConfigError(f"no simulator throughput: {BOTH_WAYS}")
    return read_throughput_file(throughput_file)


def read_throughput_file(path: str | Path) -> tuple[float, str]:
    """The best measured simulator throughput in a gpu_check.json or a bench_vllm.py
    results file, with a sentence naming the file, the measurement and its settings."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"--throughput-file {path}: no such file; {BOTH_WAYS}") from error
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"--throughput-file {path} is not a JSON file ({error}); {BOTH_WAYS}") from error
    if isinstance(data, dict) and isinstance(data.get("sections"), dict):
        return _from_gpu_check(path, data)
    if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
        return _from_benchmark_json(path, data)
    raise ConfigError(f"--throughput-file {path} is neither a gpu_check.json nor a pytest-benchmark file; {BOTH_WAYS}")


def _throughput(value: Any) -> TypeGuard[float]:
    """A measured tokens/s: a finite number > 0 (``true`` is not 1 token/s)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < math.inf


def _from_gpu_check(path: Path, data: dict[str, Any]) -> tuple[float, str]:
    """The ``simulator`` section: ``results.batches[<batch size>].tokens_per_s``."""
    section = data["sections"].get("simulator")
    if not isinstance(section, dict):
        raise ConfigError(f"{path} has no simulator section: run `python benchmarks/gpu_check.py` with it (the default sections include it)")
    if section.get("status") != "ok":
        why = section.get("error") or section.get("reason") or "no reason recorded"
        raise ConfigError(f"{path}: the simulator section did not measure (status {section.get('status')!r}: {why}); run the GPU check again")
    results = section.get("results")
    results = results if isinstance(results, dict) else {}
    listed = results.get("batches")
    measured = {b: m.get("tokens_per_s") for b, m in (listed.items() if isinstance(listed, dict) else ()) if isinstance(m, dict)}
    batches: dict[Any, float] = {b: t for b, t in measured.items() if _throughput(t)}
    if not batches:
        raise ConfigError(f"{path}: the simulator section holds no batches[...].tokens_per_s; run the GPU check again")
    best = max(batches, key=lambda b: batches[b])
    others = ", ".join(f"batch {b}: {t:,.0f}" for b, t in batches.items())
    dry = " (a DRY RUN: a tiny model on the CPU, not a simulator's throughput)" if str(data.get("mode", "")).startswith("dry run") else ""
    source = (
        f"{path}: gpu_check.py's simulator section, batch {best}, the best of its batch sizes ({others} tokens/s); "
        f"transformers backend, {results.get('dtype', '?')}, {results.get('max_new_tokens', '?')} new tokens per search, "
        f"{data.get('mode', '?')}{dry}, {data.get('started', '?')}"
    )
    return float(batches[best]), source


def _from_benchmark_json(path: Path, data: dict[str, Any]) -> tuple[float, str]:
    """pytest-benchmark's file: the benchmarks whose ``extra_info`` holds ``sim_tokens_per_s``
    (``bench_vllm.py``'s vector env with the vLLM backend)."""
    measured = [
        bench for bench in data["benchmarks"]
        if isinstance(bench, dict) and isinstance(bench.get("extra_info"), dict) and _throughput(bench["extra_info"].get("sim_tokens_per_s"))
    ]  # fmt: skip
    if not measured:
        raise ConfigError(
            f"{path}: no benchmark in it records extra_info['sim_tokens_per_s'] (bench_vllm.py's vector env does, on a GPU "
            "with vllm installed: `pytest benchmarks/bench_vllm.py --benchmark-json PATH`); or pass --tokens-per-s N"
        )
    best = max(measured, key=lambda bench: bench["extra_info"]["sim_tokens_per_s"])
    extra = best["extra_info"]
    searches, tokens = extra.get("searches_per_step", "?"), extra.get("sim_completion_tokens_per_step")
    per_step = f", {tokens:,.0f} completion tokens per step" if isinstance(tokens, (int, float)) else ""
    source = (
        f"{path}: {best.get('name', '?')} (bench_vllm.py; the vector env with the vLLM backend, end to end, "
        f"{searches} searches per step{per_step}), the best of {len(measured)} such benchmark(s)"
    )
    return float(extra["sim_tokens_per_s"]), source
