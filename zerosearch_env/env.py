"""``ZeroSearchEnv``: a question-answering episode in which a simulator plays the search engine."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded

from .curriculum import Curriculum, make_curriculum
from .data import resolve_dataset
from .errors import ConfigError, SimulatorError
from .protocol import (
    INVALID_ACTION_FEEDBACK,
    ParsedAction,
    build_policy_prompt,
    cut_at_stop,
    format_information,
    parse_action,
)
from .records import CorpusDoc, QARow
from .reward import REWARDS, RewardFn, resolve_reward, score_answer
from .simulators.base import Quality, SearchRequest, SearchResult, Simulator, SimulatorFault
from .spaces import TextSpace

ObservationMode = Literal["delta", "transcript"]
CurriculumClock = Literal["manual", "episode"]
OnSimError = Literal["raise", "fallback"]

MAX_OBSERVATION_CHARS = 1 << 24
_SCORE_OF_REWARD = {fn: name for name, fn in REWARDS.items()}  # built-in rewards come with the scores


class StepInfo(NamedTuple):
    """What one ``reset`` or ``step`` reports: the ``info`` of a ZeroSearch episode.

    A named tuple, built by keyword for every step of every sub-env, because it is cheap:
    ``StepInfo._fields`` are the public ``info`` keys and ``_asdict()`` is the dict that
    ``reset``/``step`` return. The names are public API and stay stable.
    """

    # the episode
    question: str
    golden_answers: list[str]
    data_source: str
    index: int | None  # type: ignore[assignment]  # the dataset row; None for a question passed in reset options (shadows tuple.index, public API)
    # the current turn
    turn: int  # turns played so far
    action: str | None = None  # "search", "answer" or "invalid"; None after reset
    query: str | None = None
    answer: str | None = None
    documents: list[str] | None = None  # what the search returned
    doc_quality: str | None = None  # "useful" or "noisy"
    noise_prob: float = 0.0  # the curriculum's noise probability at this turn
    # final scores (set when the episode ends)
    f1: float | None = None
    em: float | None = None
    cover_em: float | None = None
    # simulator faults
    sim_error: SimulatorFault | None = None
    # bookkeeping
    ignored_text: str = ""  # what the action had after its stop tag
    training_step: int = 0
    searches: int = 0
    noisy_searches: int = 0
    sim_prompt_tokens: int = 0
    sim_completion_tokens: int = 0
    sim_latency_s: float = 0.0
    episode_sim_prompt_tokens: int = 0
    episode_sim_completion_tokens: int = 0


class PendingTurn(NamedTuple):
    """A parsed policy turn, decided but not yet applied to the episode.

    ``request`` is set when the turn needs the simulator. Splitting a step in two lets a
    vector environment gather every sub-environment's request into one simulator call.
    """

    turn_text: str
    ignored_text: str
    parsed: ParsedAction
    final: bool  # the generation after the last search round
    noise_prob: float
    request: SearchRequest | None


class ZeroSearchEnv(gym.Env[str, str]):
    """
    ## Description
    A question-answering episode in the ZeroSearch protocol (arXiv 2505.04588). The agent
    reads a question, may search several times, and must finally answer. The search
    engine is a *simulator*: a fine-tuned LLM that writes useful or noisy documents
    (``sim="sft-7b"`` and friends), or, by default, a BM25 engine over the built-in
    synthetic world whose results are made useful or noisy on purpose. The probability
    of noisy documents is the curriculum difficulty.

    ## Action Space
    ``TextSpace(max_action_chars)``: one policy turn as text. The turn is cut after its
    first ``</search>`` or ``</answer>`` (the rest is ignored and returned in
    ``info["ignored_text"]``). The first match of ``<(search|answer)>(.*?)</\\1>``
    decides the action; its stripped content is the query or the answer. A turn with
    neither tag is invalid.

    ## Observation Space
    ``TextSpace``: the text the environment appends to the transcript. After ``reset``:
    the policy prompt (the dataset's ``prompt`` column when it has one, else the
    ZeroSearch template around the question). After a search:
    ``"\\n\\n<information>Doc 1: ...\\nDoc 2: ...</information>\\n\\n"``. After an
    invalid turn: the reference feedback string ("My previous action is invalid. ...").
    After the episode ends: ``""``. With ``observation_mode="transcript"`` every
    observation is the whole transcript so far instead.

    ## Rewards
    0 on every turn but an answer. An answer earns ``reward(answer, golden_answers)``:
    token F1 by default (max over golden answers, SQuAD normalisation), or strict EM,
    cover-EM or any callable. ``info`` always reports ``f1``, ``em`` and ``cover_em``
    of the final answer.

    ## Starting State
    A question drawn uniformly with the environment's seeded RNG, or the one chosen with
    ``reset(options={"index": i})``, ``reset(options={"question": q, "golden_answers": [...]})``
    or ``reset(options={"row": QARow(...)})`` (a whole record: data source, prompt, context).

    ## Episode End
    Terminated when the agent answers. Truncated (reward 0) when the turn after
    ``max_turns`` search rounds is not an answer: that final turn cannot search.
    Invalid turns count as rounds.

    ## Arguments
    - ``sim``: a simulator name (``"corpus"`` default, ``"sft-7b"``, ``"prompt:<model>"``,
      ``"openai"``; see ``zerosearch sims``), a real retriever that sees only the query
      (``"bm25"`` over ``corpus``, ``"retriever:<url>"`` for a Search-R1 ``/retrieve``
      server; for evaluation without answer leakage), a model folder, or an object with
      ``simulate(requests) -> results``. ``sim_backend``: ``"vllm"``, ``"hf"`` or
      ``"openai"`` (default: vLLM with a GPU, else transformers). ``sim_kwargs``: backend
      and sampling options (``temperature``, ``max_new_tokens``, ``batch_size``, ...).
    - ``dataset``: ``"synthetic"`` (default), a file or folder path, a Hugging Face id,
      a list of rows, or a ``SyntheticWorld``. ``split``: which split to read (default:
      ``"train"`` of the synthetic world, every row of a file).
    - ``corpus``: documents for ``sim="corpus"`` or ``sim="bm25"`` when the dataset is not synthetic.
    - ``max_turns`` (5), ``topk`` (5 documents per search).
    - ``reward``: ``"f1"`` (default), ``"em"``, ``"cover_em"`` or a callable.
    - ``difficulty``: a fixed noise probability; or ``curriculum``: a schedule (mapping
      with ``start``, ``end``, ``total_steps``, ``base``, ``kind``; or an object), moved by
      ``set_training_step(t)`` or, with ``curriculum_clock="episode"``, by each finished
      episode (in ``gym.make_vec``'s vector env, the episodes of every sub-env: N sub-envs
      move the schedule N times as fast as one).
    - ``dedup``, ``cache_size``, ``cache_path``: share one simulation between identical
      requests of a batch, and cache results (see ``simulators/cache.py``; both change
      what the policy sees, so both are off by default).
    - ``prompt_template``: a policy prompt with a ``{question}`` field for every row,
      instead of the dataset's ``prompt`` column or the ZeroSearch template (e.g. a
      short prompt for a tiny policy trained from scratch).
    - ``observation_mode``: ``"delta"`` (default) or ``"transcript"``.
    - ``on_sim_error``: what a failed search means (a simulator fault after the backend's
      retries): ``"raise"`` (default) a :class:`SimulatorError` once the step's whole batch
      was tried, leaving every sub-env as it was; or ``"fallback"``: that search alone
      gets no documents, flagged in ``info["sim_error"]``.
    - ``render_mode``: ``"ansi"`` returns the transcript, ``"human"`` prints it.

    ## Version History
    - v0: first release.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 1}  # noqa: RUF012 - gymnasium.Env declares metadata a plain class attribute
    action_space: TextSpace
    observation_space: TextSpace

    def __init__(
        self,
        sim: str | Simulator = "corpus",
        dataset: str | Path | Sequence[QARow | Mapping[str, Any]] | Any = "synthetic",
        split: str | None = None,
        *,
        corpus: str | Path | Sequence[CorpusDoc | str] | None = None,
        max_turns: int = 5,
        topk: int = 5,
        reward: str | RewardFn = "f1",
        difficulty: float | None = None,
        curriculum: Curriculum | Mapping[str, Any] | None = None,
        curriculum_clock: CurriculumClock = "manual",
        observation_mode: ObservationMode = "delta",
        on_sim_error: OnSimError = "raise",
        max_action_chars: int = 20_000,
        sim_backend: str | None = None,
        sim_kwargs: Mapping[str, Any] | None = None,
        dedup: bool = False,
        cache_size: int = 0,
        cache_path: str | Path | None = None,
        prompt_template: str | None = None,
        render_mode: str | None = None,
    ):
        if not isinstance(max_turns, int) or max_turns < 0:
            raise ConfigError(f"max_turns expects a non-negative int, got {max_turns!r}")
        if not isinstance(topk, int) or topk < 1:
            raise ConfigError(f"topk expects a positive int, got {topk!r}")
        if difficulty is not None and curriculum is not None:
            raise ConfigError("pass either difficulty (a fixed noise probability) or curriculum (a schedule), not both")
        if curriculum_clock not in ("manual", "episode"):
            raise ConfigError(f"curriculum_clock expects 'manual' or 'episode', got {curriculum_clock!r}")
        if observation_mode not in ("delta", "transcript"):
            raise ConfigError(f"observation_mode expects 'delta' or 'transcript', got {observation_mode!r}")
        if on_sim_error not in ("raise", "fallback"):
            raise ConfigError(f"on_sim_error expects 'raise' or 'fallback', got {on_sim_error!r}")
        if prompt_template is not None and (not isinstance(prompt_template, str) or "{question}" not in prompt_template):
            raise ConfigError(f"prompt_template expects a str with a {{question}} field, got {prompt_template!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode expects one of {self.metadata['render_modes']} or None, got {render_mode!r}")

        from .simulators.registry import make_simulator

        self.rows, world = resolve_dataset(dataset, split)
        self.simulator: Simulator = make_simulator(sim, sim_backend=sim_backend, corpus=corpus, world=world, rows=self.rows, **dict(sim_kwargs or {}))
        if dedup or cache_size:
            from .simulators.cache import CachingSimulator

            self.simulator = CachingSimulator(self.simulator, dedup=dedup, cache_size=cache_size, cache_path=cache_path)
        self.max_turns = max_turns
        self.topk = topk
        self.reward_fn = resolve_reward(reward)
        self.curriculum = make_curriculum(difficulty if difficulty is not None else curriculum)
        self.curriculum_clock = curriculum_clock
        self.observation_mode = observation_mode
        self.on_sim_error = on_sim_error
        self.render_mode = render_mode
        self.prompt_template = prompt_template

        self.action_space = TextSpace(max_action_chars)
        self.observation_space = TextSpace(MAX_OBSERVATION_CHARS)

        self.training_step = 0
        self._row: QARow | None = None
        self._index: int | None = None
        self._start_episode([])
        self._done = True

    def _start_episode(self, transcript: list[str]) -> None:
        """Clear the per-episode state (one place for reset, __init__ and sibling)."""
        self._transcript = transcript
        self._turn = 0
        self._searches = 0
        self._noisy_searches = 0
        self._sim_tokens = [0, 0]  # simulator prompt, completion tokens over the episode
        self._coins: list[float] = []  # per search round, see _turn_randomness
        self._seeds: list[int] = []
        self._done = False

    def sibling(self) -> ZeroSearchEnv:
        """A new environment with this one's configuration that shares its dataset rows,
        simulator and curriculum (all read-only during an episode) but has its own
        episode state and RNG. The vector env builds its sub-envs this way, so N
        environments cost one dataset load and one simulator."""
        twin = copy.copy(self)
        twin._np_random = None
        twin._np_random_seed = None
        twin.action_space = TextSpace(self.action_space.max_length)
        twin.observation_space = TextSpace(self.observation_space.max_length)
        twin._row, twin._index = None, None
        twin._start_episode([])
        twin._done = True
        return twin

    # ------------------------------------------------------------------ curriculum
    def set_training_step(self, step: int) -> None:
        """Move the curriculum to training step ``step`` (called by a trainer)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ConfigError(f"set_training_step expects a non-negative int, got {step!r}")
        self.training_step = int(step)

    @property
    def noise_prob(self) -> float:
        """The probability that the next search returns noisy documents."""
        return float(self.curriculum(self.training_step))

    # ------------------------------------------------------------------ episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        obs, info = self.begin_episode(seed=seed, options=options)
        return obs, info._asdict()

    def begin_episode(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, StepInfo]:
        """``reset`` with the info as a :class:`StepInfo`, which a vector env turns into
        columns without building a dict per sub-env."""
        super().reset(seed=seed)
        self._index, self._row = self._pick_row(options or {})
        prompt = policy_prompt(self._row, self.prompt_template)
        self._start_episode([prompt])
        return self._observation(prompt), self._info(None, self.noise_prob)

    def _pick_row(self, options: Mapping[str, Any]) -> tuple[int | None, QARow]:
        unknown = set(options) - {"index", "question", "golden_answers", "row"}
        if unknown:
            raise ConfigError(f"reset options expects keys 'index', 'question'/'golden_answers' or 'row', got {sorted(unknown)}")
        if "row" in options:  # a whole record, as a framework's dataset row arrives (integrations/)
            row = options["row"]
            if not isinstance(row, QARow):
                raise ConfigError(f"options['row'] expects a QARow, got {type(row).__name__}")
            return None, row
        if "question" in options:
            question, golden = options["question"], options.get("golden_answers")
            if not isinstance(question, str) or not question.strip():
                raise ConfigError(f"options['question'] expects a non-empty str, got {question!r}")
            if isinstance(golden, str):
                golden = [golden]
            if not golden or not all(isinstance(g, str) for g in golden):
                raise ConfigError(f"options['golden_answers'] expects a non-empty list of str, got {golden!r}")
            return None, QARow(question=question, golden_answers=tuple(golden), data_source="custom")
        if "index" in options:
            index = options["index"]
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.rows):
                raise ConfigError(f"options['index'] expects an int in [0, {len(self.rows)}), got {index!r}")
            return int(index), self.rows[int(index)]
        index = int(self.np_random.integers(len(self.rows)))
        return index, self.rows[index]

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        pending = self.begin_turn(action)
        result = self._simulate_one(pending) if pending.request is not None else None
        obs, reward, terminated, truncated, info = self.finish_turn(pending, result)
        return obs, reward, terminated, truncated, info._asdict()

    def begin_turn(self, action: str) -> PendingTurn:
        """Parse ``action`` and decide what it needs, without changing the episode: a
        turn that is never finished (its simulation failed) can simply be retried, and
        draws the same noise coin and simulator seed again."""
        if self._done:
            raise ResetNeeded("the episode has ended; call env.reset() before env.step()")
        self.action_space.check(action)
        turn_text, ignored = cut_at_stop(action)
        parsed = parse_action(turn_text)
        final = self._turn >= self.max_turns
        noise_prob = self.noise_prob
        request = None
        if parsed.kind == "search" and not final:
            coin, seed = self._turn_randomness(self._turn)
            quality: Quality = "useful" if coin > noise_prob else "noisy"
            assert self._row is not None
            row = self._row
            # Positional: this runs for every search of every sub-env.
            request = SearchRequest(parsed.content or "", row.question, row.golden_answers, quality, self.topk, seed, row.context)
        return PendingTurn(turn_text, ignored, parsed, final, noise_prob, request)

    def _turn_randomness(self, turn: int) -> tuple[float, int]:
        """The noise coin ``u ~ U(0, 1)`` and simulator seed of search round ``turn``.

        Drawn from ``np_random`` when the round first needs them and stored per round, so
        the values belong to the round, not to the attempt: a retried turn gets the same
        ones."""
        while turn >= len(self._coins):  # rounds are played in order: one draw per round
            # Two raw 64-bit words from the env's seeded generator (far cheaper than
            # Generator.random + integers): the top 53 bits of one make the coin, the top
            # 31 bits of the other the seed.
            coin_word, seed_word = self.np_random.bit_generator.random_raw(2).tolist()
            self._coins.append((coin_word >> 11) * 2.0**-53)
            self._seeds.append(seed_word >> 33)
        return self._coins[turn], self._seeds[turn]

    def _simulate_one(self, pending: PendingTurn) -> SearchResult:
        assert pending.request is not None
        try:
            results = self.simulator.simulate([pending.request])
            if len(results) != 1:
                raise SimulatorError(f"{self.simulator.name} returned {len(results)} results for 1 request")
        except SimulatorError as error:
            if self.on_sim_error == "raise":
                raise
            return fallback_result(error)
        fault = results[0].error
        if fault is not None and results[0].failed and self.on_sim_error == "raise":
            raise SimulatorError(
                f"{self.simulator.name}: the search failed after {fault.attempts} attempt(s): {fault.message}; "
                "step again with the same action to retry it, or pass on_sim_error='fallback' to go on without documents",
                fault=fault,
            )
        return results[0]

    def finish_turn(self, pending: PendingTurn, result: SearchResult | None) -> tuple[str, float, bool, bool, StepInfo]:
        """Apply a decided turn (and its simulator result, if it searched) to the episode;
        ``step`` is ``begin_turn`` then ``finish_turn``, with the info as a dict."""
        assert self._row is not None
        self._turn += 1
        self._transcript.append(pending.turn_text)
        parsed, request = pending.parsed, pending.request
        reward, terminated, truncated, appended = 0.0, False, False, ""
        if parsed.kind == "answer":
            scores = score_answer(parsed.content, self._row.golden_answers)
            named = _SCORE_OF_REWARD.get(self.reward_fn)
            reward = getattr(scores, named) if named else float(self.reward_fn(parsed.content or "", self._row.golden_answers))
            terminated = True
        elif pending.final:
            truncated = True
        elif request is not None:
            assert result is not None
            self._searches += 1
            self._noisy_searches += request.quality == "noisy"
            self._sim_tokens[0] += result.prompt_tokens
            self._sim_tokens[1] += result.completion_tokens
            appended = format_information(result.text)
        else:
            appended = INVALID_ACTION_FEEDBACK
        if appended:
            self._transcript.append(appended)
        self._done = terminated or truncated
        if self._done and self.curriculum_clock == "episode":
            self.training_step += 1

        kind, noise_prob, ignored = parsed.kind, pending.noise_prob, pending.ignored_text
        if terminated:
            info = self._info(kind, noise_prob, ignored_text=ignored, answer=parsed.content, f1=scores.f1, em=scores.em, cover_em=scores.cover_em)
        elif truncated:
            query = parsed.content if kind == "search" else None
            info = self._info(kind, noise_prob, ignored_text=ignored, query=query, f1=0.0, em=0.0, cover_em=0.0)
        elif request is not None:
            assert result is not None
            info = self._info(
                kind, noise_prob, ignored_text=ignored, query=request.query, documents=list(result.documents),
                doc_quality=request.quality, sim_error=result.error, sim_prompt_tokens=result.prompt_tokens,
                sim_completion_tokens=result.completion_tokens, sim_latency_s=result.latency_s,
            )  # fmt: skip
        else:
            info = self._info(kind, noise_prob, ignored_text=ignored)
        if self.render_mode == "human":
            self.render()
        return self._observation(appended), reward, terminated, truncated, info

    # ------------------------------------------------------------------ views
    @property
    def transcript(self) -> str:
        """Prompt, policy turns and observations of the current episode, concatenated."""
        return "".join(self._transcript)

    def _observation(self, appended: str) -> str:
        return self.transcript if self.observation_mode == "transcript" else appended

    def _info(self, action: str | None, noise_prob: float, **turn: Any) -> StepInfo:
        """The episode's row and counters, plus what this turn adds (``turn``: StepInfo fields)."""
        row = self._row
        assert row is not None
        return StepInfo(
            question=row.question, golden_answers=list(row.golden_answers), data_source=row.data_source,
            index=self._index, turn=self._turn, action=action, noise_prob=noise_prob,
            training_step=self.training_step, searches=self._searches, noisy_searches=self._noisy_searches,
            episode_sim_prompt_tokens=self._sim_tokens[0], episode_sim_completion_tokens=self._sim_tokens[1], **turn,
        )  # fmt: skip

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.transcript
        if self.render_mode == "human":
            print(self.transcript)
        return None


def fallback_result(error: SimulatorError) -> SearchResult:
    """The explicit result of a failed simulation when the user opted in to fallbacks:
    no documents, and the fault in ``info["sim_error"]``."""
    fault = getattr(error, "fault", None) or SimulatorFault(kind="backend", message=str(error))
    return SearchResult(documents=(), error=fault)


def policy_prompt(row: QARow, template: str | None = None) -> str:
    """The first observation of an episode on ``row``: ``template`` (a ``{question}``
    field) when given, else the row's own prompt, else the ZeroSearch template. Framework
    adapters build their datasets' prompts with it, so a prompt names its row."""
    if template is not None:
        return template.format(question=row.question.strip())
    return row.prompt or build_policy_prompt(row.question)
