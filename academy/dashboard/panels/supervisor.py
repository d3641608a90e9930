"""The supervisor panel: judge calls per day, the supervisor's against those it delegated to cheap
judges, and what judging cost.

**Supervisor calls** are judged answers (online and nightly) whose ``judge_name`` is the configured
supervisor (``judge.name``); every other judge name is a cheap judge the supervisor delegated to.
A call is counted on the day of the query it judged, like the demo's "judge calls (online +
nightly)".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from academy.dashboard.panels.base import (
    NO_TRAFFIC,
    RATIO,
    USD,
    bar_chart,
    column,
    counts,
    day_of,
    figure,
    panel,
    rnd,
    traffic_only,
    unavailable,
)


def judge_calls(queries: pd.DataFrame, answers: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Every judge call: online (answers with a judge) and nightly (late scores), with the day of the
    query it judged (its own day when the query is unknown)."""
    query_day = dict(zip(queries["id"], day_of(queries["ts"])))
    online = answers[answers["judge_name"].notna()]
    parts = []
    for frame, when in ((online, "online"), (scores[scores["judge_name"].notna()], "nightly")):
        if frame.empty:
            continue
        day = frame["query_id"].map(query_day).fillna(day_of(frame["ts"]))
        parts.append(pd.DataFrame({"day": day.to_numpy(), "judge": frame["judge_name"].to_numpy(),
                                   "cost": frame["judge_cost"].to_numpy(float), "when": when}))  # fmt: skip
    if not parts:
        return pd.DataFrame({"day": [], "judge": [], "cost": [], "when": []})
    return pd.concat(parts, ignore_index=True)


def supervisor_panel(
    queries: pd.DataFrame, answers: pd.DataFrame, scores: pd.DataFrame, supervisor: str
) -> dict[str, Any]:
    """Judge calls per day: the supervisor's vs those delegated to cheap judges, and their cost."""
    title = "Supervisor (judge) calls"
    queries, answers = traffic_only(queries, answers)
    if queries.empty:
        return unavailable("supervisor", title, NO_TRAFFIC, state="empty")
    calls = judge_calls(queries, answers, scores)
    if calls.empty:
        return unavailable("supervisor", title, "no judge calls yet: nothing was judged", state="empty")
    x = sorted(set(calls["day"]))
    by_judge = counts(calls, "day", "judge", x)
    names = [supervisor] + sorted(j for j in by_judge if j != supervisor)
    series = {
        (f"{j} (supervisor)" if j == supervisor else f"{j} (delegated)"): by_judge.get(j, [0] * len(x))
        for j in names
    }
    cost = calls.groupby("day")["cost"].sum().reindex(x, fill_value=0.0)
    rows = []
    sup = by_judge.get(supervisor, [0] * len(x))
    first = next((s for s in sup if s), 0)
    for i, day in enumerate(x):
        today = calls[calls["day"] == day]
        online = int((today["when"] == "online").sum())
        total = int(len(today))
        rows.append([day, total, online, total - online, sup[i], total - sup[i],
                     rnd(sup[i] / total, RATIO) if total else None,
                     rnd(sup[i] / first, RATIO) if first else None, rnd(cost[day], USD)])  # fmt: skip
    columns = [
        column("day"), column("judge calls"), column("online"), column("nightly"), column("supervisor"),
        column("delegated"), column("supervisor share", RATIO), column("supervisor vs first day", RATIO),
        column("judge cost (USD)", USD),
    ]  # fmt: skip
    total_calls, total_sup = int(len(calls)), int(sum(sup))
    rows.append(["total", total_calls, int((calls["when"] == "online").sum()),
                 int((calls["when"] == "nightly").sum()), total_sup, total_calls - total_sup,
                 rnd(total_sup / total_calls, RATIO), None, rnd(calls["cost"].sum(), USD)])  # fmt: skip
    charts = [
        bar_chart(
            "supervisor-calls",
            "Judge calls per day: supervisor vs delegated",
            x,
            series,
            order=list(series),
            ytitle="calls",
        ),  # fmt: skip
        {
            "id": "supervisor-cost",
            "title": "Judge cost per day (USD)",
            "kind": "bar",
            "stacked": False,
            "xtitle": "",
            "ytitle": "USD",
            "series": [{"name": "judge cost", "x": x, "y": [rnd(cost[d], USD) for d in x], "kind": "line"}],
        },
    ]
    summary = [
        figure("supervisor calls", total_sup),
        figure("delegated calls", total_calls - total_sup),
        figure("last day vs first day", rows[-2][7], RATIO),
        figure("judge cost (USD)", rnd(calls["cost"].sum(), USD), USD),
    ]
    notes = [f"Supervisor: the configured judge {supervisor!r}; other judge names are cheap judges it "
             "delegated to (see docs/nightly-evolution.md, 'Delegating the supervisor'). Calls count on the day of the "
             "query judged, online and in the nightly monitoring."]  # fmt: skip
    return panel("supervisor", title, summary=summary, notes=notes, charts=charts,
                 tables=[{"id": "supervisor-table", "title": "Per day", "columns": columns, "rows": rows}])  # fmt: skip
