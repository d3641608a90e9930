"""The school's commands (``academy school export|check``) and ``academy demo``, the simulated week
run on school traffic or a user's trace."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from academy.cli.common import ConfigOpt, config_or_exit, trace_or_exit
from academy.config import DEFAULT_CONFIG_FILE

school_app = typer.Typer(help="The embedded school: generate, export and check traces.", no_args_is_help=True)


@school_app.command("export")
def school_export(
    out: Annotated[Path, typer.Argument(help="JSONL file to write")],
    n: Annotated[int, typer.Option("-n", help="Number of examples")] = 100,
    domain: Annotated[list[str] | None, typer.Option(help="Only these domains (repeatable)")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default school.seed)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write school examples as a trace: {"query", "reference", "domain", "reasoning"} per line."""
    from academy.school import School, write_trace

    cfg = config_or_exit(config)
    try:
        school = School(seed=cfg.school.seed if seed is None else seed, domains=domain or cfg.school.domains)
    except ValueError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    count = write_trace(out, school.generate(n))
    typer.echo(f"wrote {count} examples to {out}")


@school_app.command("check")
def school_check(trace: Annotated[Path, typer.Argument(help="JSONL trace to validate")]) -> None:
    """Validate a user's trace before importing it (demo --traffic, reference source)."""
    from collections import Counter

    examples = trace_or_exit(trace)
    domains = Counter(e.domain or "(none)" for e in examples)
    typer.echo(f"{len(examples)} examples; domains: {dict(domains)}")


def demo(
    config: ConfigOpt = None,
    home: Annotated[
        Path | None, typer.Option(help="The demo's own folder (default <paths.home>/demo; wiped on each run)")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: demo.quick's days, queries and steps")
    ] = False,
    days: Annotated[int | None, typer.Option(min=1, help="Simulated days")] = None,
    queries: Annotated[int | None, typer.Option(min=1, help="Queries per day")] = None,
    traffic: Annotated[
        Path | None, typer.Option(help="Replay this JSONL trace (cut into days) instead of the school")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default <demo home>/report)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables")] = False,
    delegation: Annotated[
        bool | None,
        typer.Option(
            "--delegation/--no-delegation", help="Override delegation.enabled (cheap judges stand in)"
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="The week's traffic seed: the same as editing demo.seed in the config file"),
    ] = None,
) -> None:
    """A simulated week: each day's traffic through the real router, nightly_evolution each night,
    baselines on the same queries; writes an HTML report and logs it to MLflow."""
    if traffic is not None:
        trace_or_exit(traffic)
    config_file = config or Path(os.environ.get("ACADEMY_CONFIG", DEFAULT_CONFIG_FILE))
    config_or_exit(config)  # a bad config file is a clear error before Prefect starts
    from flows.demo import simulated_week

    try:
        result = simulated_week(
            config_path=str(config_file),
            home=str(home) if home else None,
            quick=quick,
            traffic=str(traffic) if traffic else None,
            days=days,
            queries_per_day=queries,
            out=str(out) if out else None,
            delegation=delegation,
            seed=seed,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    from academy.simulation.publish import print_summary

    print_summary(result)
