"""From a ``sim=`` argument (a name or an object) to a :class:`Simulator`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UnknownSimulatorError
from .base import Simulator

if TYPE_CHECKING:
    from ..data import CorpusDoc, QARow
    from ..worlds.synthetic import SyntheticWorld

SIMULATOR_NAMES: dict[str, str] = {
    "corpus": "BM25 over a corpus (the synthetic world's by default); useful = answer-bearing first, noisy = answer-bearing removed",
    "context": "the paragraphs a HotpotQA-style row ships with; useful = supporting first, noisy = distractors only",
}


@functools.lru_cache(maxsize=8)
def _world_simulator(world: SyntheticWorld) -> Simulator:
    from .corpus import CorpusSimulator

    return CorpusSimulator(world.documents, name="corpus")


@functools.lru_cache(maxsize=4)
def _file_simulator(path: str, mtime: float) -> Simulator:
    from ..data import load_corpus
    from .corpus import CorpusSimulator

    return CorpusSimulator(load_corpus(path), name=f"corpus:{Path(path).name}")


def make_simulator(
    sim: str | Simulator,
    *,
    corpus: str | Path | Sequence[CorpusDoc | str] | None = None,
    world: SyntheticWorld | None = None,
    rows: Sequence[QARow] = (),
    **sim_kwargs: Any,
) -> Simulator:
    """Resolve ``sim`` to a simulator.

    ``"corpus"`` searches ``corpus`` (a FlashRAG jsonl/parquet path or a list of
    documents) when given, else the synthetic ``world``'s corpus, else the rows'
    HotpotQA ``context`` paragraphs. Indexes of the built-in world and of corpus files
    are cached, so many environments over the same corpus share one index.
    """
    if not isinstance(sim, str):
        if not callable(getattr(sim, "simulate", None)):
            raise ConfigError(
                f"sim expects a simulator name ({', '.join(SIMULATOR_NAMES)}) or an object with a "
                f"simulate(requests) method, got {type(sim).__name__}"
            )
        return sim
    if sim in ("corpus", "context") and sim_kwargs:
        raise ConfigError(f"sim={sim!r} takes no sim_kwargs, got {sorted(sim_kwargs)}")
    if sim == "corpus":
        from .corpus import ContextSimulator, CorpusSimulator

        if corpus is not None:
            if isinstance(corpus, (str, Path)):
                path = Path(corpus)
                if not path.exists():
                    from ..errors import DatasetError

                    raise DatasetError(f"corpus file {str(path)!r} does not exist; pass a FlashRAG jsonl with 'id' and 'contents'")
                return _file_simulator(str(path.resolve()), path.stat().st_mtime)
            return CorpusSimulator(list(corpus))
        if world is not None:
            return _world_simulator(world)
        if rows and all(row.context for row in rows):
            return ContextSimulator()
        raise ConfigError(
            "sim='corpus' needs documents to search: pass corpus='path/to/corpus.jsonl' "
            "(FlashRAG format, one {'id', 'contents'} per line), use dataset='synthetic', "
            "or a HotpotQA-style dataset whose rows carry 'context' paragraphs"
        )
    if sim == "context":
        from .corpus import ContextSimulator

        return ContextSimulator()
    raise UnknownSimulatorError(
        f"unknown sim {sim!r}; expected one of {sorted(SIMULATOR_NAMES)} or a simulator object "
        "(run `zerosearch sims` to list them)"
    )
