"""The synthetic world's questions as HotpotQA rows: each with its own paragraphs.

HotpotQA's distractor setting ships every question with ten paragraphs: the ones that
hold the facts it rests on (its ``supporting_facts``) and distractors retrieved for the
question. This module writes the world's questions the same way, so the ``context``
search engine (and anything else that reads HotpotQA json) runs offline on the built-in
world: for each hop the document of its subject that states its answer is supporting,
and the best BM25 matches for the question with other titles are the distractors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ...reward import contains_answer
from .world import SyntheticWorld

_TITLED = re.compile(r'^"([^"]+)"\n(.*)$', re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _paragraph(contents: str) -> tuple[str, list[str]]:
    """A corpus document as HotpotQA's ``[title, [sentences]]``."""
    match = _TITLED.match(contents)
    title, text = (match.group(1), match.group(2)) if match else ("", contents)
    return title, [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]


def hotpotqa_records(world: SyntheticWorld, split: str = "test", distractors: int = 8) -> list[dict[str, Any]]:
    """The questions of ``split`` as HotpotQA json records (``_id``, ``question``,
    ``answer``, ``type``, ``context``, ``supporting_facts``); deterministic for a world."""
    from ...simulators.ranking import index_texts, query_words, top_documents

    paragraphs = [_paragraph(d.contents) for d in world.documents]
    by_title: dict[str, list[int]] = {}
    for i, (title, _) in enumerate(paragraphs):
        by_title.setdefault(title, []).append(i)
    bm25 = index_texts([d.contents for d in world.documents])
    records = []
    for question in world.records(split):
        supporting: list[int] = []
        for hop in question.hops:
            found = next((i for i in by_title.get(hop.subject, []) if contains_answer(world.documents[i].contents, [hop.answer])), None)
            if found is not None and found not in supporting:
                supporting.append(found)
        titles = {paragraphs[i][0] for i in supporting}
        chosen: list[int] = []
        for i in top_documents(bm25, query_words([question.row.question])[0], 10 * distractors + 10):
            if paragraphs[i][0] not in titles and len(chosen) < distractors:
                titles.add(paragraphs[i][0])
                chosen.append(i)
        context = [[paragraphs[i][0], paragraphs[i][1]] for i in supporting + chosen]
        facts = [[paragraphs[i][0], k] for i in supporting for k, s in enumerate(paragraphs[i][1]) if contains_answer(s, [h.answer for h in question.hops])]
        row = question.row
        records.append(
            {"_id": row.id, "question": row.question, "answer": row.golden_answers[0], "type": row.data_source.removeprefix("synthetic-"),
             "context": context, "supporting_facts": facts}
        )  # fmt: skip
    return records


def write_hotpotqa(world: SyntheticWorld, path: str | Path, split: str = "test", distractors: int = 8) -> Path:
    """Write :func:`hotpotqa_records` as a HotpotQA json file (a list of records)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(hotpotqa_records(world, split, distractors), ensure_ascii=False) + "\n")
    return out
