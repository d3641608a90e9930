"""The serving commands: ``academy serve`` (the router), ``serve-student`` (one registered student
over an OpenAI-compatible API), ``ask`` (a question to a running router), ``sim-api`` (a simulated
provider) and ``academy student init``."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from academy.cli.common import ConfigOpt, HomeOpt, config_or_exit

student_app = typer.Typer(help="Create and inspect student models.", no_args_is_help=True)


def serve(
    config: ConfigOpt = None,
    home: HomeOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Start the OpenAI-compatible router (POST /v1/chat/completions)."""
    import uvicorn

    from academy.server import create_app

    cfg = config_or_exit(config, home, **{"server.host": host, "server.port": port})
    uvicorn.run(create_app(cfg), host=cfg.server.host, port=cfg.server.port, log_level="info")


def serve_student(
    model: Annotated[str, typer.Option(help="models:/<name>@<alias> or models:/<name>/<version>")],
    config: ConfigOpt = None,
    home: HomeOpt = None,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8200,
) -> None:
    """Serve one registered student over an OpenAI-compatible API (/v1/chat/completions, /health).
    Tag it with `academy registry serve-at` so routers call it instead of loading its weights."""
    import uvicorn

    from academy.backends.hf import BackendError
    from academy.student_server import StudentServerError, create_student_app, load_backend, resolve

    cfg = config_or_exit(config, home)
    try:
        served = resolve(cfg, model)
        backend = load_backend(cfg, served)
    except (StudentServerError, BackendError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"serving {served.name} v{served.version} at http://{host}:{port}/v1")
    uvicorn.run(create_student_app(backend, served), host=host, port=port, log_level="warning")


def ask(
    query: Annotated[str, typer.Argument(help="The question")],
    url: Annotated[str, typer.Option(help="Router base URL")] = "http://127.0.0.1:8000/v1",
    tenant: Annotated[str | None, typer.Option(help="Tenant header")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw response")] = False,
) -> None:
    """Ask a running router a question, with the official openai client."""
    import openai

    client = openai.OpenAI(base_url=url, api_key=os.environ.get("ACADEMY_API_KEY", "none"), max_retries=0)
    headers = {"X-Academy-Tenant": tenant} if tenant else {}
    try:
        response = client.chat.completions.create(
            model="academy", messages=[{"role": "user", "content": query}], extra_headers=headers
        )
    except openai.APIConnectionError:
        typer.secho(f"cannot reach a router at {url}: start one with `academy serve`", fg="red", err=True)
        raise typer.Exit(1) from None
    except openai.APIStatusError as exc:
        typer.secho(f"router refused the request ({exc.status_code}): {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    data = response.model_dump()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    info = data.get("academy", {})
    typer.echo(data["choices"][0]["message"]["content"])
    typer.secho(
        f"[route={info.get('route')} model={info.get('model')} score={info.get('score')} "
        f"cost=${info.get('cost_usd', 0):.6f} latency={info.get('latency_ms')} ms]",
        fg="cyan",
        err=True,
    )


def sim_api(
    port: Annotated[int, typer.Option(help="Port")] = 8100,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    malformed_rate: Annotated[float, typer.Option(help="Share of malformed judge replies")] = 0.0,
    config: ConfigOpt = None,
) -> None:
    """A SIMULATED OpenAI-compatible provider: model 'teacher' (reference) and 'judge' (rubric JSON)."""
    import uvicorn

    from academy.bootstrap import simulated_provider

    cfg = config_or_exit(config)
    uvicorn.run(simulated_provider(cfg, malformed_rate), host=host, port=port, log_level="info")


@student_app.command("init")
def student_init(
    name: Annotated[str, typer.Option(help="Model name in config (backend hf)")] = "student-1",
    config: ConfigOpt = None,
    home: HomeOpt = None,
    steps: Annotated[int | None, typer.Option(help="Warm-start SFT steps on school data")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing student")] = False,
) -> None:
    """Create a student: local tokenizer, tiny Llama, a short warm start on school data."""
    from academy.bootstrap import init_student

    cfg = config_or_exit(config, home, **{"student.warm_start_steps": steps})
    try:
        path, summary = init_student(cfg, name, force=force)
    except (KeyError, ValueError, FileExistsError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"student {name} at {path}: {json.dumps(summary)}")
