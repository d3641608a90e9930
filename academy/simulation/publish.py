"""Where the week's result goes: the HTML report, an MLflow run, and the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from academy.config import AcademyConfig
from academy.simulation.accounting import POLICIES

EXPERIMENT = "academy-demo"


def log_to_mlflow(cfg: AcademyConfig, result: dict[str, Any], report_dir: Path) -> tuple[str, str]:
    """One run in experiment ``academy-demo``: per-day ratios as step metrics (step = day - 1),
    headline ratios, settings as params and the report folder as artifacts. Returns (run id, artifact URI)."""
    from registry.model_registry import ModelRegistry

    demo_cfg = cfg.model_copy(deep=True)
    demo_cfg.registry.experiment = EXPERIMENT
    registry = ModelRegistry.from_config(demo_cfg)
    days = result["per_day"]
    step_metrics = {
        f"{name}.{figure}": [d["policies"][name][figure] or 0.0 for d in days]
        for name in POLICIES
        for figure in ("cost_ratio", "quality_ratio")
    }
    metrics = {
        f"{figure}.{when}": value
        for figure in ("cost_ratio", "quality_ratio")
        for when, value in result["summary"][figure].items()
        if value is not None
    } | {"wall_seconds": result["wall_seconds"], "peak_rss_mib": result["peak_rss_mib"]}
    run_id = registry.log_run(
        "simulated-week",
        params=result["settings"],
        metrics=metrics,
        tags={"academy.kind": "demo"},
        step_metrics=step_metrics,
        artifact_dir=report_dir,
    )
    return run_id, registry.artifact_uri(run_id)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def markdown_summary(result: dict[str, Any]) -> str:
    """Policies x (cost, quality) vs always-teacher, last day and overall: the Prefect artifact and
    the table docs/benchmarks.md quotes."""
    days = result["per_day"]
    lines = [
        f"Simulated week: {result['days']} days, {result['wall_seconds']} s wall, peak RSS {result['peak_rss_mib']} MiB.",
        "",
        "| policy | cost vs always-teacher, last day | overall | quality vs always-teacher, last day | overall |",
        "|---|---|---|---|---|",
    ]
    for name in POLICIES:
        last, total = days[-1]["policies"][name], result["overall"][name]
        lines.append(
            f"| {name} | {_pct(last['cost_ratio'])} | {_pct(total['cost_ratio'])} | "
            f"{_pct(last['quality_ratio'])} | {_pct(total['quality_ratio'])} |"
        )
    return "\n".join(lines) + "\n"


def print_summary(result: dict[str, Any], console: Any = None) -> None:
    """The rich table people read at the end of ``make demo``."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    days = result["per_day"]
    table = Table(title=f"{result['title']}: {result['days']} days, {result['wall_seconds']} s")
    table.add_column("policy")
    for label in ("cost vs always-teacher", "quality vs always-teacher"):
        table.add_column(f"{label}\nlast day", justify="right")
        table.add_column("overall", justify="right")
    for name in POLICIES:
        last, total = days[-1]["policies"][name], result["overall"][name]
        table.add_row(
            name,
            _pct(last["cost_ratio"]),
            _pct(total["cost_ratio"]),
            _pct(last["quality_ratio"]),
            _pct(total["quality_ratio"]),
        )
    console.print(table)
    per_day = Table(title="Academy per day")
    columns = (
        "day",
        "events",
        "novel",
        "served by students",
        "judge calls",
        "supervisor calls",
        "judge cost",
    )
    for column in (*columns, "cost", "quality"):
        per_day.add_column(column)
    for d in days:
        academy, served = d["academy"], d["queries"] or 1
        students = sum(n for role, n in academy["served_by_role"].items() if role != "teacher")
        calls = academy["judge_calls"]
        per_day.add_row(
            str(d["day"]),
            "; ".join(d["events"]) or "-",
            _pct(academy["routes"].get("novel", 0) / served),
            _pct(students / served),
            f"{calls['online']} + {calls['nightly']}",
            str(calls.get("supervisor", "-")),
            f"${academy['cost']['judge']:.4f}",
            _pct(d["policies"]["academy"]["cost_ratio"]),
            _pct(d["policies"]["academy"]["quality_ratio"]),
        )
    console.print(per_day)
    targets, summary = result["targets"], result["summary"]
    cost, quality = summary["cost_ratio"]["last_day"], summary["quality_ratio"]["last_day"]
    console.print(
        f"last day: cost {_pct(cost)} of always-teacher (target ≤ {targets['cost_ratio']:.0%}: "
        f"{'met' if cost is not None and cost <= targets['cost_ratio'] else 'missed'}), quality {_pct(quality)} "
        f"(target ≥ {targets['quality_ratio']:.0%}: "
        f"{'met' if quality is not None and quality >= targets['quality_ratio'] else 'missed'})"
    )
    console.print(f"report: {result.get('report', '-')}   MLflow run: {result.get('mlflow_run_id', '-')}")
