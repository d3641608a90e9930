"""Recording what the ``academy`` router did: one query row and its answer rows per request,
written through the write-ahead traffic log when there is one, else straight to the store.

Guarantees: with a traffic log, :func:`record` returns only once the record is in the log's file,
so an acknowledged request survives a crash or a store outage (the log's writer stores it); without
one, a final record is stored by a background task after the response. A preliminary record
(``final=False``) is only ever written to the traffic log, which replaces it with the final one.
"""

from __future__ import annotations

import asyncio

import numpy as np

from academy.routing.base import ModelAnswer, Router, RouteRequest, RouteResult
from academy.routing.evidence import Judged
from academy.store import AnswerRecord, QueryRecord


async def record(router: Router, query: QueryRecord, rows: list[AnswerRecord], *, final: bool) -> None:
    """Log one request's rows for ``router``. With a traffic log, the record is in its file when this
    returns (so an acknowledged request survives a crash or a store outage) and the store write
    happens in its writer; without one, a final record is stored by a background task after the
    response."""
    if router.traffic_log is not None:
        await router.traffic_log.append(query, rows, final=final)
    elif final:
        router.spawn(_store_now(router, query, rows))


async def _store_now(router: Router, query: QueryRecord, rows: list[AnswerRecord]) -> None:
    await asyncio.to_thread(router.store.log, query, rows)
    router.maintain_when_due()


def request_records(
    request: RouteRequest, embedding: np.ndarray, result: RouteResult, answers: list[ModelAnswer]
) -> tuple[QueryRecord, list[AnswerRecord]]:
    """One query row and its answer rows; the store derives answer ids and the judged scores."""
    query = QueryRecord(
        id=request.request_id,
        tenant=request.tenant,
        text=request.query,
        embedding=np.asarray(embedding, dtype=np.float32),
        route=result.route,
        final_model=result.model,
        final_answer=result.answer,
        final_score=next((a.score for a in answers if a.purpose == "serve"), None),
        total_cost=sum(a.cost for a in answers),
        latency_ms=result.latency_ms,
        domain=request.domain,
    )
    return query, [answer_record(a) for a in answers]


def answer_record(answer: ModelAnswer) -> AnswerRecord:
    """The ``answers`` row of one model answer, with its judgement's score, judge and cost."""
    completion, judgement = answer.completion, answer.judgement
    return AnswerRecord(
        model=answer.model,
        role=answer.role,
        purpose=answer.purpose,
        text=completion.text,
        reasoning=completion.reasoning,
        tokens_in=completion.tokens_in,
        tokens_out=completion.tokens_out,
        cost=completion.cost or 0.0,
        latency_ms=completion.latency_ms,
        judge_score=answer.score,
        judge_name=judgement.judge if judgement else None,
        judge_cost=judgement.cost if judgement else 0.0,
        error=completion.error or (judgement.error if judgement else None),
        version=answer.version,
        confidence=completion.confidence,
    )


def judged_row(request: RouteRequest, answer: ModelAnswer, embedding: np.ndarray) -> Judged:
    """A judged answer as routing evidence, with the confidence its model gave it."""
    return Judged(
        request.tenant,
        answer.model,
        answer.version,
        embedding,
        answer.score,
        confidence=answer.completion.confidence,
    )
