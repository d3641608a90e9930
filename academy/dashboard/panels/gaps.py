"""The gap report panel: the newest ``mine_gaps`` report, clusters ranked by what a good student
would save, and which of them were selected for distillation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from academy.dashboard.panels.base import RATIO, USD, column, figure, panel, rnd, unavailable

MAX_GAP_CLUSTERS = 20


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
