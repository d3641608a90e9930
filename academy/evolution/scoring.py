"""Scoring the night's traffic: judge what the router served unjudged, then aggregate.

The router judges only novel fan-outs, shadows and explorations online; familiar answers are
served unjudged to save supervisor calls. At night they are judged in batches (the scores go to
the store's append-only ``scores`` table) so gap mining sees how every model really did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from academy.backends.reference import unit_draw
from academy.evolution.snapshot import EVALUATION_ROUTE, UNKNOWN_DOMAIN, Snapshot
from academy.judges import Judge, JudgeRequest
from academy.judges.delegation import JudgePanel
from academy.store import VECTOR_COLUMN, ScoreRecord, TrafficStore

AGGREGATE_KEYS = ["model", "domain", "cluster"]


@dataclass(frozen=True)
class ScoringSummary:
    judged: int
    failed: int
    judge_cost: float
    supervisor_calls: int = 0  # of judged + failed, those the supervisor made (the rest: delegated)


@dataclass(frozen=True)
class JudgedShard:
    """One shard's judgements, not stored yet, and the supervisor's name (to count its calls)."""

    records: list[ScoreRecord]
    supervisor: str


def unscored_answers(store: TrafficStore) -> pd.DataFrame:
    """Answers with no score (online or late) and no error, with their query text."""
    answers = store.answers_frame()
    queries = store.queries_frame()[["id", "text", "route"]].rename(columns={"id": "query_id"})
    scored_late = set(store.scores_frame()["id"])
    todo = answers[answers["judge_score"].isna() & answers["error"].isna() & ~answers["id"].isin(scored_late)]
    todo = todo.merge(queries, on="query_id", how="inner")
    return todo[todo["route"] != EVALUATION_ROUTE].sort_values("id").reset_index(drop=True)


def monitored(answer_ids: pd.Series, sample_rate: float, seed: int) -> pd.Series:
    """Which answers sampled monitoring judges: a deterministic draw per answer id, so an answer
    left out tonight is never drawn again (and never paid for) on a later night."""
    if sample_rate >= 1.0:
        return pd.Series(True, index=answer_ids.index)
    return answer_ids.map(lambda i: unit_draw(seed, i, "monitor") < sample_rate).astype(bool)


def scoring_todo(store: TrafficStore, sample_rate: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """The unscored answers the scorer judges tonight (a ``sample_rate`` share of them), grouped
    by query: a delegated query's answers are judged together, with each other as context."""
    todo = unscored_answers(store)
    todo = todo[monitored(todo["id"], sample_rate, seed)] if len(todo) else todo
    return todo.sort_values(["query_id", "id"]).reset_index(drop=True)


def shard_by_query(todo: pd.DataFrame, shards: int) -> list[pd.DataFrame]:
    """``todo`` cut into at most ``shards`` parts of whole queries: the units the nightly flow
    judges as parallel tasks. Empty parts are left out."""
    queries = todo["query_id"].unique()
    parts = np.array_split(queries, min(shards, len(queries))) if len(queries) else []
    return [todo[todo["query_id"].isin(set(part))].reset_index(drop=True) for part in parts]


def judge_rows(
    store: TrafficStore,
    judge: Judge,
    rows: pd.DataFrame,
    batch_size: int,
    panel: JudgePanel | None = None,
    on_batch: Callable[[list[ScoreRecord]], Any] | None = None,
) -> list[ScoreRecord]:
    """Judge ``rows`` (from ``scoring_todo``) in batches; ``on_batch`` sees each batch's records.
    With a ``panel`` holding a delegation state, each query's answers go to whoever judges its
    neighbourhood (a delegated candidate, an audit or the supervisor)."""
    delegated = panel is not None and panel.state is not None and len(rows) > 0
    context = _query_context(store, set(rows["query_id"])) if delegated else {}
    records: list[ScoreRecord] = []
    for start in range(0, len(rows), batch_size):
        batch = rows.iloc[start : start + batch_size]
        judged = asyncio.run(
            _judge_by_query(panel, batch, context) if delegated else _judge_batch(judge, batch)
        )
        if on_batch is not None:
            on_batch(judged)
        records += judged
    return records


def summarise(records: list[ScoreRecord], supervisor: str) -> ScoringSummary:
    """Judged / failed / cost / supervisor calls (judgements by ``supervisor``, the rest delegated)."""
    failed = sum(r.judge_score is None for r in records)
    supervised = sum(r.judge_name == supervisor for r in records)
    return ScoringSummary(
        len(records) - failed, failed, float(sum(r.judge_cost for r in records)), supervised
    )


def score_unscored(
    store: TrafficStore,
    judge: Judge,
    batch_size: int,
    sample_rate: float = 1.0,
    seed: int = 0,
    panel: JudgePanel | None = None,
) -> ScoringSummary:
    """Judge the unscored answers in one process, storing each batch's scores as it is judged (a
    crash keeps what was paid for). The nightly flow shards the same work across tasks instead."""
    todo = scoring_todo(store, sample_rate, seed)
    return summarise(judge_rows(store, judge, todo, batch_size, panel, store.log_scores), judge.name)


async def _judge_batch(judge: Judge, batch: pd.DataFrame) -> list[ScoreRecord]:
    rows = list(_rows(batch))
    requests = [JudgeRequest(row.text, row.answer_text, row.model) for row in rows]
    return _records(rows, await judge.ajudge(requests), judge.name)


def _query_context(store: TrafficStore, query_ids: set[str]) -> dict[str, tuple[np.ndarray, dict[str, str]]]:
    """query id -> (its embedding, every answer without error: model -> text)."""
    queries = store.queries_frame()
    queries = queries[queries["id"].isin(query_ids)]
    answers = store.answers_frame()
    answers = answers[answers["query_id"].isin(query_ids) & answers["error"].isna()]
    texts = {q: dict(zip(g["model"], g["text"])) for q, g in answers.groupby("query_id")}
    return {
        q: (np.asarray(e, dtype=np.float32), texts.get(q, {}))
        for q, e in zip(queries["id"], queries[VECTOR_COLUMN])
    }


async def _judge_by_query(
    panel: JudgePanel, batch: pd.DataFrame, context: dict[str, tuple[np.ndarray, dict[str, str]]]
) -> list[ScoreRecord]:
    records = []
    for query_id, group in batch.groupby("query_id", sort=False):
        embedding, texts = context.get(query_id, (None, {}))
        rows = list(_rows(group))
        requests = [
            JudgeRequest(
                row.text, row.answer_text, row.model, peers={m: t for m, t in texts.items() if m != row.model}
            )
            for row in rows
        ]
        judgements = await panel.ajudge(requests, embedding, f"{query_id}:night")
        records += _records(rows, judgements, panel.supervisor.name)
    return records


def _records(rows: list, judgements: list, default_name: str) -> list[ScoreRecord]:
    return [
        ScoreRecord(
            id=row.id,
            query_id=row.query_id,
            tenant=row.tenant,
            model=row.model,
            judge_score=j.score,
            judge_name=j.judge or default_name,
            judge_cost=j.cost,
            error=j.error,
        )
        for row, j in zip(rows, judgements)
    ]


def _rows(batch: pd.DataFrame):
    return batch.rename(columns={"text_x": "answer_text", "text_y": "text"}).itertuples(index=False)


def winners(answers: pd.DataFrame) -> pd.DataFrame:
    """Per answer: ``won`` = its score is the best among the judged answers of its query (ties win)
    and at least one other answer was judged, so a lone answer is not a win."""
    judged = answers[answers["judge_score"].notna() & answers["error"].isna()].copy()
    best = judged.groupby("query_id")["judge_score"].transform("max")
    count = judged.groupby("query_id")["judge_score"].transform("size")
    judged["contested"] = count > 1
    judged["won"] = judged["contested"] & (judged["judge_score"] >= best - 1e-9)
    return judged


def aggregate(snapshot: Snapshot, clusters: pd.Series) -> pd.DataFrame:
    """Per model x domain x cluster: volume, judged, mean score, win rate, cost share, supervisor calls.

    ``clusters`` maps query id -> cluster. Win rate counts only contested queries (two or more
    judged answers). Cost share is the model's share of everything spent in that domain x cluster.
    """
    answers = _with_keys(snapshot, clusters)
    judged = winners(answers)
    base = answers.groupby(AGGREGATE_KEYS, dropna=False).agg(
        answers=("id", "size"),
        served=("purpose", lambda p: int((p == "serve").sum())),
        cost=("cost", "sum"),
        supervisor_calls=("judge_name", lambda n: int(n.notna().sum())),
    )
    scores = judged.groupby(AGGREGATE_KEYS, dropna=False).agg(
        judged=("judge_score", "size"),
        mean_score=("judge_score", "mean"),
        contested=("contested", "sum"),
        wins=("won", "sum"),
    )
    table = base.join(scores, how="left").reset_index()
    table[["judged", "contested", "wins"]] = table[["judged", "contested", "wins"]].fillna(0).astype(int)
    table["win_rate"] = np.where(
        table["contested"] > 0, table["wins"] / table["contested"].clip(lower=1), np.nan
    )
    group_cost = table.groupby(["domain", "cluster"], dropna=False)["cost"].transform("sum")
    table["cost_share"] = np.where(group_cost > 0, table["cost"] / group_cost.where(group_cost > 0, 1), 0.0)
    return table.sort_values(AGGREGATE_KEYS).reset_index(drop=True)


def _with_keys(snapshot: Snapshot, clusters: pd.Series) -> pd.DataFrame:
    keys = snapshot.queries[["id", "domain"]].rename(columns={"id": "query_id"})
    keys["cluster"] = keys["query_id"].map(clusters).astype("Int64")
    keys["domain"] = keys["domain"].fillna(UNKNOWN_DOMAIN)
    return snapshot.answers.merge(keys, on="query_id", how="inner")


def model_win_rates(snapshot: Snapshot) -> dict[str, tuple[float, int]]:
    """Each model's overall win rate and contested count: the evidence for role changes."""
    judged = winners(snapshot.answers)
    contested = judged[judged["contested"]]
    out = {}
    for model, group in contested.groupby("model"):
        out[str(model)] = (float(group["won"].mean()), len(group))
    return out
