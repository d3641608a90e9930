"""The cost panel: Academy's cost per query per day against the always-teacher counterfactual, and
the savings so far. Definitions follow the demo's accounting (``academy.simulation``):

* **always-teacher counterfactual**: what a query would have cost had the teacher answered it. When
  the teacher did answer it (served, fanned out, shadowed), that answer's logged cost (its price x
  its tokens); otherwise the teacher's price x the served answer's tokens; for a cache hit (no
  answer was generated) the teacher's price x the estimated tokens of the query and the answer
  (~4 characters a token, as the reference backend counts them). No judge: always-teacher judges
  nothing.
* **Academy's cost**: every model answer and online judge call the router logged for the query
  (``total_cost``) plus the nightly scorer's judge calls on that query's answers. Training compute
  is not in the traffic store and is not counted here (the demo's report adds it).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from academy.backends.base import approx_tokens
from academy.dashboard.panels.base import (
    NO_TRAFFIC,
    RATIO,
    SERVED_PURPOSES,
    USD,
    bar_chart,
    column,
    day_of,
    figure,
    panel,
    rnd,
    traffic_only,
    unavailable,
)


def teacher_counterfactual(
    queries: pd.DataFrame, answers: pd.DataFrame, teacher: str, price_in: float, price_out: float
) -> pd.Series:
    """Per query id: what the teacher would have charged for it (see the module docstring)."""
    ok = answers[answers["error"].isna()] if "error" in answers else answers
    mine = ok[ok["model"] == teacher].sort_values("ts").drop_duplicates("query_id")
    logged = pd.Series(mine["cost"].to_numpy(float), index=mine["query_id"].to_numpy())

    serving = answers[answers["purpose"].isin(SERVED_PURPOSES)].sort_values("ts")
    serving = serving.drop_duplicates("query_id")
    priced = (serving["tokens_in"] * price_in + serving["tokens_out"] * price_out) / 1e6
    by_tokens = pd.Series(priced.to_numpy(float), index=serving["query_id"].to_numpy())

    estimate = pd.Series(0.0, index=queries["id"].to_numpy())
    if "text" in queries and "final_answer" in queries:
        tokens_in = queries["text"].fillna("").map(approx_tokens).to_numpy(float)
        tokens_out = queries["final_answer"].fillna("").map(approx_tokens).to_numpy(float)
        estimate = pd.Series(
            (tokens_in * price_in + tokens_out * price_out) / 1e6, index=queries["id"].to_numpy()
        )
    ids = queries["id"]
    value = ids.map(logged)
    value = value.fillna(ids.map(by_tokens))
    value = value.fillna(ids.map(estimate)).fillna(0.0)
    return pd.Series(value.to_numpy(float), index=ids.to_numpy())


def nightly_judge_cost(queries: pd.DataFrame, scores: pd.DataFrame) -> pd.Series:
    """Per query id: what the nightly scorer's judge calls on its answers cost."""
    if scores.empty:
        return pd.Series(0.0, index=queries["id"].to_numpy())
    cost = scores.groupby("query_id")["judge_cost"].sum()
    return pd.Series(queries["id"].map(cost).fillna(0.0).to_numpy(float), index=queries["id"].to_numpy())


def cost_panel(
    queries: pd.DataFrame,
    answers: pd.DataFrame,
    scores: pd.DataFrame,
    teacher: str,
    price_in: float,
    price_out: float,
) -> dict[str, Any]:
    """Cost per query per day vs the always-teacher counterfactual, and the savings so far."""
    title = "Cost vs always-teacher"
    queries, answers = traffic_only(queries, answers)
    if queries.empty:
        return unavailable("cost", title, NO_TRAFFIC, state="empty")
    counterfactual = teacher_counterfactual(queries, answers, teacher, price_in, price_out)
    night = nightly_judge_cost(queries, scores)
    frame = pd.DataFrame(
        {
            "day": day_of(queries["ts"]).to_numpy(),
            "academy": queries["total_cost"].to_numpy(float) + night.to_numpy(),
            "teacher": counterfactual.to_numpy(),
        }
    )
    daily = frame.groupby("day").agg(queries=("academy", "size"), academy=("academy", "sum"),
                                     teacher=("teacher", "sum")).sort_index()  # fmt: skip
    x = list(daily.index)
    rows, cumulative = [], 0.0
    per_query = {"Academy": [], "always-teacher": []}
    savings_series, cumulative_series = [], []
    for day, row in daily.iterrows():
        n, academy, teach = int(row["queries"]), float(row["academy"]), float(row["teacher"])
        saved = teach - academy
        cumulative += saved
        academy_q, teacher_q = rnd(academy / n, USD), rnd(teach / n, USD)
        ratio = rnd(academy / teach, RATIO) if teach > 0 else None
        rows.append([day, n, rnd(academy, USD), rnd(teach, USD), academy_q, teacher_q, ratio,
                     rnd(saved, USD), rnd(cumulative, USD)])  # fmt: skip
        per_query["Academy"].append(academy_q)
        per_query["always-teacher"].append(teacher_q)
        savings_series.append(rnd(saved, USD))
        cumulative_series.append(rnd(cumulative, USD))
    total_academy, total_teacher = float(daily["academy"].sum()), float(daily["teacher"].sum())
    total_ratio = rnd(total_academy / total_teacher, RATIO) if total_teacher > 0 else None
    columns = [
        column("day"), column("queries"), column("Academy (USD)", USD), column("always-teacher (USD)", USD),
        column("Academy per query", USD), column("teacher per query", USD), column("cost ratio", RATIO),
        column("saved (USD)", USD), column("cumulative saved (USD)", USD),
    ]  # fmt: skip
    total_n = int(daily["queries"].sum())
    rows.append(["total", total_n, rnd(total_academy, USD), rnd(total_teacher, USD),
                 rnd(total_academy / total_n, USD), rnd(total_teacher / total_n, USD), total_ratio,
                 rnd(total_teacher - total_academy, USD), rnd(cumulative, USD)])  # fmt: skip
    charts = [
        bar_chart(
            "cost-per-query", "Cost per query (USD)", x, per_query, stacked=False, ytitle="USD", lines=True
        ),
        {
            "id": "cost-savings",
            "title": "Savings vs always-teacher (USD)",
            "kind": "bar",
            "stacked": False,
            "xtitle": "",
            "ytitle": "USD",
            "series": [
                {"name": "saved that day", "x": x, "y": savings_series},
                {"name": "cumulative", "x": x, "y": cumulative_series, "kind": "line"},
            ],
        },
    ]
    summary = [
        figure("cost vs always-teacher", total_ratio, RATIO),
        figure("saved so far (USD)", rnd(cumulative, USD), USD),
        figure("Academy per query (USD)", rnd(total_academy / total_n, USD), USD),
    ]
    notes = [
        f"Always-teacher: {teacher} at ${price_in:g} / ${price_out:g} per 1M tokens in / out, no judge.",
        "Academy: every answer and judge call logged for the query, plus its nightly monitoring; "
        "training compute is not counted (the demo's report adds it).",
    ]
    return panel("cost", title, summary=summary, notes=notes, charts=charts,
                 tables=[{"id": "cost-table", "title": "Per day", "columns": columns, "rows": rows}])  # fmt: skip
