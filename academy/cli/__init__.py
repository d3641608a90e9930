"""``academy``: the command line. Every command reads academy.yaml (or --config); flags override it.

``app`` is the Typer application (the ``academy`` console script, ``python -m academy.cli``); the
commands live in this package's modules by group: ``serving`` (serve, serve-student, ask, sim-api,
student), ``school`` (school, demo), ``bench``, ``evolve``, ``gateway``, ``settings`` (config) and
``registry``. Nothing else in Academy imports the CLI.
"""

from __future__ import annotations

import typer

from academy.cli.bench import bench_app
from academy.cli.common import config_or_exit, offline_env, trace_or_exit
from academy.cli.evolve import evolve_app
from academy.cli.gateway import gateway_app
from academy.cli.registry import registry_app
from academy.cli.school import demo, school_app
from academy.cli.serving import ask, serve, serve_student, sim_api, student_app
from academy.cli.settings import config_app

__all__ = ["app", "config_or_exit", "offline_env", "trace_or_exit"]

app = typer.Typer(help="Academy: a self-evolving teacher-student LLM platform.", no_args_is_help=True)
app.command()(serve)
app.command("serve-student")(serve_student)
app.command()(ask)
app.command()(demo)
app.command("sim-api")(sim_api)
app.add_typer(student_app, name="student")
app.add_typer(school_app, name="school")
app.add_typer(bench_app, name="bench")
app.add_typer(evolve_app, name="evolve")
app.add_typer(gateway_app, name="gateway")
app.add_typer(config_app, name="config")
app.add_typer(registry_app, name="registry")


@app.callback()
def main() -> None:
    """Academy: a self-evolving teacher-student LLM platform."""
    offline_env()  # before any command imports Hugging Face, Prefect or MLflow
