"""The traffic store's records: what a caller hands :class:`~academy.store.TrafficStore` to write,
what a search returns, and how both are checked and turned into Arrow rows.

* :class:`QueryRecord`, :class:`AnswerRecord`, :class:`ScoreRecord`: the write API of the
  ``queries``, ``answers`` and ``scores`` tables; :class:`Neighbour`: one search result.
* :func:`prepare_request` / :func:`prepare_score` validate and normalise records before anything is
  written: ids and texts non-empty, an embedding of :data:`EMBEDDING_DIM` finite floats that is not
  all zeros, finite numbers, UTC timestamps, roles from :data:`ROLES`. A bad record raises
  :class:`StoreError` naming the field; nothing is ever coerced silently.
* :func:`model_key` names a judged answer ``model`` or ``model@version`` in ``judged_models``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from academy.store_schema import (
    ANSWER_SCHEMA,
    EMBEDDING_DIM,
    QUERY_SCHEMA,
    ROLES,
    VECTOR_COLUMN,
    StoreError,
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class QueryRecord:
    """One routed request: the write API for the ``queries`` table.

    ``judged_models`` / ``judged_scores`` are the judge scores known for this query's answers. Left
    empty, :meth:`TrafficStore.log` fills them from the answers that carry a ``judge_score``.
    """

    id: str
    tenant: str
    text: str
    embedding: np.ndarray | Sequence[float]
    route: str
    final_model: str
    final_answer: str
    total_cost: float = 0.0
    latency_ms: float = 0.0
    final_score: float | None = None
    domain: str | None = None
    judged_models: list[str] = field(default_factory=list)
    judged_scores: list[float] = field(default_factory=list)
    ts: datetime = field(default_factory=_now)


@dataclass
class AnswerRecord:
    """One model answer: the write API for the ``answers`` table.

    ``query_id`` and ``tenant`` default to the query's when logged with it; ``id`` defaults to
    ``f"{query_id}/{model}/{purpose}"`` so a retried log maps to the same row.
    """

    model: str
    role: str
    purpose: str
    text: str
    query_id: str = ""
    tenant: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    reasoning: str | None = None
    judge_score: float | None = None
    judge_name: str | None = None
    judge_cost: float = 0.0
    error: str | None = None
    ts: datetime = field(default_factory=_now)
    id: str = ""
    version: str | None = None
    confidence: float | None = None  # the model's own confidence in the answer (None: not given)


@dataclass
class ScoreRecord:
    """A judge score that arrived after its answer was logged (the nightly scorer)."""

    id: str  # the answer id
    query_id: str
    tenant: str
    model: str
    judge_score: float | None
    judge_name: str
    judge_cost: float = 0.0
    error: str | None = None
    ts: datetime = field(default_factory=_now)


def model_key(model: str, version: str | None) -> str:
    """How a judged answer is named in ``queries.judged_models``: ``name`` or ``name@version``.

    The router counts only evidence about the version it serves now, so a promoted student is not
    judged by its predecessor's mistakes.
    """
    return f"{model}@{version}" if version else model


def split_model_key(key: str) -> tuple[str, str | None]:
    """Inverse of :func:`model_key`."""
    model, _, version = key.partition("@")
    return model, version or None


@dataclass
class Neighbour:
    """A past query near the current one, with what is known about its answers."""

    id: str
    text: str
    similarity: float  # cosine similarity, 1 - cosine distance
    judged_models: list[str]
    judged_scores: list[float]
    final_model: str
    route: str


# ---- validation ----------------------------------------------------------------------------------


def require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{name} must be a non-empty string, got {value!r}")


def embedding_vector(embedding: object) -> np.ndarray:
    """A finite, non-zero float32 vector of EMBEDDING_DIM, or StoreError."""
    try:
        vector = np.asarray(embedding, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"embedding is not numeric: {exc}") from exc
    if vector.shape != (EMBEDDING_DIM,):
        raise StoreError(f"embedding must have shape ({EMBEDDING_DIM},), got {vector.shape}")
    if not np.isfinite(vector).all():
        raise StoreError("embedding contains NaN or infinite values")
    if not vector.any():
        raise StoreError("embedding is all zeros; cosine similarity is undefined")
    return vector


def _utc(ts: datetime, name: str) -> datetime:
    if not isinstance(ts, datetime):
        raise StoreError(f"{name} must be a datetime, got {ts!r}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _finite_or_none(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise StoreError(f"{name} must be a finite number or None, got {value!r}")
    return float(value)


def _finite(value: float, name: str) -> float:
    checked = _finite_or_none(value, name)
    if checked is None:
        raise StoreError(f"{name} must be a finite number, got None")
    return checked


def prepare_request(
    query: QueryRecord, answers: list[AnswerRecord]
) -> tuple[QueryRecord, list[AnswerRecord]]:
    """Validate and normalise one request; fills answer ids/tenants and the query's judged scores."""
    if not isinstance(query, QueryRecord):
        raise StoreError(f"expected a QueryRecord, got {type(query).__name__}")
    for name in ("id", "tenant", "route", "final_model"):
        require_text(getattr(query, name), f"query.{name}")
    for name in ("text", "final_answer"):
        if not isinstance(getattr(query, name), str):
            raise StoreError(f"query.{name} must be a string")
    fixed = [_prepare_answer(query, answer) for answer in answers]
    answer_ids = [a.id for a in fixed]
    if len(set(answer_ids)) != len(answer_ids):
        raise StoreError(f"query {query.id!r}: duplicate answer ids {answer_ids}")
    judged_models, judged_scores = list(query.judged_models), list(query.judged_scores)
    if not judged_models and not judged_scores:
        judged = [a for a in fixed if a.judge_score is not None and a.error is None]
        judged_models = [model_key(a.model, a.version) for a in judged]
        judged_scores = [float(a.judge_score) for a in judged]
    if len(judged_models) != len(judged_scores):
        raise StoreError(f"query {query.id!r}: judged_models and judged_scores differ in length")
    return (
        replace(
            query,
            embedding=embedding_vector(query.embedding),
            ts=_utc(query.ts, "query.ts"),
            total_cost=_finite(query.total_cost, "query.total_cost"),
            latency_ms=_finite(query.latency_ms, "query.latency_ms"),
            final_score=_finite_or_none(query.final_score, "query.final_score"),
            judged_models=[str(m) for m in judged_models],
            judged_scores=[_finite(s, "query.judged_scores[]") for s in judged_scores],
        ),
        fixed,
    )


def _prepare_answer(query: QueryRecord, answer: AnswerRecord) -> AnswerRecord:
    if not isinstance(answer, AnswerRecord):
        raise StoreError(f"expected an AnswerRecord, got {type(answer).__name__}")
    query_id, tenant = answer.query_id or query.id, answer.tenant or query.tenant
    if query_id != query.id or tenant != query.tenant:
        raise StoreError(f"answer {answer.model!r} belongs to {query_id!r}/{tenant!r}, not {query.id!r}")
    for name in ("model", "purpose"):
        require_text(getattr(answer, name), f"answer.{name}")
    if answer.role not in ROLES:
        raise StoreError(f"answer.role must be one of {ROLES}, got {answer.role!r}")
    if not isinstance(answer.text, str):
        raise StoreError("answer.text must be a string")
    for name in ("tokens_in", "tokens_out"):
        value = getattr(answer, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < 2**31:
            raise StoreError(f"answer.{name} must be a non-negative int32, got {value!r}")
    return replace(
        answer,
        id=answer.id or f"{query_id}/{answer.model}/{answer.purpose}",
        query_id=query_id,
        tenant=tenant,
        ts=_utc(answer.ts, "answer.ts"),
        cost=_finite(answer.cost, "answer.cost"),
        latency_ms=_finite(answer.latency_ms, "answer.latency_ms"),
        judge_score=_finite_or_none(answer.judge_score, "answer.judge_score"),
        judge_cost=_finite(answer.judge_cost, "answer.judge_cost"),
    )


def prepare_score(score: ScoreRecord) -> ScoreRecord:
    if not isinstance(score, ScoreRecord):
        raise StoreError(f"expected a ScoreRecord, got {type(score).__name__}")
    for name in ("id", "query_id", "tenant", "model", "judge_name"):
        require_text(getattr(score, name), f"score.{name}")
    return replace(
        score,
        ts=_utc(score.ts, "score.ts"),
        judge_score=_finite_or_none(score.judge_score, "score.judge_score"),
        judge_cost=_finite(score.judge_cost, "score.judge_cost"),
    )


# ---- Arrow conversion ----------------------------------------------------------------------------


def embeddings_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """(n, 384) float32 -> the Arrow column type of ``queries.embedding`` (zero-copy)."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, EMBEDDING_DIM)


def queries_arrow(queries: list[QueryRecord]) -> pa.Table:
    columns: dict[str, Any] = {
        name: [getattr(q, name) for q in queries] for name in QUERY_SCHEMA.names if name != VECTOR_COLUMN
    }
    columns[VECTOR_COLUMN] = embeddings_array(np.stack([np.asarray(q.embedding) for q in queries]))
    return pa.table({name: columns[name] for name in QUERY_SCHEMA.names}, schema=QUERY_SCHEMA)


def answers_arrow(answers: list[AnswerRecord]) -> pa.Table:
    columns = {name: [getattr(a, name) for a in answers] for name in ANSWER_SCHEMA.names}
    return pa.table(columns, schema=ANSWER_SCHEMA)


def neighbour_from_row(row: dict[str, Any]) -> Neighbour:
    similarity = min(1.0, max(-1.0, 1.0 - float(row["_distance"])))
    return Neighbour(
        id=row["id"],
        text=row["text"],
        similarity=similarity,
        judged_models=list(row["judged_models"] or []),
        judged_scores=[float(s) for s in row["judged_scores"] or []],
        final_model=row["final_model"],
        route=row["route"],
    )
