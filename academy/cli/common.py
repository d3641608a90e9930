"""What every ``academy`` command shares: the ``--config`` and ``--home`` options, the offline
environment set before any Hugging Face, Prefect or MLflow import, and loading a config or a trace
with a clear error (exit 2) instead of a traceback. ``offline_env`` lives in ``academy.offline`` and is
re-exported here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from academy.config import AcademyConfig, ConfigError, load_config
from academy.offline import offline_env

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (default ./academy.yaml)")
]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Override paths.home")]

__all__ = ["ConfigOpt", "HomeOpt", "config_or_exit", "offline_env", "trace_or_exit"]


def config_or_exit(path: Path | None, home: Path | None = None, **overrides: Any) -> AcademyConfig:
    """Load config with overrides (None values skipped); a bad file is a clear error, not a traceback."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["paths.home"] = str(home)
    try:
        return load_config(path, values)
    except ConfigError as exc:
        typer.secho(f"config error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def trace_or_exit(trace: Path) -> list[Any]:
    """The trace's examples; an unreadable or invalid trace is a clear error (exit 2)."""
    from academy.school import TraceError, read_trace

    try:
        examples = read_trace(trace)
    except (TraceError, OSError) as exc:
        typer.secho(f"invalid trace: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if not examples:
        typer.secho(f"invalid trace: {trace} holds no queries", fg="red", err=True)
        raise typer.Exit(2)
    return examples
