"""``academy evolve ...``: the nightly cycle from the command line.

``run`` executes the ``nightly_evolution`` Prefect flow; ``snapshot``, ``gaps`` and ``datasets`` are
the DVC stages (``dvc.yaml`` calls them), runnable alone; ``score`` judges unjudged traffic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from academy.cli.common import ConfigOpt, HomeOpt, config_or_exit

evolve_app = typer.Typer(
    help="The nightly evolution: score, gaps, datasets, distill, promote.", no_args_is_help=True
)

DataOpt = Annotated[Path | None, typer.Option("--data", help="Override paths.data (DVC outputs)")]


def _run(step: Callable[..., Any], config: Path | None, home: Path | None, data: Path | None) -> Any:
    """Run a step with a clear one-line error (exit 2) for missing inputs or bad config."""
    cfg = config_or_exit(config, home, **{"paths.data": str(data) if data else None})
    try:
        return step(cfg)
    except (FileNotFoundError, ValueError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


@evolve_app.command("score")
def score(config: ConfigOpt = None, home: HomeOpt = None, data: DataOpt = None) -> None:
    """Judge every answer the router served unjudged, then write the traffic snapshot."""
    from academy.evolution.steps import score_traffic

    typer.echo(json.dumps(_run(score_traffic, config, home, data), indent=2))


@evolve_app.command("snapshot")
def snapshot(config: ConfigOpt = None, home: HomeOpt = None, data: DataOpt = None) -> None:
    """Freeze the traffic store into Parquet (DVC stage traffic_snapshot)."""
    from academy.evolution.steps import snapshot_traffic

    typer.echo(json.dumps(_run(snapshot_traffic, config, home, data), indent=2))


@evolve_app.command("gaps")
def gaps(config: ConfigOpt = None, home: HomeOpt = None, data: DataOpt = None) -> None:
    """Cluster the snapshot and rank knowledge gaps (DVC stage gaps); prints the gap report."""
    from rich.console import Console
    from rich.markdown import Markdown

    from academy.evolution.gaps import gap_report_markdown
    from academy.evolution.steps import find_gaps

    Console().print(Markdown(gap_report_markdown(_run(find_gaps, config, home, data))))


@evolve_app.command("datasets")
def datasets_(config: ConfigOpt = None, home: HomeOpt = None, data: DataOpt = None) -> None:
    """Build the distillation datasets from the snapshot and gaps (DVC stage distill_data)."""
    from academy.evolution.steps import build_datasets

    typer.echo(json.dumps(_run(build_datasets, config, home, data), indent=2))


@evolve_app.command("run")
def run(
    config: ConfigOpt = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """One nightly cycle now (the ``nightly_evolution`` flow, ephemeral Prefect unless PREFECT_API_URL is set)."""
    from flows.nightly import nightly_evolution

    config_or_exit(config, home)  # a bad file fails here, with a clear message
    summary = nightly_evolution(config_path=str(config or "academy.yaml"), home=str(home) if home else None)
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    print_summary(summary)


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"nightly evolution {summary['night']}: {summary['cycle_seconds']} s")
    for column in ("student", "version", "stage", "gap exact match (before -> after)", "reasons"):
        table.add_column(column)
    for s in summary["students"]:
        candidate, incumbent = s["evaluation"]["candidate"], s["evaluation"]["incumbent"] or {}
        before = incumbent.get("gap_score")
        table.add_row(
            s["student"],
            str(s["version"]),
            s["stage"],
            f"{'-' if before is None else f'{before:.2f}'} -> {candidate['gap_score'] or 0:.2f}",
            "; ".join(s["reasons"]),
        )
    Console().print(table)
