"""Building blocks every dashboard panel uses: the panel dict, rounding, columns, figures, buckets
and bar charts, and the traffic filter that keeps the nightly flow's evaluation rows out.

:func:`panel` returns plain JSON (:func:`jsonable`: numpy scalars as Python numbers, NaN and
infinities as None), so what a panel function returns is exactly what the JSON API sends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from academy.evolution.snapshot import EVALUATION_ROUTE

# Columns each table is read with (the store reads only these).
QUERY_COLUMNS = ["id", "ts", "route", "final_model", "total_cost", "domain"]
ANSWER_COLUMNS = [
    "id", "query_id", "ts", "model", "role", "purpose", "tokens_in", "tokens_out", "cost",
    "judge_score", "judge_name", "judge_cost", "error",
]  # fmt: skip
SCORE_COLUMNS = ["id", "query_id", "ts", "model", "judge_score", "judge_name", "judge_cost", "error"]

CACHE = "cache"
# failed or deferred: the chosen model failed or was unsure, the teacher served
SERVED_PURPOSES = ("serve", "failed", "deferred")
USD = 8  # decimals kept for dollar amounts (school queries cost ~1e-5 USD)
RATIO = 4
NO_TRAFFIC = "no traffic yet: the router logs every request to the traffic store; nothing is there"


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
