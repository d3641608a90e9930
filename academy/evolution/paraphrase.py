"""Paraphrase practice: the region's logged queries, re-asked in the region's other phrasings.

A specialist that memorises its region's logged answers does not yet know them in another
phrasing. Seed 0's capitals specialist (the demo, night 6) trained 100 steps on 105 logged
capitals answers to a loss of 0.01, yet on 18 held-out capitals queries it was right on 6, although
12 of their countries were in its training set, each once or twice, in other words ("Tell me the
capital of Sweden." was held out; "What is the capital of Sweden?" and "Which city is the capital of
Sweden?" were trained; it answered "Sab Z").

The traffic itself shows which phrasings are the same question. A *frame* is a logged query with
one span of 1-``max_span`` tokens cut out ("Which city is the capital of _?"), its *fillers* the
spans that fill it in the logs ("Sweden", "the United Kingdom"). Two frequent frames are
paraphrases when the fillers logged under both got the same answer under both (``min_shared``
fillers, ``min_agreement`` of them): "What is _ plus 4?" and "Add _ and 4." agree, "Is _ larger
than 748?" and "Is _ smaller than 748?" do not. Every filler logged under one of two paraphrase
frames is then asked in the other, with the answer (and reasoning) it got: a practice example
derived from what Academy paid for, at no teacher cost, never from a template the traffic has
not shown. A practice query that is a held-out query is left out, so the gate still measures
queries the student never saw.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

TOKEN = re.compile(r"\w+|[^\w\s]")

Frame = tuple[str, str]  # the text before and after the cut span


@dataclass(frozen=True)
class Logged:
    """One logged query and the answer it was trained on (a practice row: ``source`` is the logged
    query whose answer it took)."""

    query: str
    answer: str
    reasoning: str | None = None
    source: str | None = None


def frames_of(query: str, max_span: int) -> Iterable[tuple[Frame, str]]:
    """Every (frame, filler) of ``query``: each span of 1..``max_span`` tokens cut out."""
    spans = [m.span() for m in TOKEN.finditer(query)]
    for i, (start, _) in enumerate(spans):
        for j in range(i, min(len(spans), i + max_span)):
            end = spans[j][1]
            yield (query[:start], query[end:]), query[start:end]


def _frequent_frames(
    rows: Sequence[Logged], max_span: int, min_fillers: int
) -> dict[Frame, dict[str, Logged]]:
    """Frames with at least ``min_fillers`` fillers, each filler -> the logged row that filled it."""
    counts: dict[Frame, set[str]] = defaultdict(set)
    for row in rows:
        for frame, filler in frames_of(row.query, max_span):
            counts[frame].add(filler)
    frequent_frames = {f for f, fill in counts.items() if len(fill) >= min_fillers}
    # each query fills only its most specific frequent frames (the shortest filler): "Reverse the word
    # answer." fills "Reverse the word _." with "answer", not "Reverse _." with "the word answer"
    # (which would make "Reverse the word the word answer.")
    filled: dict[Frame, dict[str, Logged]] = defaultdict(dict)
    for row in rows:
        mine = [(f, x) for f, x in frames_of(row.query, max_span) if f in frequent_frames]
        shortest = min((len(TOKEN.findall(x)) for _, x in mine), default=0)
        for frame, filler in mine:
            if len(TOKEN.findall(filler)) == shortest:
                filled[frame].setdefault(filler, row)
    return {f: fill for f, fill in filled.items() if len(fill) >= min_fillers}


def _paraphrase_pairs(
    frequent: dict[Frame, dict[str, Logged]], min_shared: int, min_agreement: float
) -> list[tuple[Frame, Frame]]:
    """Every ordered pair of distinct frames that are paraphrases, in sorted order."""
    frames = sorted(frequent)
    return [
        (f, g)
        for f in frames
        for g in frames
        if g != f and _agree(frequent[f], frequent[g], min_shared, min_agreement)
    ]


def _agree(a: dict[str, Logged], b: dict[str, Logged], min_shared: int, min_agreement: float) -> bool:
    shared = a.keys() & b.keys()
    if len(shared) < min_shared:
        return False
    same = sum(_norm(a[x].answer) == _norm(b[x].answer) for x in shared)
    return same / len(shared) >= min_agreement


def _norm(answer: str) -> str:
    return " ".join(answer.lower().split())


def paraphrases(
    rows: Sequence[Logged],
    exclude: Iterable[str] = (),
    max_span: int = 3,
    min_fillers: int = 3,
    min_shared: int = 2,
    min_agreement: float = 0.9,
    limit: int | None = None,
    key: Callable[[str], str] = str,
) -> list[Logged]:
    """Practice rows: every filler of a frame asked in each of its paraphrase frames where it was
    not logged, with the answer it got (pure, deterministic order). ``exclude``: query texts
    never produced (the held-out set), compared by ``key`` (e.g. a normalisation); ``limit``: at
    most this many rows, spread over the frames."""
    frequent = _frequent_frames(rows, max_span, min_fillers)
    pairs = _paraphrase_pairs(frequent, min_shared, min_agreement)
    skip = {key(r.query) for r in rows} | {key(q) for q in exclude}
    # a filler that got different answers under different phrasings is left alone (one was wrong)
    answers: dict[str, set[str]] = defaultdict(set)
    for frame in {f for pair in pairs for f in pair}:
        for filler, row in frequent[frame].items():
            answers[filler].add(_norm(row.answer))
    out: dict[str, Logged] = {}
    for f, g in pairs:
        for filler, row in sorted(frequent[f].items()):
            if len(answers[filler]) > 1:
                continue
            query = g[0] + filler + g[1]
            if key(query) not in skip and query not in out:
                out[query] = Logged(query, row.answer, row.reasoning, row.query)
    practice = list(out.values())
    if limit is not None and len(practice) > limit:
        step = len(practice) / limit
        practice = [practice[int(i * step)] for i in range(limit)]
    return practice
