"""Prefect tasks of the simulated week (``flows/demo.py``): thin wrappers of ``academy.simulation``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from academy.config import AcademyConfig
from academy.simulation import publish, week
from academy.simulation.report import write_report
from tasks.nightly import TASK

prepare_demo = task(name="prepare_demo", **TASK)(week.prepare)
plan_week = task(name="plan_week", **TASK)(week.plan)
simulate_day = task(name="simulate_day", **TASK)(week.simulate_day)
account_day = task(name="account_day", **TASK)(week.account)
week_result = task(name="week_result", **TASK)(week.result)


@task(name="publish_report", **TASK)
def publish_report(cfg: AcademyConfig, result: dict[str, Any], out: Path | None = None) -> dict[str, Any]:
    """HTML report and PNGs into a folder, the folder into an MLflow run, a link as a Prefect artifact."""
    out_dir = Path(out or cfg.paths.home / week.REPORT_DIR)
    report = write_report(result, out_dir)
    run_id, artifact_uri = publish.log_to_mlflow(cfg, result, out_dir)
    create_link_artifact(
        key="demo-report",
        link=report.resolve().as_uri(),
        link_text="Academy demo report (HTML)",
        description=f"MLflow run {run_id} holds the same report under {artifact_uri}/{out_dir.name}",
    )
    create_markdown_artifact(
        key="demo-summary", markdown=publish.markdown_summary(result) + f"\nReport: {report.resolve()}\n"
    )
    return {
        "report": str(report),
        "mlflow_run_id": run_id,
        "mlflow_artifacts": f"{artifact_uri}/{out_dir.name}",
    }
