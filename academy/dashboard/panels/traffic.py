"""The traffic panel: queries per day (or hour) by route, shadow answers, and who served them, by
model and by role (``cache`` for cache hits). The nightly flow's evaluation rows are not traffic
and are left out."""

from __future__ import annotations

from typing import Any

import pandas as pd

from academy.dashboard.panels.base import (
    CACHE,
    NO_TRAFFIC,
    SERVED_PURPOSES,
    bar_chart,
    column,
    counts,
    day_of,
    figure,
    hour_of,
    ordered,
    panel,
    traffic_only,
    unavailable,
)

ROUTE_ORDER = ("novel", "familiar", "cache")
ROLE_ORDER = ("teacher", "ta", "student", "cache", "unknown")
HOUR_WINDOW = 48  # hourly traffic shows the last 48 hours before the newest query


def traffic_panel(queries: pd.DataFrame, answers: pd.DataFrame, bucket: str = "day") -> dict[str, Any]:
    """Queries per day (or hour) by route, shadow answers, and who served: by model and by role."""
    title = "Traffic"
    if bucket not in ("day", "hour"):
        raise ValueError(f"bucket must be 'day' or 'hour', got {bucket!r}")
    queries, answers = traffic_only(queries, answers)
    if queries.empty:
        return unavailable("traffic", title, NO_TRAFFIC, state="empty")
    label = day_of if bucket == "day" else hour_of
    queries = queries.assign(bucket=label(queries["ts"]))
    answers = answers.assign(bucket=label(answers["ts"]))
    if bucket == "hour":
        newest = pd.to_datetime(queries["ts"], utc=True).max().floor("h")
        first = (newest - pd.Timedelta(hours=HOUR_WINDOW - 1)).strftime("%Y-%m-%d %H:00")
        queries = queries[queries["bucket"] >= first]
        answers = answers[answers["bucket"] >= first]
    shadows = answers[answers["purpose"] == "shadow"]
    x = sorted(set(queries["bucket"]) | set(shadows["bucket"]))

    routes = counts(queries, "bucket", "route", x)
    route_names = ordered(routes, ROUTE_ORDER)
    route_chart = bar_chart(
        "traffic-route", f"Queries per {bucket} by route (+ shadow answers)", x, routes, ROUTE_ORDER,
        ytitle="queries",
    )  # fmt: skip
    shadow_counts = [int(n) for n in shadows.groupby("bucket").size().reindex(x, fill_value=0)]
    route_chart["series"].append({"name": "shadow answers", "x": x, "y": shadow_counts, "kind": "line"})

    served = served_answers(queries, answers)
    by_model = counts(served, "bucket", "model", x)
    by_role = counts(served, "bucket", "role", x)
    model_chart = bar_chart("traffic-model", f"Served by model, per {bucket}", x, by_model, ytitle="queries")
    role_chart = bar_chart(
        "traffic-role", f"Served by role, per {bucket}", x, by_role, ROLE_ORDER, ytitle="queries"
    )

    role_names = ordered(by_role, ROLE_ORDER)
    columns = [column(bucket), column("queries"), *(column(r) for r in route_names), column("shadow answers")]
    columns += [column(f"served by {r}") for r in role_names]
    rows = []
    for i, b in enumerate(x):
        total = sum(routes[r][i] for r in route_names)
        rows.append([b, total, *(routes[r][i] for r in route_names), shadow_counts[i]]
                    + [by_role[r][i] for r in role_names])  # fmt: skip
    totals = ["total", *(sum(r[i] for r in rows) for i in range(1, len(columns)))]
    summary = [
        figure("queries", int(len(queries))),
        *(figure(r, int(sum(routes[r]))) for r in route_names),
        figure("shadow answers", int(sum(shadow_counts))),
    ]
    notes = ["Query routes count requests; shadow answers are extra answers students gave to be judged."]
    if bucket == "hour":
        notes.append(f"The last {HOUR_WINDOW} hours before the newest query.")
    return panel(
        "traffic",
        title,
        summary=summary,
        notes=notes,
        charts=[route_chart, model_chart, role_chart],
        tables=[
            {"id": "traffic-table", "title": f"Per {bucket}", "columns": columns, "rows": rows + [totals]}
        ],
    )


def served_answers(queries: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """One row per query: the model that served it and its role (``cache`` for cache hits)."""
    serving = answers[answers["purpose"].isin(SERVED_PURPOSES)]
    serving = serving.merge(
        queries[["id", "final_model"]], left_on="query_id", right_on="id", suffixes=("", "_q")
    )
    serving = serving[serving["model"] == serving["final_model"]].drop_duplicates("query_id")
    role = dict(zip(serving["query_id"], serving["role"]))
    cached = queries["route"] == CACHE
    model = queries["final_model"].where(~cached, CACHE)
    roles = queries["id"].map(role).where(~cached, CACHE).fillna("unknown")
    return pd.DataFrame({"bucket": queries["bucket"], "model": model, "role": roles})
