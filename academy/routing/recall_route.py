"""The routed result of a recall (academy/routing/recall.py): one served answer, no model or judge
called, logged like any request so the store, the nights and the report see it (route ``recall``)."""

from __future__ import annotations

import time

import numpy as np

from academy.backends.base import Completion
from academy.routing.base import ModelAnswer, RouteRequest, RouteResult
from academy.routing.recall import RECALL, Recalled


def recall_result(
    request: RouteRequest, recalled: Recalled, embedding: np.ndarray, started: float
) -> RouteResult:
    """``recalled`` served to ``request`` at cost 0, under the model that first gave the answer
    (its version too), unjudged: its past judgement is not counted as new evidence twice."""
    latency = (time.perf_counter() - started) * 1000
    served = ModelAnswer(
        recalled.model,
        recalled.role,
        "serve",
        Completion(recalled.answer, 0, 0, latency, cost=0.0),
        version=recalled.version,
    )
    judged = "never judged" if recalled.score is None else f"judged {recalled.score:.2f} at worst"
    return RouteResult(
        request_id=request.request_id,
        route=RECALL,
        model=recalled.model,
        answer=recalled.answer,
        score=recalled.score,
        score_source="recall" if recalled.score is not None else "none",
        cost=0.0,
        latency_ms=latency,
        decision_ms=latency,
        max_similarity=1.0,
        estimates={},
        answers=[served],
        reason=f"exact repeat: the answer {recalled.model} gave before ({judged})",
        embedding=embedding,
    )
