"""Recall: serve an exact repeat of a logged query the answer Academy already paid for.

Real traffic repeats itself (the same FAQ, the same lookup, the same "what comes after M"); a model
that has been asked and judged once need not be asked again. A query whose normalised text (case and
whitespace ignored) matches a logged query of the same tenant is served a logged answer when that
answer is known to be good:

* judged, and every judge that scored it gave at least ``min_score`` (one low score and that text is
  never recalled again: a judgement can only take an answer out of recall, never bring a bad one in), or
* served by the teacher and never judged (``trust_teacher``): it is the answer always-teacher would
  have given, at the teacher's own quality.

Among good answers the best judged one wins (an unjudged teacher answer ranks as ``min_score``).
A recalled answer costs nothing: no model and no judge is called, so it costs what routing's own
lookup costs, which no route is charged for. Unlike the gateway's exact cache
(academy/gateway/cache.py: the first answer, in memory, for an hour), recall lives in the traffic
store, survives restarts, spans days, and knows each answer's judgements. Only text that traffic
carried is compared: nothing simulated reaches it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from academy.config import RecallConfig
from academy.store import TrafficStore

RECALL = "recall"  # the route of a recalled request


def normalise(text: str) -> str:
    """Case and whitespace do not change an answer; anything else might."""
    return " ".join(text.lower().split())


@dataclass
class _Candidate:
    """One distinct answer text logged for a query text, and what is known of it."""

    model: str
    role: str
    version: str | None
    min_score: float | None = None  # the lowest judgement it received; None: never judged
    from_teacher: bool = False
    seen: float = 0.0  # when it was last logged, epoch seconds (max_age_hours)


@dataclass(frozen=True)
class Recalled:
    """What a hit serves: ``answer`` as first given by ``model`` (``version``), and its judged score."""

    answer: str
    model: str
    role: str
    version: str | None
    score: float | None


class RecallIndex:
    """Per tenant: normalised query text -> the distinct answers logged for it (bounded, LRU)."""

    def __init__(self, config: RecallConfig) -> None:
        self.config = config
        self._tenants: dict[str, OrderedDict[str, dict[str, _Candidate]]] = {}

    def __len__(self) -> int:
        return sum(len(t) for t in self._tenants.values())

    def add(
        self,
        tenant: str,
        query: str,
        answer: str,
        model: str,
        role: str,
        version: str | None,
        score: float | None,
        when: float | None = None,
    ) -> None:
        """One logged answer (and its judgement, if any). Failed or empty answers are not added."""
        if not answer.strip():
            return
        entries = self._tenants.setdefault(tenant, OrderedDict())
        key = normalise(query)
        answers = entries.setdefault(key, {})
        entries.move_to_end(key)
        while len(entries) > self.config.max_entries:
            entries.popitem(last=False)
        candidate = answers.setdefault(answer, _Candidate(model, role, version))
        if score is not None:
            candidate.min_score = score if candidate.min_score is None else min(candidate.min_score, score)
        if role == "teacher":
            candidate.from_teacher = True
            candidate.model, candidate.role, candidate.version = model, role, version
        candidate.seen = max(candidate.seen, time.time() if when is None else when)

    def add_answers(self, tenant: str, query: str, answers: Iterable[Any]) -> None:
        """A logged request's answers (``ModelAnswer``: text, model, role, version, score), failed ones skipped."""
        for a in answers:
            if not a.completion.error:
                self.add(tenant, query, a.completion.text, a.model, a.role, a.version, a.score)

    def lookup(self, tenant: str, query: str, allowed: Container[str] | None = None) -> Recalled | None:
        """The best good answer logged for ``query``'s text by a model in ``allowed``, else None."""
        answers = self._tenants.get(tenant, {}).get(normalise(query))
        if not answers:
            return None
        cfg = self.config
        oldest = time.time() - cfg.max_age_hours * 3600 if cfg.max_age_hours is not None else None
        best: tuple[float, Recalled] | None = None
        for text, c in answers.items():
            if allowed is not None and c.model not in allowed:
                continue
            if oldest is not None and c.seen < oldest:
                continue
            if c.min_score is not None:
                if c.min_score < cfg.min_score:
                    continue
                rank = c.min_score
            elif c.from_teacher and cfg.trust_teacher:
                rank = cfg.min_score
            else:
                continue
            if best is None or rank > best[0]:
                best = (rank, Recalled(text, c.model, c.role, c.version, c.min_score))
        return best[1] if best else None


def load_from_store(store: TrafficStore, index: RecallIndex) -> int:
    """Every answer the store holds, with its online and late judgements, into ``index``; returns
    how many answer rows were read."""
    queries = store.queries_frame(columns=["id", "tenant", "text", "route"])
    if queries.empty:
        return 0
    answers = store.answers_frame(
        columns=["id", "query_id", "ts", "model", "role", "version", "text", "judge_score", "error"]
    )
    answers = answers[answers["error"].isna()]
    late = store.scores_frame(columns=["id", "judge_score", "error"])
    late = late[late["judge_score"].notna() & late["error"].isna()]
    lowest_late = late.groupby("id")["judge_score"].min().to_dict()
    text_of = dict(zip(queries["id"], zip(queries["tenant"], queries["text"])))
    # a recalled answer's row brings its judgements, not a fresher date: serving is not re-answering
    recalled = set(queries.loc[queries["route"] == RECALL, "id"])
    for r in answers.sort_values("ts", kind="stable").itertuples(index=False):
        if r.query_id not in text_of:
            continue
        tenant, query = text_of[r.query_id]
        scores = [s for s in (r.judge_score, lowest_late.get(r.id)) if s is not None and not pd.isna(s)]
        version = None if pd.isna(r.version) else str(r.version)
        when = 0.0 if r.query_id in recalled else pd.Timestamp(r.ts).timestamp()
        for score in scores or [None]:
            index.add(tenant, query, r.text, r.model, r.role, version, score, when)
    return len(answers)
