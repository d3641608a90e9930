"""``academy config show``: where the effective configuration stores traffic and models and how its
flows run, after the profile."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from academy.cli.common import ConfigOpt, HomeOpt, config_or_exit

config_app = typer.Typer(help="The effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    config: ConfigOpt = None,
    home: HomeOpt = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="embedded | cluster (overrides the file's profile)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print where this config stores traffic and models and how its flows run, after the profile."""
    from academy.execution import effective_settings

    cfg = config_or_exit(config, home, profile=profile)
    settings = effective_settings(cfg)
    if as_json:
        typer.echo(json.dumps(settings, indent=2))
        return
    width = max(map(len, settings))
    for key, value in settings.items():
        typer.echo(f"{key:<{width}}  {value}")
