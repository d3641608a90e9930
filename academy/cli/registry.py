"""``academy registry ...``: the MLflow model registry's versions, stages and roles, rollback, and
where a version is served."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from academy.cli.common import ConfigOpt, HomeOpt, config_or_exit
from academy.config import AcademyConfig

if TYPE_CHECKING:  # MLflow loads lazily: most commands never touch the registry
    from registry.model_registry import ModelRegistry

registry_app = typer.Typer(help="The MLflow model registry: versions, stages, roles.", no_args_is_help=True)
KEY_METRICS = 4  # metrics shown per version in the status table


def _format_metrics(metrics: dict[str, float]) -> str:
    shown = [f"{k}={v:.3g}" for k, v in sorted(metrics.items())[:KEY_METRICS]]
    more = len(metrics) - KEY_METRICS
    return "\n".join(shown) + (f"\n(+{more} more)" if more > 0 else "")


@registry_app.command("status")
def registry_status(
    config: ConfigOpt = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list")] = False,
) -> None:
    """Every version of every managed model: stage, aliases, role, key metrics."""
    from rich.console import Console
    from rich.table import Table

    from registry.model_registry import ModelRegistry, RegistryError

    cfg = config_or_exit(config, home)
    registry = ModelRegistry.from_config(cfg)
    try:
        versions = registry.status() if registry.exists() else []
    except RegistryError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    if not versions:
        typer.echo(f"no models registered yet in {registry.tracking_uri}")
        return
    table = Table(title="Model registry", caption=registry.tracking_uri)
    for column in ("model", "version", "stage", "aliases", "role", "served at"):
        table.add_column(column, justify="right" if column == "version" else "left", no_wrap=True)
    table.add_column("key metrics", overflow="fold")
    table.add_column("created (UTC)", overflow="fold")
    stage_style = {"production": "bold green", "staging": "yellow", "rejected": "red", "archived": "dim"}
    for v in versions:
        stage = f"[{stage_style[v.stage]}]{v.stage}[/]" if v.stage in stage_style else v.stage
        aliases = ", ".join(f"@{a}" for a in v.aliases)
        created = v.created[:16].replace("T", " ")
        served = v.served_at or "-"
        table.add_row(
            v.name, str(v.version), stage, aliases, v.role, served, _format_metrics(v.metrics), created
        )
    Console().print(table)


def existing_registry(cfg: AcademyConfig, action: str) -> ModelRegistry:
    """The config's registry; exit 2 naming it when there is none yet (nothing to ``action``)."""
    from registry.model_registry import ModelRegistry

    registry = ModelRegistry.from_config(cfg)
    if not registry.exists():
        typer.secho(f"no registry at {registry.tracking_uri}: nothing to {action}", fg="red", err=True)
        raise typer.Exit(2)
    return registry


@registry_app.command("rollback")
def registry_rollback(
    model: Annotated[str, typer.Argument(help="Registered model name")],
    reason: Annotated[str, typer.Option(help="Recorded in the transition history")] = "manual rollback",
    config: ConfigOpt = None,
    home: HomeOpt = None,
) -> None:
    """Point MODEL's @production back at its previous production version."""
    from registry.model_registry import RegistryError

    registry = existing_registry(config_or_exit(config, home), "roll back")
    try:
        current = registry.production(model)
        restored = registry.rollback(model, reason)
    except RegistryError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    was = f"v{current.version}" if current else "none"
    typer.echo(f"{model}: @production {was} -> v{restored.version} ({reason})")


@registry_app.command("serve-at")
def registry_serve_at(
    model: Annotated[str, typer.Argument(help="Registered model name")],
    url: Annotated[
        str | None, typer.Argument(help="OpenAI-compatible base URL, e.g. http://host:8200/v1")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Version to tag (default: @production)")] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the tag: routers load the weights again")
    ] = False,
    config: ConfigOpt = None,
    home: HomeOpt = None,
) -> None:
    """Record where MODEL's version is served (`academy serve-student`); routers then call it there."""
    from registry.model_registry import RegistryError

    if clear == (url is not None):
        typer.secho("give either a URL or --clear", fg="red", err=True)
        raise typer.Exit(2)
    registry = existing_registry(config_or_exit(config, home), "tag")
    try:
        tagged = registry.set_served_at(model, None if clear else url, version)
    except RegistryError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    where = "loaded by routers" if clear else f"served at {url}"
    typer.echo(f"{model} v{tagged}: {where}")
