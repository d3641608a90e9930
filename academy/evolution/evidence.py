"""Evaluation evidence for the router: a promoted version's held-out answers, logged as traffic.

The router estimates a model's quality from judged neighbours, and it ignores scores earned by
other versions of that model (``academy.store.model_key``). A freshly promoted version would
therefore have no evidence and never be chosen until shadowing caught up. So after promotion its
held-out evaluation answers are appended to the store as query rows with route ``evaluation``
(same tenant, text and embedding as the original query), each judged by exact match against the
winning answer. Snapshots drop these rows: they are evidence, not traffic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from academy.evolution.snapshot import EVALUATION_ROUTE
from academy.store import AnswerRecord, QueryRecord, TrafficStore

EVIDENCE_JUDGE = "nightly-eval"


def log_evaluation_evidence(
    store: TrafficStore,
    queries: pd.DataFrame,
    model: str,
    role: str,
    version: str,
    predictions: dict[str, str],
    scores: dict[str, float],
    confidences: dict[str, float] | None = None,
) -> int:
    """Append one evaluation row per held-out query the version answered, with the version's
    confidence in each answer where it gave one; returns rows written."""
    confidences = confidences or {}
    rows = queries[queries["id"].isin(scores)].sort_values("id")
    items = []
    for row in rows.itertuples(index=False):
        score = float(scores[row.id])
        query = QueryRecord(
            id=f"{EVALUATION_ROUTE}:{model}:{version}:{row.id}",
            tenant=row.tenant,
            text=row.text,
            embedding=np.asarray(row.embedding, dtype=np.float32),
            route=EVALUATION_ROUTE,
            final_model=model,
            final_answer=predictions[row.id],
            final_score=score,
            domain=row.domain,
        )
        answer = AnswerRecord(
            model=model,
            role=role,
            purpose=EVALUATION_ROUTE,
            text=predictions[row.id],
            judge_score=score,
            judge_name=EVIDENCE_JUDGE,
            version=version,
            confidence=confidences.get(row.id),
        )
        items.append((query, [answer]))
    return store.log_many(items)
