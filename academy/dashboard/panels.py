"""What each dashboard panel shows, computed from plain DataFrames and registry reads.

Every function here is pure: frames (or a registry object, a file path) in, one JSON-able panel
out. The HTTP layer (``academy.dashboard.http``) only loads the inputs and serialises the result, so
each panel is unit-testable on known data.

A panel is a dict::

    {"panel", "title", "state": "ok" | "empty" | "unavailable", "message", "source", "notes",
     "summary": [{"label", "value", "digits"}],
     "charts": [{"id", "title", "kind": "bar" | "heatmap" | "scatter", "stacked", "xtitle", "ytitle",
                 "series": [{"name", "x", "y", "text"?, "kind"?}]  (heatmap: "x", "y", "z")}],
     "tables": [{"id", "title", "columns": [{"name", "digits"}], "rows": [[...]]}]}

``digits`` says how many decimals the page shows for a number (None: as is). Values are rounded
here, once, so the page draws exactly the numbers the JSON API returns.

Definitions follow the demo's accounting (``academy.simulation``):

* **always-teacher counterfactual**: what a query would have cost had the teacher answered it. When
  the teacher did answer it (served, fanned out, shadowed), that answer's logged cost (its price x
  its tokens); otherwise the teacher's price x the served answer's tokens; for a cache hit (no
  answer was generated) the teacher's price x the estimated tokens of the query and the answer
  (~4 characters a token, as the reference backend counts them). No judge: always-teacher judges
  nothing.
* **Academy's cost**: every model answer and online judge call the router logged for the query
  (``total_cost``) plus the nightly scorer's judge calls on that query's answers. Training compute
  is not in the traffic store and is not counted here (the demo's report adds it).
* **Supervisor calls**: judged answers (online and nightly) whose ``judge_name`` is the configured
  supervisor (``judge.name``); every other judge name is a cheap judge the supervisor delegated to.
  A call is counted on the day of the query it judged, like the demo's "judge calls (online +
  nightly)".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from academy.backends.base import approx_tokens
from academy.evolution.snapshot import EVALUATION_ROUTE, UNKNOWN_DOMAIN

# Columns each table is read with (the store reads only these).
QUERY_COLUMNS = ["id", "ts", "route", "final_model", "total_cost", "domain"]
ANSWER_COLUMNS = [
    "id", "query_id", "ts", "model", "role", "purpose", "tokens_in", "tokens_out", "cost",
    "judge_score", "judge_name", "judge_cost", "error",
]  # fmt: skip
SCORE_COLUMNS = ["id", "query_id", "ts", "model", "judge_score", "judge_name", "judge_cost", "error"]

ROUTE_ORDER = ("novel", "familiar", "cache")
ROLE_ORDER = ("teacher", "ta", "student", "cache", "unknown")
CACHE = "cache"
SERVED_PURPOSES = ("serve", "failed")  # "failed": the chosen model failed and the teacher served
HOUR_WINDOW = 48  # hourly traffic shows the last 48 hours before the newest query
USD = 8  # decimals kept for dollar amounts (school queries cost ~1e-5 USD)
RATIO = 4
MAX_GAP_CLUSTERS = 20
MAX_TIMELINE_ROWS = 200
NO_TRAFFIC = "no traffic yet: the router logs every request to the traffic store; nothing is there"


# ---- building blocks ------------------------------------------------------------------------------


def panel(name: str, title: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "panel": name,
        "title": title,
        "state": "ok",
        "message": None,
        "source": None,
        "notes": [],
        "summary": [],
        "charts": [],
        "tables": [],
    }
    return jsonable(base | fields)


def unavailable(name: str, title: str, message: str, state: str = "unavailable", **fields: Any) -> dict:
    return panel(name, title, state=state, message=message, **fields)


def jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars to Python, NaN/inf to None (JSON has no NaN), tuples to lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def rnd(value: Any, digits: int) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, digits) if math.isfinite(number) else None


def column(name: str, digits: int | None = None) -> dict[str, Any]:
    return {"name": name, "digits": digits}


def figure(label: str, value: Any, digits: int | None = None) -> dict[str, Any]:
    return {"label": label, "value": value, "digits": digits}


def day_of(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%d")


def hour_of(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%d %H:00")


def traffic_only(queries: pd.DataFrame, answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the nightly flow's own evaluation rows: they are evidence, not traffic."""
    queries = queries[queries["route"] != EVALUATION_ROUTE]
    answers = answers[answers["query_id"].isin(set(queries["id"])) & (answers["purpose"] != EVALUATION_ROUTE)]
    return queries.reset_index(drop=True), answers.reset_index(drop=True)


def ordered(values: Iterable[str], order: Iterable[str]) -> list[str]:
    present = set(values)
    first = [v for v in order if v in present]
    return first + sorted(present - set(first))


def counts(frame: pd.DataFrame, key: str, by: str, x: list[str]) -> dict[str, list[int]]:
    """Per value of ``by``: how many rows fall in each bucket of ``x`` (column ``key``)."""
    if frame.empty:
        return {}
    table = frame.groupby([by, key]).size().unstack(fill_value=0).reindex(columns=x, fill_value=0)
    return {str(name): [int(v) for v in table.loc[name]] for name in table.index}


def bar_chart(
    chart_id: str,
    title: str,
    x: list[str],
    series: dict[str, list],
    order: Iterable[str] = (),
    stacked: bool = True,
    xtitle: str = "",
    ytitle: str = "",
    lines: bool = False,
) -> dict[str, Any]:
    """A chart of one series per key of ``series`` over the categories ``x`` (bars, or ``lines``)."""
    names = ordered(series, order)
    return {
        "id": chart_id,
        "title": title,
        "kind": "bar",
        "stacked": stacked,
        "xtitle": xtitle,
        "ytitle": ytitle,
        "series": [{"name": n, "x": list(x), "y": list(series[n])} | ({"kind": "line"} if lines else {})
                   for n in names],
    }  # fmt: skip


# ---- traffic ---------------------------------------------------------------------------------------


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


# ---- cost vs always-teacher ----------------------------------------------------------------------


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


# ---- supervisor (judge) calls --------------------------------------------------------------------


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
             "delegated to (see README, 'Delegating the supervisor'). Calls count on the day of the "
             "query judged, online and in the nightly monitoring."]  # fmt: skip
    return panel("supervisor", title, summary=summary, notes=notes, charts=charts,
                 tables=[{"id": "supervisor-table", "title": "Per day", "columns": columns, "rows": rows}])  # fmt: skip


# ---- accuracy map --------------------------------------------------------------------------------


def judged_answers(answers: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Every judged answer once: its online score, else its late (nightly) score."""
    online = answers[answers["judge_score"].notna() & answers["error"].isna()]
    online = online[["id", "query_id", "model", "judge_score"]]
    late = scores[scores["judge_score"].notna() & scores["error"].isna()] if len(scores) else scores
    late = late[~late["id"].isin(set(online["id"]))] if len(late) else late
    parts = [online] + ([late[["id", "query_id", "model", "judge_score"]]] if len(late) else [])
    return pd.concat(parts, ignore_index=True).drop_duplicates("id")


def accuracy_panel(
    queries: pd.DataFrame,
    answers: pd.DataFrame,
    scores: pd.DataFrame,
    by: str = "auto",
    clusters: pd.Series | None = None,
) -> dict[str, Any]:
    """Mean judge score per domain (or gap cluster) x model, over every judged answer."""
    title = "Accuracy map"
    if by not in ("auto", "domain", "cluster"):
        raise ValueError(f"by must be 'auto', 'domain' or 'cluster', got {by!r}")
    queries, answers = traffic_only(queries, answers)
    if queries.empty:
        return unavailable("accuracy", title, NO_TRAFFIC, state="empty")
    judged = judged_answers(answers, scores)
    if judged.empty:
        return unavailable("accuracy", title, "no judged answers yet", state="empty")
    domains = queries["domain"].fillna(UNKNOWN_DOMAIN)
    if by == "auto":
        known = (domains != UNKNOWN_DOMAIN).any()
        by = "domain" if known or clusters is None or clusters.empty else "cluster"
    if by == "cluster":
        if clusters is None or clusters.empty:
            return unavailable(
                "accuracy", title, "no gap clusters yet: the nightly mine_gaps step writes them"
            )
        group = judged["query_id"].map({str(k): f"cluster {int(v)}" for k, v in clusters.items()})
    else:
        group = judged["query_id"].map(dict(zip(queries["id"], domains)))
    judged = judged.assign(group=group).dropna(subset=["group"])
    if judged.empty:
        return unavailable("accuracy", title, f"no judged answers with a {by} yet", state="empty")
    stats = judged.groupby(["group", "model"])["judge_score"].agg(["mean", "size"])
    groups = sorted(set(judged["group"]), key=_natural)
    models = sorted(set(judged["model"]))
    z, text, rows = [], [], []
    for g in groups:
        z.append([rnd(stats.loc[(g, m), "mean"], RATIO) if (g, m) in stats.index else None for m in models])
        text.append([int(stats.loc[(g, m), "size"]) if (g, m) in stats.index else 0 for m in models])
        for m in models:
            if (g, m) in stats.index:
                rows.append([g, m, int(stats.loc[(g, m), "size"]), rnd(stats.loc[(g, m), "mean"], RATIO)])
    chart = {
        "id": "accuracy-map",
        "title": f"Mean judge score by {by} and model",
        "kind": "heatmap",
        "x": models,
        "y": groups,
        "z": z,
        "text": text,
        "xtitle": "model",
        "ytitle": by,
    }
    columns = [column(by), column("model"), column("judged"), column("mean score", RATIO)]
    notes = ["Judge scores (0-1) of every judged answer, online and nightly, each answer once."]
    return panel("accuracy", title, notes=notes, charts=[chart], source=f"grouped by {by}",
                 tables=[{"id": "accuracy-table", "title": f"{by} x model", "columns": columns, "rows": rows}])  # fmt: skip


def _natural(label: str) -> tuple:
    head, _, tail = label.rpartition(" ")
    return (head, int(tail)) if tail.isdigit() else (label, -1)


# ---- registry: promotions, demotions, production, roles -----------------------------------------


def registry_panel(registry: Any) -> dict[str, Any]:
    """Every recorded transition as a timeline, and what serves now (``@production``) with its role.

    ``registry`` is a ``registry.model_registry.ModelRegistry``; a missing or unreachable registry
    makes the panel say so, never fail."""
    title = "Promotions and roles"
    if not registry.exists():
        return unavailable(
            "registry", title, f"no registry yet ({registry.tracking_uri}): the first nightly run creates it"
        )
    try:
        versions = registry.status()
        names = sorted({v.name for v in versions} | set(registry.models()))
        events: list[dict[str, Any]] = []
        kinds = {}
        for name in names:
            kinds[name] = registry.kind(name)
            for e in registry.history(name):
                events.append({"time": e["time"], "model": name, "version": e["version"], "from": e.get("from"),
                               "to": e["to"], "reason": e.get("reason", ""),
                               "event": transition_event(e)})  # fmt: skip
            for e in registry.role_history(name):
                events.append({"time": e["time"], "model": name, "version": None, "from": e.get("from"),
                               "to": e["to"], "reason": e.get("reason", ""), "event": f"role:{e['to']}"})  # fmt: skip
    except Exception as exc:  # RegistryError, or anything MLflow raises: the page must still load
        return unavailable("registry", title, f"registry unreachable: {exc}")
    if not names:
        return unavailable("registry", title, "the registry has no models yet", state="empty",
                           source=registry.tracking_uri)  # fmt: skip
    return panel(
        "registry",
        title,
        source=registry.tracking_uri,
        summary=registry_summary(versions, events),
        charts=[timeline_chart(events)],
        tables=[production_table(versions, names, kinds), timeline_table(events)],
        notes=[
            "Stages are MLflow aliases; every transition is recorded with its reason "
            "(version tag academy.transitions)."
        ],  # fmt: skip
    )


def transition_event(entry: dict[str, Any]) -> str:
    """The kind of one recorded transition: its target stage, or ``rollback`` / ``rolled back``."""
    if entry.get("academy.rollback"):
        return "rolled back"
    if entry.get("from") == "archived" and entry.get("to") == "production":
        return "rollback"
    if entry.get("from") == "production" and entry.get("to") == "archived":
        return "archived"
    return str(entry["to"])


def _when(iso: str) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` UTC (what Plotly reads as a date)."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


EVENT_ORDER = ("candidate", "staging", "production", "rejected", "archived", "rolled back", "rollback")


def timeline_chart(events: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = ordered({e["event"] for e in events}, EVENT_ORDER)
    series = []
    for kind in kinds:
        mine = sorted((e for e in events if e["event"] == kind), key=lambda e: (e["time"], e["model"]))
        series.append(
            {
                "name": kind,
                "x": [_when(e["time"]) for e in mine],
                "y": [e["model"] for e in mine],
                "text": [
                    (f"v{e['version']}: " if e["version"] is not None else "") + str(e["reason"])
                    for e in mine
                ],
            }
        )
    return {"id": "registry-timeline", "title": "Transitions and role changes", "kind": "scatter",
            "stacked": False, "xtitle": "time (UTC)", "ytitle": "", "series": series}  # fmt: skip


def production_table(versions: list[Any], names: list[str], kinds: dict[str, str]) -> dict[str, Any]:
    rows = []
    for name in names:
        mine = [v for v in versions if v.name == name]
        prod = next((v.version for v in mine if "production" in v.aliases), None)
        staging = next((v.version for v in mine if "staging" in v.aliases), None)
        role = mine[0].role if mine else ""
        rows.append([name, kinds.get(name, ""), role, prod, staging, len(mine)])
    columns = [column("model"), column("kind"), column("role"), column("@production"), column("@staging"),
               column("versions")]  # fmt: skip
    return {"id": "registry-production", "title": "Serving now", "columns": columns, "rows": rows}


def timeline_table(events: list[dict[str, Any]]) -> dict[str, Any]:
    newest = sorted(events, key=lambda e: (e["time"], e["model"]), reverse=True)[:MAX_TIMELINE_ROWS]
    rows = [[_when(e["time"]), e["model"], e["version"], e["event"], e["from"], e["to"], e["reason"]]
            for e in newest]  # fmt: skip
    columns = [column("time (UTC)"), column("model"), column("version"), column("event"), column("from"),
               column("to"), column("reason")]  # fmt: skip
    return {"id": "registry-history", "title": "History, newest first", "columns": columns, "rows": rows}


def registry_summary(versions: list[Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        figure("models", len({v.name for v in versions})),
        figure("versions", len(versions)),
        figure("promotions", sum(e["event"] == "production" for e in events)),
        figure("rejections", sum(e["event"] == "rejected" for e in events)),
        figure("rollbacks", sum(e["event"] == "rollback" for e in events)),
    ]


# ---- last night's gap report ---------------------------------------------------------------------


def gaps_panel(gaps_dir: Path) -> dict[str, Any]:
    """The newest gap report (``mine_gaps``): clusters ranked by what a good student would save."""
    from academy.evolution.gaps import GAPS_FILE, GapReport

    title = "Last night's gap report"
    path = Path(gaps_dir) / GAPS_FILE
    if not path.is_file():
        return unavailable("gaps", title, f"no gap report yet: the nightly mine_gaps step writes {path}")
    try:
        report = GapReport.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return unavailable("gaps", title, f"gap report at {path} is unreadable: {exc}")
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")
    selected = {c.cluster for c in report.selected}
    top = report.clusters[:MAX_GAP_CLUSTERS]
    rows = [
        [rank, c.cluster, c.domain, c.queries, rnd(c.teacher_share, RATIO), rnd(c.savings, USD),
         c.best_student, rnd(c.best_student_score, RATIO) if c.best_student_score is not None else None,
         c.kind, c.cluster in selected]
        for rank, c in enumerate(top, 1)
    ]  # fmt: skip
    columns = [column("rank"), column("cluster"), column("domain"), column("queries"),
               column("teacher share", RATIO), column("savings (USD)", USD), column("best student"),
               column("its score", RATIO), column("gap"), column("selected")]  # fmt: skip
    label = [f"{c.cluster} {c.domain}" for c in top]
    chart = {
        "id": "gaps-savings",
        "title": "Savings a good student would bring, per cluster (USD)",
        "kind": "bar",
        "stacked": True,
        "xtitle": "cluster",
        "ytitle": "USD",
        "series": [
            {"name": "selected gap", "x": label,
             "y": [rnd(c.savings, USD) if c.cluster in selected else None for c in top]},
            {"name": "other cluster", "x": label,
             "y": [None if c.cluster in selected else rnd(c.savings, USD) for c in top]},
        ],
    }  # fmt: skip
    summary = [
        figure("clusters", len(report.clusters)),
        figure("selected gaps", len(report.selected)),
        figure("quality gate", rnd(report.quality_gate, RATIO), RATIO),
    ]
    return panel("gaps", title, source=f"{path} (written {written} UTC)", summary=summary, charts=[chart],
                 tables=[{"id": "gaps-table", "title": f"Top {len(top)} clusters", "columns": columns,
                          "rows": rows}])  # fmt: skip


# ---- peer learning -------------------------------------------------------------------------------


def peer_variants_from_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    """``bench/results/distill/results.json`` -> one dict per variant."""
    return [
        {
            "name": name,
            "peer": v.get("peer"),
            "with_peer": "peer" in (v.get("aspects") or []),
            "mean": v.get("mean"),
            "exact_match": dict(v.get("exact_match") or {}),
            "steps": v.get("steps"),
            "peer_steps": v.get("peer_steps"),
        }
        for name, v in (results.get("variants") or {}).items()
    ]


def peer_variants_from_runs(children: list[Any]) -> list[dict[str, Any]]:
    """The child runs of one MLflow ``distill-bench`` run (one per variant) -> one dict per variant."""
    variants = []
    for run in sorted(children, key=lambda r: r.info.start_time or 0):
        params, metrics = run.data.params, run.data.metrics
        aspects = _json_param(params.get("aspects")) or []
        variants.append(
            {
                "name": run.info.run_name,
                "peer": _json_param(params.get("peer")),
                "with_peer": "peer" in aspects,
                "mean": metrics.get("mean_exact_match"),
                "exact_match": {
                    k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith("exact_match.")
                },
                "steps": _json_param(params.get("steps")),
                "peer_steps": _json_param(params.get("peer_steps")),
            }
        )
    return variants


def _json_param(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def peer_panel(variants: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """Held-out exact match of students trained with vs without a peer teacher's logits."""
    title = "Peer learning"
    if not variants:
        return unavailable("peer", title, "no distillation benchmark yet: run `academy bench distill`",
                           source=source)  # fmt: skip
    names = [v["name"] for v in variants]
    with_peer = [rnd(v["mean"], RATIO) if v["with_peer"] else None for v in variants]
    without = [None if v["with_peer"] else rnd(v["mean"], RATIO) for v in variants]
    chart = {
        "id": "peer-variants",
        "title": "Held-out exact match (mean over domains)",
        "kind": "bar",
        "stacked": True,
        "xtitle": "variant",
        "ytitle": "exact match",
        "series": [
            {"name": "without a peer teacher", "x": names, "y": without},
            {"name": "with a peer teacher", "x": names, "y": with_peer},
        ],
    }
    domains = sorted({d for v in variants for d in v["exact_match"]})
    rows = [
        [v["name"], "yes" if v["with_peer"] else "no", v["peer"], rnd(v["mean"], RATIO),
         *(rnd(v["exact_match"].get(d), RATIO) if v["exact_match"].get(d) is not None else None for d in domains)]
        for v in variants
    ]  # fmt: skip
    columns = [column("variant"), column("peer teacher"), column("peer"), column("mean", RATIO),
               *(column(d, RATIO) for d in domains)]  # fmt: skip
    peers = [v for v in variants if v["with_peer"] and v["mean"] is not None]
    solo = [v for v in variants if not v["with_peer"] and v["mean"] is not None]
    best_peer = max(peers, key=lambda v: v["mean"], default=None)
    best_solo = max(solo, key=lambda v: v["mean"], default=None)
    summary = [
        figure(f"best with a peer ({best_peer['name']})" if best_peer else "best with a peer",
               rnd(best_peer["mean"], RATIO) if best_peer else None, RATIO),
        figure(f"best without ({best_solo['name']})" if best_solo else "best without",
               rnd(best_solo["mean"], RATIO) if best_solo else None, RATIO),
        figure("difference (with - without)",
               rnd(best_peer["mean"] - best_solo["mean"], RATIO) if best_peer and best_solo else None, RATIO),
    ]  # fmt: skip
    notes = ["Every variant starts from the same fresh student, same data, same step budget; the peer "
             "teacher is the variant named in 'peer' (its logits are distilled after or instead of SFT)."]  # fmt: skip
    return panel("peer", title, source=source, summary=summary, notes=notes, charts=[chart],
                 tables=[{"id": "peer-table", "title": "Held-out exact match per variant",
                          "columns": columns, "rows": rows}])  # fmt: skip
