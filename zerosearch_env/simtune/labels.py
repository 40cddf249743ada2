"""From trajectories to simulation-tuning examples: every search, labelled useful or noisy.

Each search turn of a ``trajectories.jsonl`` (``zerosearch eval``, ``zerosearch simtune
collect``) that returned documents becomes one :class:`~.examples.SimExample`: the
query, the episode's question and golden answers, and the documents the real engine
returned, in the quality a labeller chose. A search that failed (``sim_error``) or
returned no documents has nothing to imitate; it is skipped and counted.

The labellers (:data:`LABELLERS`):

- ``outcome``: the paper's rule. A search is useful when its episode scored at least
  ``threshold`` on ``metric`` (default F1 >= 1.0), noisy otherwise. It judges the
  documents by the agent's answer, so its labels are only as good as the agent: a strong
  agent gives no noisy examples, a weak one misreads good documents (noisy sets that hold
  the answer) and gets lucky with bad ones (useful sets without it);
- ``presence``: useful when a golden answer occurs in one of the documents
  (:func:`~zerosearch_env.reward.contains_answer`: whole words, normalised), noisy
  otherwise. Free, agent-independent, blind to paraphrases, and strict with multi-hop
  questions: the first hop's documents name the bridge entity, not the answer, and are
  called noisy;
- ``judge``: an LLM reads the question, its answers and the documents (:mod:`.judge`).

:func:`label_files` labels, mixes in noisy examples where asked (:mod:`.mixing`),
writes the examples and :data:`REPORT` next to them, and reports the balance of every
free labeller side by side (:mod:`.label_report`), so a bad label balance is seen before
a simulator is trained on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config_flags import setting
from ..errors import ConfigError, DatasetError
from ..reward import contains_answer
from .examples import SimExample, write_examples

if TYPE_CHECKING:
    from ..simulators.base import Simulator
    from .judge import LLMJudge
    from .label_report import LabelReport

LABELLERS: tuple[str, ...] = ("outcome", "presence", "judge")
METRICS: tuple[str, ...] = ("f1", "em", "cover_em")
TRAJECTORIES = "trajectories.jsonl"
REPORT = "label_report.json"
"""The report written next to the examples file."""


@dataclass
class LabelConfig:
    """How searches are labelled and mixed (``zerosearch simtune label``)."""

    labeller: str = setting("outcome", "outcome (the paper's rule: the episode's score), presence (a golden answer in the documents) or judge (an LLM).")
    metric: str = setting("f1", "outcome: the episode score compared with --threshold: f1, em (strict) or cover_em.")
    threshold: float = setting(1.0, "outcome: an episode scoring at least this is correct, its searches useful.")
    noisy_share: float | None = setting(
        None,
        "Mix in noisy examples until this share of the examples is noisy (e.g. 0.5): the engine is asked again for each "
        "chosen useful search and its first answer-free documents become a noisy twin. None: no mixing.",
    )
    twin_every_useful: bool = setting(
        False,
        "Give every useful search that holds an answer its noisy twin (the same query in both modes, a contrast that "
        "teaches a small simulator what the quality word changes), whatever --noisy-share asks.",
    )
    mix_candidates: int = setting(10, "Mixing: documents asked of the engine per mixed search, as a multiple of the useful set's size.")
    seed: int = setting(0, "Mixing: seeds which useful searches get a noisy twin.")
    judge_url: str = setting("http://127.0.0.1:8000/v1", "judge: the OpenAI-compatible server's /v1 URL.")
    judge_model: str = setting("default", "judge: the model name the server expects.")
    judge_concurrency: int = setting(16, "judge: requests in flight.")
    judge_timeout_s: float = setting(60.0, "judge: seconds per attempt.")
    judge_retries: int = setting(3, "judge: extra attempts after a timeout, a dropped connection or a 5xx (a malformed verdict is not retried).")
    judge_max_tokens: int = setting(8, "judge: room for the one-word reply (raise it for a model that thinks first).")

    def __post_init__(self) -> None:
        if self.labeller not in LABELLERS:
            raise ConfigError(f"labeller expects one of {list(LABELLERS)}, got {self.labeller!r}")
        if self.metric not in METRICS:
            raise ConfigError(f"metric expects one of {list(METRICS)}, got {self.metric!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold expects a score in [0, 1], got {self.threshold!r}")
        if self.noisy_share is not None and not 0.0 <= self.noisy_share < 1.0:
            raise ConfigError(f"noisy_share expects a share in [0, 1) or None, got {self.noisy_share!r}")
        if self.mix_candidates < 1:
            raise ConfigError(f"mix_candidates expects an int >= 1, got {self.mix_candidates!r}")

    def judge(self) -> LLMJudge:
        """The judge these settings describe."""
        from .judge import LLMJudge

        return LLMJudge(
            self.judge_url, self.judge_model, concurrency=self.judge_concurrency, timeout_s=self.judge_timeout_s,
            retries=self.judge_retries, max_tokens=self.judge_max_tokens,
        )  # fmt: skip


@dataclass(frozen=True)
class Search:
    """One search of a trajectory that returned documents, with its episode's scores."""

    query: str
    question: str
    golden_answers: tuple[str, ...]
    documents: tuple[str, ...]
    scores: dict[str, float]  # the episode's f1, em and cover_em
    source: str  # "<file>:<line>:<turn>", turn counted from 1
    file: Path  # the trajectories file, whose folder says which engine answered
    data_source: str = ""  # the episode's benchmark (synthetic-single, nq, ...)

    def holds_answer(self) -> bool:
        """Whether a golden answer occurs in one of the documents."""
        return any(contains_answer(document, self.golden_answers) for document in self.documents)

    def example(self, quality: str, label: str) -> SimExample:
        return SimExample(self.query, self.question, self.golden_answers, quality, self.documents, label, self.source)


@dataclass
class Searches:
    """The searches of some trajectories files, and what was read and skipped."""

    searches: list[Search] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    episodes: int = 0
    failed: int = 0  # searches whose engine failed (sim_error)
    empty: int = 0  # searches that returned no documents


def trajectory_files(paths: Iterable[str | Path]) -> list[Path]:
    """The trajectories files named: a file as it is, a folder by every
    ``trajectories.jsonl`` below it (``collect --world-seeds`` writes one per world)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(path.rglob(TRAJECTORIES))
            if not found:
                raise DatasetError(f"{path} holds no {TRAJECTORIES}; write one with zerosearch simtune collect (or zerosearch eval --out)")
            files += found
        else:
            raise DatasetError(f"trajectories path {str(path)!r} does not exist")
    return files


def read_searches(paths: Iterable[str | Path]) -> Searches:
    """Every search with documents in the trajectories files (episodes by row index, turns
    in order), counting the searches skipped."""
    read = Searches()
    for file in trajectory_files(paths):
        read.files.append(file)
        for number, record in _episodes(file):
            read.episodes += 1
            _read_episode(read, file, number, record)
    return read


def _episodes(file: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, episode) of a trajectories file, by row index: a resumed run appends
    episodes in another order than an uninterrupted one, and both must give the same examples."""
    from ..data import iter_jsonl

    episodes = []
    for row, record in iter_jsonl(file):
        number = row + 1
        if not isinstance(record.get("turns"), list) or "question" not in record:
            raise DatasetError(f"{file}:{number} is not an episode (no question or turns); is it a trajectories.jsonl?")
        index = record.get("index", number)
        if isinstance(index, bool) or not isinstance(index, int):
            raise DatasetError(f"{file}:{number}: 'index' expects the row's int index, got {index!r}; is it a trajectories.jsonl?")
        episodes.append((number, dict(record)))
    return sorted(episodes, key=lambda pair: (pair[1].get("index", pair[0]), pair[0]))


def _read_episode(read: Searches, file: Path, number: int, record: dict[str, Any]) -> None:
    answers = record.get("golden_answers")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise DatasetError(f"{file}:{number}: 'golden_answers' must be a list of strings, got {answers!r}")
    scores = {metric: record.get(metric) or 0.0 for metric in METRICS}
    wrong = {metric: value for metric, value in scores.items() if isinstance(value, bool) or not isinstance(value, (int, float))}
    if wrong:
        raise DatasetError(f"{file}:{number}: the episode's scores expect numbers, got {wrong!r}")
    for turn_number, turn in enumerate(record["turns"], start=1):
        if not isinstance(turn, dict) or turn.get("kind") != "search":
            continue
        documents = turn.get("documents") or []
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            raise DatasetError(f"{file}:{number}: turn {turn_number}'s 'documents' expects a list of strings, got {documents!r:.80}")
        if turn.get("sim_error") and not documents:
            read.failed += 1
        elif not documents:
            read.empty += 1
        else:
            source = f"{file}:{number}:{turn_number}"
            query, question, data_source = str(turn.get("query", "")), str(record["question"]), str(record.get("data_source", ""))
            read.searches.append(Search(query, question, tuple(answers), tuple(documents), scores, source, file, data_source))


# ----------------------------------------------------------------------------- labellers


def label_outcome(searches: Sequence[Search], metric: str = "f1", threshold: float = 1.0) -> list[str]:
    """The paper's rule: useful when the episode scored at least ``threshold`` on ``metric``."""
    if metric not in METRICS:
        raise ConfigError(f"metric expects one of {list(METRICS)}, got {metric!r}")
    return ["useful" if search.scores[metric] >= threshold else "noisy" for search in searches]


def label_presence(searches: Sequence[Search]) -> list[str]:
    """Useful when a golden answer occurs in one of the documents."""
    return ["useful" if search.holds_answer() else "noisy" for search in searches]


def label_judge(searches: Sequence[Search], judge: LLMJudge) -> list[str | None]:
    """The judge's verdicts; None where it gave none (see ``judge_errors``)."""
    from .judge import JudgeItem

    judgements = judge.judge([JudgeItem(s.question, s.golden_answers, s.documents) for s in searches])
    return [j.quality for j in judgements]


# ----------------------------------------------------------------------------- the whole step


@dataclass
class LabelResult:
    """What :func:`label_files` wrote and found."""

    examples: list[SimExample]
    report: LabelReport
    path: Path | None = None
    report_path: Path | None = None


def label_searches(
    read: Searches,
    config: LabelConfig,
    *,
    judge: LLMJudge | None = None,
    engine: Simulator | None = None,
) -> LabelResult:
    """Label ``read``'s searches with ``config.labeller``, mix in noisy examples when
    ``config.noisy_share`` asks (``engine``: the engine to ask again; None: the one each
    file's folder names, :func:`~.collect.collected_engine`), and report the balance."""
    from .label_report import build_report

    searches = read.searches
    qualities: dict[str, list[str | None]] = {
        "outcome": list(label_outcome(searches, config.metric, config.threshold)),
        "presence": list(label_presence(searches)),
    }
    if config.labeller == "judge":
        own = judge is None
        judge = judge or config.judge()
        try:
            qualities["judge"] = label_judge(searches, judge)
        finally:
            if own:
                judge.close()
    chosen = qualities[config.labeller]
    examples = [s.example(q, config.labeller) for s, q in zip(searches, chosen) if q is not None]
    mix = None
    if config.noisy_share is not None or config.twin_every_useful:
        from .mixing import mix_noisy

        examples, mix = mix_noisy(
            examples,
            engine or _folder_engines(searches),
            noisy_share=config.noisy_share or 0.0,
            every=config.twin_every_useful,
            candidates=config.mix_candidates,
            seed=config.seed,
        )
    report = build_report(read, config, qualities, examples, mix)
    return LabelResult(examples, report)


def label_files(
    paths: Iterable[str | Path],
    out: str | Path,
    config: LabelConfig | None = None,
    *,
    judge: LLMJudge | None = None,
    engine: Simulator | None = None,
    overwrite: bool = False,
) -> LabelResult:
    """Read the trajectories files (or folders of them), label and mix as ``config``
    says, and write the examples to ``out`` (jsonl) and :data:`REPORT` next to it. An
    existing ``out`` is replaced only with ``overwrite``, and never when it is an input."""
    config = config or LabelConfig()
    searches = read_searches(paths)
    target = Path(out).resolve()
    if target in {Path(file).resolve() for file in searches.files}:
        raise ConfigError(f"--out {out} is one of the trajectories files it would read; write the examples to another file")
    if target.exists() and not overwrite:
        raise ConfigError(f"{out} exists already; pass --overwrite to replace it, or another --out file")
    result = label_searches(searches, config, judge=judge, engine=engine)
    result.path = write_examples(result.examples, out)
    result.report_path = result.report.write(result.path.parent / REPORT)
    return result


def _folder_engines(searches: Sequence[Search]) -> dict[str, Simulator]:
    """The engine of each source file's folder (built once per folder), keyed by the
    examples' ``source`` prefix, for mixing."""
    from .collect import collected_engine

    engines: dict[Path, Simulator] = {}
    by_source: dict[str, Simulator] = {}
    for search in searches:
        folder = search.file.parent
        if folder not in engines:
            engines[folder] = collected_engine(folder)
        by_source[search.source] = engines[folder]
    return by_source
