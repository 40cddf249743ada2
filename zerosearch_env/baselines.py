"""A scripted agent: the no-LLM baseline that plays the environment through text only.

Why: a demo and a test need an agent that searches, reads and answers like a policy
would, without a model download. :class:`ScriptedAgent` sees only observation strings
(the policy prompt, then ``<information>`` blocks) and writes only action strings; it
never sees golden answers or the world object. What it knows is the *phrasing* of the
built-in synthetic world (question templates, sentence cues such as "was founded by"),
so it is a fair reader of that world and a weak one anywhere else.

How it plays, in three transparent steps:

1. Parse the question into a plan: one lookup ("Who founded X?" -> founder of X), a
   chain ("In which city was the founder of X born?" -> founder of X, then birthplace
   of that person), or a comparison (look up the year of A and of B, pick one).
2. For each lookup, search ``"<subject> <relation words>"`` and read the documents:
   in sentences that mention the subject (or in documents titled with it) take the
   candidate of the right type (a year, a two-word person name, a place, a company
   name, ...) nearest to a cue phrase of the relation. Candidates vote, weighted by
   document rank. Facts already read are reused, so a chain can skip a search.
3. Answer the best candidate; with nothing found, fall back to a typed guess.

With useful documents it answers most questions; with noisy ones (answer-bearing
documents removed) it is reduced to guessing, which is the gap the curriculum exploits.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .protocol import POLICY_PROMPT_TEMPLATE, answer_action, question_from_prompt, read_documents, search_action, think

# ----------------------------------------------------------------------------- reading

_PROMPT_HEAD = POLICY_PROMPT_TEMPLATE.split("{question}")[0][:60]
_TITLED = re.compile(r'^"([^"]+)"\s*(.*)$', re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPAN = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*")
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b")
_NUMBER = re.compile(r"\b\d+\b")
# Company-name endings used by the synthetic world (kept in step by a test).
COMPANY_SUFFIXES: frozenset[str] = frozenset(
    "Shipyards Mills Systems Minerals Press Breweries Aeronautics Laboratories Railways Glassworks Bank Steelworks Industries Holdings Group Works".split()
)
# Capitalised words that open sentences but never start a name.
_NOT_NAMES = frozenset(
    "The In By On At A An It Its This That These Records Principal Settlers Cities Further Accounts Students "
    "Colleagues Letters Staff Critics Barges Born With From For".split()
)


@dataclass(frozen=True)
class _Span:
    text: str
    kind: str  # "person", "place", "company", "river", "film", "year", "number", "other"
    start: int
    end: int


def _spans(sentence: str) -> list[_Span]:
    """Typed candidates: capitalised runs classified by shape, years and numbers.

    >>> [(s.text, s.kind) for s in _spans("The founder of Karvex Mills was Valora Kestin in 1932.")]
    [('Karvex Mills', 'company'), ('Valora Kestin', 'person'), ('1932', 'year')]
    """
    out = []
    for match in _SPAN.finditer(sentence):
        words = match.group().split()
        while words and words[0] in _NOT_NAMES and not (words[0] == "The" and _is_title(words)):
            words = words[1:]
        if not words:
            continue
        if words[-1] == "River":
            kind, words = "river", words[1:] if words[0] == "The" else words
        elif words[-1] in COMPANY_SUFFIXES and len(words) >= 2:
            kind = "company"
        elif words[0] == "The":
            kind = "film"
        else:
            kind = {1: "place", 2: "person"}.get(len(words), "other")
        text = " ".join(words)
        out.append(_Span(text, kind, match.end() - len(text), match.end()))
    for match in _YEAR.finditer(sentence):
        out.append(_Span(match.group(), "year", match.start(), match.end()))
    for match in _NUMBER.finditer(sentence):
        if not _YEAR.fullmatch(match.group()):
            out.append(_Span(match.group(), "number", match.start(), match.end()))
    return sorted(out, key=lambda s: s.start)


def _is_title(words: list[str]) -> bool:
    """'The Silent Varro' is a film title; 'The capital' is not a name at all."""
    return len(words) >= 3 or (len(words) >= 2 and words[-1] == "River")


@dataclass(frozen=True)
class _Doc:
    title: str
    sentences: tuple[str, ...]
    rank: int  # 1 = first document of its search


def titled_documents(observation: str) -> list[tuple[str, str]]:
    """(title, text) of each document of an observation; untitled documents get "".

    >>> titled_documents('<information>Doc 1: "Karvex Mills" Karvex Mills is a textiles company.</information>')
    [('Karvex Mills', 'Karvex Mills is a textiles company.')]
    """
    out = []
    for document in read_documents(observation):
        titled = _TITLED.match(document)
        out.append((titled.group(1), titled.group(2)) if titled else ("", document))
    return out


# ----------------------------------------------------------------------------- relations


@dataclass(frozen=True)
class _Relation:
    """What a lookup asks for: the answer's type, the cue phrases that state it, and the
    words to add to the subject in a search query."""

    kind: str  # a _Span kind, or "phrase" for lower-case answers matched by `patterns`
    cues: str = ""
    query: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


_BORN = r"\bborn\b|\bnative of\b|\bbirthplace\b"
RELATIONS: dict[str, _Relation] = {
    "birth_city": _Relation("place", _BORN, ("born birthplace", "native of")),
    "birth_year": _Relation("year", _BORN, ("born year", "born")),
    "occupation": _Relation("phrase", query=("occupation profession", "worked as"), patterns=(r"\b(?:as|was) an? ([a-z]+(?: [a-z]+)?)\.",)),
    "employer": _Relation("company", r"\bemployed\b|\bcareer at\b|\bworked for\b", ("employed by company", "career at")),
    "founder": _Relation("person", r"\bfounded\b|\bfounder\b|\bestablished\b", ("founder founded by", "established")),
    "founded_year": _Relation("year", r"\bfounded\b|\bfounding\b|\bestablished\b|\bsince\b", ("founded year", "established")),
    "hq_city": _Relation("place", r"\bheadquarter|\bbased in\b", ("headquartered headquarters", "based in city")),
    "industry": _Relation(
        "phrase",
        query=("industry", "company"),
        patterns=(r"\bin the ([a-z]+) industry\b", r"\bis an? ([a-z]+) company\b", r"\bmade its name in ([a-z]+)\b"),
    ),
    "director": _Relation("person", r"\bdirected\b|\bdirector\b", ("film directed by director", "director")),
    "release_year": _Relation("year", r"\breleased\b|\bpremiered\b|\bcinemas\b", ("film released premiered", "released")),
    "filming_city": _Relation("place", r"\bfilmed\b|\bshot\b|\bphotography\b", ("filmed shot location", "photography")),
    "country": _Relation("place", r"\bcity in\b|\blocated in\b|\bcountry of\b|\bcapital of\b|\bcities of\b", ("city country located", "country")),
    "river": _Relation("river", r"\bbanks of\b|\balong\b|\bruns through\b", ("river banks", "river")),
    "capital": _Relation("place", r"\bcapital\b", ("capital", "capital city")),
    "length_km": _Relation("number", r"\bkilometres\b|\bkm\b|\blength\b", ("length kilometres", "long km")),
    "river_country": _Relation("place", r"\bflows through\b|\briver in\b|\bcountry of\b", ("river flows through country", "country")),
    "unknown": _Relation("any", query=("",)),
}

_S = r"(?P<s>.+?)"
# (question pattern, relations applied in order to the subject)
_QUESTIONS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(f"^{pattern}$"), relations)
    for pattern, relations in (
        (rf"In which country was the film {_S} (?:shot|filmed)\?", ("filming_city", "country")),
        (rf"In which country was {_S} born\?", ("birth_city", "country")),
        (rf"(?:In which city was|Where was) {_S} born\?", ("birth_city",)),
        (rf"(?:In what year was|When was) {_S} born\?", ("birth_year",)),
        (rf"What was the occupation of {_S}\?", ("occupation",)),
        (rf"What did {_S} do for a living\?", ("occupation",)),
        (rf"Which company did {_S} work for\?", ("employer",)),
        (rf"Which company employed {_S}\?", ("employer",)),
        (rf"Who (?:founded|was the founder of) {_S}\?", ("founder",)),
        (rf"(?:In what year|When) was (?:the city of )?{_S} founded\?", ("founded_year",)),
        (rf"In which city is {_S} headquartered\?", ("hq_city",)),
        (rf"Where is {_S} based\?", ("hq_city",)),
        (rf"In which industry does {_S} operate\?", ("industry",)),
        (rf"What industry is {_S} in\?", ("industry",)),
        (rf"Who (?:directed the film|was the director of) {_S}\?", ("director",)),
        (rf"(?:In what year|When) was (?:the film )?{_S} released\?", ("release_year",)),
        (rf"In which city was (?:the film )?{_S} shot\?", ("filming_city",)),
        (rf"Where was {_S} filmed\?", ("filming_city",)),
        (rf"In which country is {_S} located\?", ("country",)),
        (rf"{_S} is a city in which country\?", ("country",)),
        (rf"(?:Which river flows through|On which river does) {_S}(?: lie)?\?", ("river",)),
        (rf"(?:What|Which city) is the capital of {_S}\?", ("capital",)),
        (rf"(?:How long is|What is the length of) the {_S} in kilometres\?", ("length_km",)),
        (rf"Through which country does the {_S} flow\?", ("river_country",)),
        (rf"In which country is the {_S}\?", ("river_country",)),
    )
)
# "the founder of X" inside a question is itself a lookup: the chain grows by one.
_INNER: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{pattern}$"), relation)
    for pattern, relation in (
        (rf"the founder of {_S}", "founder"),
        (rf"the director of the film {_S}", "director"),
        (rf"the company that {_S} worked for", "employer"),
        (rf"the country where {_S} is located", "country"),
        (rf"the city where {_S} is headquartered", "hq_city"),
    )
)
_COMPARISON = re.compile(r"^(?:Which|Who)\b(?P<head>[^,]*), (?:the )?(?P<a>.+?) or (?:the )?(?P<b>.+?)\?$")


def _comparison_relation(head: str) -> tuple[str, str] | None:
    """(relation, "min"/"max") from the words before the comma."""
    if "longer" in head:
        return "length_km", "max"
    pick = "max" if re.search(r"\b(later|last|younger|more recent)\b", head) else "min"
    for word, relation in (("born", "birth_year"), ("released", "release_year"), ("founded", "founded_year")):
        if word in head:
            return relation, pick
    return None


# ----------------------------------------------------------------------------- plans


@dataclass
class _Lookup:
    relation: str
    subject: str | None  # None: the answer of the previous lookup in the chain
    value: str | None = None
    searches: int = 0
    guessed: bool = False  # value is a fallback guess, not read next to a cue


@dataclass
class _Plan:
    lookups: list[_Lookup]
    compare: str | None = None  # "min"/"max" for a comparison of lookups[0] and lookups[1]
    options: tuple[str, ...] = ()


def plan_question(question: str) -> _Plan:
    """Turn a question into lookups.

    >>> [(l.relation, l.subject) for l in plan_question("In which city was the founder of Karvex Mills born?").lookups]
    [('founder', 'Karvex Mills'), ('birth_city', None)]
    >>> plan_question("Who was born earlier, Ana Vel or Bo Dun?").compare
    'min'
    """
    question = " ".join(question.split())
    match = _COMPARISON.match(question)
    if match and (found := _comparison_relation(match.group("head"))):
        relation, pick = found
        a, b = match.group("a"), match.group("b")
        return _Plan([_Lookup(relation, a), _Lookup(relation, b)], compare=pick, options=(a, b))
    for pattern, relations in _QUESTIONS:
        match = pattern.match(question)
        if match:
            return _Plan(_chain(match.group("s"), relations))
    return _Plan([_Lookup("unknown", question)])


def _chain(subject: str, relations: Sequence[str]) -> list[_Lookup]:
    for pattern, relation in _INNER:
        match = pattern.match(subject)
        if match:
            return _chain(match.group("s"), (relation, *relations))
    return [_Lookup(relations[0], subject)] + [_Lookup(r, None) for r in relations[1:]]


# ----------------------------------------------------------------------------- the agent


@dataclass
class _Episode:
    question: str
    plan: _Plan
    rng: random.Random
    docs: list[_Doc] = field(default_factory=list)
    searches: int = 0


class ScriptedAgent:
    """Rule-based searcher and reader for the synthetic world (see the module docstring).

    Args:
        max_searches: searches per episode at most; it answers on turn
            ``max_searches + 1`` at the latest.
        seed: breaks the ties it cannot decide from the documents (a comparison with a
            missing value). Each episode's choices depend only on ``seed`` and the
            observations, so the agent is deterministic.

    >>> from zerosearch_env.protocol import build_policy_prompt
    >>> agent = ScriptedAgent()
    >>> agent.reset()
    >>> agent.act(build_policy_prompt("Who founded Karvex Mills?"))
    '<think>I need the founder of Karvex Mills.</think>\\n<search> Karvex Mills founder founded by </search>'
    >>> agent.act('<information>Doc 1: "Karvex Mills" Karvex Mills was founded by Valora Kestin.</information>')
    '<think>The documents give the founder of Karvex Mills: Valora Kestin.</think>\\n<answer> Valora Kestin </answer>'
    """

    def __init__(self, max_searches: int = 3, seed: int | None = None):
        if not isinstance(max_searches, int) or isinstance(max_searches, bool) or max_searches < 0:
            raise ConfigError(f"ScriptedAgent.max_searches expects a non-negative int, got {max_searches!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ConfigError(f"ScriptedAgent.seed expects an int or None, got {seed!r}")
        self.max_searches = max_searches
        self.seed = seed
        self._episode: _Episode | None = None

    def reset(self) -> None:
        """Forget the current episode; the next observation must be a policy prompt."""
        self._episode = None

    def act(self, observation: str) -> str:
        """The next action (``<think>..</think>`` then ``<search>`` or ``<answer>``)."""
        if self._episode is None or observation.lstrip().startswith(_PROMPT_HEAD):
            question = question_from_prompt(observation) or observation.strip()
            rng = random.Random(f"{self.seed}:{question}")
            self._episode = _Episode(question, plan_question(question), rng)
        else:
            episode = self._episode
            new = titled_documents(observation)
            episode.docs.extend(_Doc(t, tuple(_SENTENCE_END.split(text)), rank) for rank, (t, text) in enumerate(new, 1))
        return self._next_action(self._episode)

    # -- decisions

    def _next_action(self, episode: _Episode) -> str:
        lookups = episode.plan.lookups
        for i, lookup in enumerate(lookups):
            if lookup.value is not None:
                continue
            subject = lookup.subject if lookup.subject is not None else lookups[i - 1].value
            if subject is None:
                break  # the chain is broken: answer with a guess
            lookup.value = _extract(lookup.relation, subject, episode.docs)
            if lookup.value is not None:
                continue
            untried_later = sum(1 for later in lookups[i + 1 :] if later.searches == 0)
            left = self.max_searches - episode.searches
            attempts = len(RELATIONS[lookup.relation].query)
            if lookup.searches < attempts and left > 0 and (lookup.searches == 0 or left > untried_later):
                return self._search(episode, lookup, subject)
            lookup.value = _guess(lookup.relation, subject, episode)
            lookup.guessed = True
            if lookup.value is None:
                break
        return self._answer(episode)

    def _search(self, episode: _Episode, lookup: _Lookup, subject: str) -> str:
        relation = RELATIONS[lookup.relation]
        words = relation.query[lookup.searches]
        query = f"{subject} {words}".strip()
        lookup.searches += 1
        episode.searches += 1
        what = "an answer to the question" if lookup.relation == "unknown" else f"the {_describe(lookup.relation)} of {subject}"
        return f"{think(f'I need {what}.')}\n{search_action(query)}"

    def _answer(self, episode: _Episode) -> str:
        plan = episode.plan
        if plan.compare is not None:
            answer, reason = _compare(plan, episode.rng)
        else:
            last = plan.lookups[-1]
            subject = last.subject if last.subject is not None else plan.lookups[-2].value
            answer = last.value or "unknown"
            if last.value is None:
                reason = "The documents do not say; I cannot find the answer."
            elif last.relation == "unknown" or any(lookup.guessed for lookup in plan.lookups):
                reason = f"The documents do not state it clearly; my best guess is {answer}."
            else:
                reason = f"The documents give the {_describe(last.relation)} of {subject}: {answer}."
        return f"{think(reason)}\n{answer_action(answer)}"


_DESCRIPTIONS = {"hq_city": "headquarters city", "river_country": "country", "length_km": "length in kilometres"}


def _describe(relation: str) -> str:
    return _DESCRIPTIONS.get(relation, relation.replace("_", " "))


def _compare(plan: _Plan, rng: random.Random) -> tuple[str, str]:
    (a, b), (la, lb) = plan.options, plan.lookups
    try:
        va, vb = int(la.value or ""), int(lb.value or "")
    except ValueError:
        pick = rng.choice(plan.options)
        return pick, f"I could not find both values, so I guess {pick}."
    if va == vb:
        pick = rng.choice(plan.options)
        return pick, f"Both have {va}; I guess {pick}."
    smaller = a if va < vb else b
    pick = smaller if plan.compare == "min" else (b if smaller == a else a)
    hedge = " (partly guessed)" if la.guessed or lb.guessed else ""
    return pick, f"{a}: {va}; {b}: {vb}{hedge}. So the answer is {pick}."


def _about(subject: str, docs: Sequence[_Doc]) -> list[tuple[str, float]]:
    """(sentence, weight) of the sentences that may state facts about ``subject``: all
    sentences of documents titled with it (weighted double), and any sentence naming it.
    Higher-ranked documents weigh more."""
    needle = re.compile(rf"(?<![\w]){re.escape(subject)}(?![\w])")
    out = []
    for doc in docs:
        own = doc.title == subject
        for sentence in doc.sentences:
            if own or needle.search(sentence):
                out.append((sentence, (2.0 if own else 1.0) / doc.rank))
    return out


def _candidates(relation: str, subject: str, sentence: str) -> list[tuple[str, int]]:
    """(candidate, distance to the nearest cue) of the relation's type in a sentence."""
    spec = RELATIONS[relation]
    if spec.kind == "phrase":
        return [(m.group(1), 0) for p in spec.patterns for m in re.finditer(p, sentence)]
    cues = [m.span() for m in re.finditer(spec.cues, sentence)] if spec.cues else [(0, 0)]
    if not cues:
        return []
    skip = [m.span() for m in re.finditer(re.escape(subject), sentence)]
    out = []
    for span in _spans(sentence):
        if span.kind != spec.kind and spec.kind != "any":
            continue
        if any(span.start < end and start < span.end for start, end in skip):
            continue
        distance = min(min(abs(span.start - cue_end), abs(cue_start - span.end)) for cue_start, cue_end in cues)
        out.append((span.text, distance))
    return out


def _extract(relation: str, subject: str, docs: Sequence[_Doc]) -> str | None:
    """The best-supported answer stated next to a cue of the relation, or None."""
    if relation == "unknown":
        return None
    votes: dict[str, float] = {}
    for sentence, weight in _about(subject, docs):
        found = _candidates(relation, subject, sentence)
        if found:
            best, _ = min(found, key=lambda c: c[1])
            votes[best] = votes.get(best, 0.0) + weight
    return max(votes, key=votes.__getitem__) if votes else None


def _guess(relation: str, subject: str, episode: _Episode) -> str | None:
    """Without a cue: the most frequent candidate of the right type near the subject,
    else anywhere in what was read (a wrong answer is still an answer)."""
    kind = RELATIONS[relation].kind
    if kind == "phrase":
        return None
    question_words = set(episode.question.split())
    votes: dict[str, float] = {}
    sentences = _about(subject, episode.docs) or [(s, 1.0 / d.rank) for d in episode.docs for s in d.sentences]
    for sentence, weight in sentences:
        for span in _spans(sentence):
            if (kind == "any" and span.kind in ("year", "number")) or (kind != "any" and span.kind != kind):
                continue
            if span.text == subject or set(span.text.split()) <= question_words:
                continue
            votes[span.text] = votes.get(span.text, 0.0) + weight
    return max(votes, key=votes.__getitem__) if votes else None
