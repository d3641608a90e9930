"""The accuracy map: mean judge score per domain (or gap cluster) and model, over every judged
answer once (its online score, else its nightly one)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from academy.dashboard.panels.base import NO_TRAFFIC, RATIO, column, panel, rnd, traffic_only, unavailable
from academy.evolution.snapshot import UNKNOWN_DOMAIN


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
