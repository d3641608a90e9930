"""``academy``: the command line. Every command reads academy.yaml (or --config); flags override it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from academy.cli_evolve import evolve_app
from academy.cli_gateway import gateway_app
from academy.config import DEFAULT_CONFIG_FILE, AcademyConfig, ConfigError, load_config

if TYPE_CHECKING:  # MLflow loads lazily: most commands never touch the registry
    from registry.model_registry import ModelRegistry

app = typer.Typer(help="Academy: a self-evolving teacher-student LLM platform.", no_args_is_help=True)
student_app = typer.Typer(help="Create and inspect student models.", no_args_is_help=True)
school_app = typer.Typer(help="The embedded school: generate, export and check traces.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.add_typer(student_app, name="student")
app.add_typer(school_app, name="school")
app.add_typer(bench_app, name="bench")
app.add_typer(evolve_app, name="evolve")
app.add_typer(gateway_app, name="gateway")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (default ./academy.yaml)")
]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Override paths.home")]


def offline_env() -> None:
    """No hub access at run time, no telemetry: set before any Hugging Face or Prefect import."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }.items():
        os.environ.setdefault(key, value)


@app.callback()
def main() -> None:
    """Academy: a self-evolving teacher-student LLM platform."""
    offline_env()  # before any command imports Hugging Face, Prefect or MLflow


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


@app.command()
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


@app.command("serve-student")
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


@app.command()
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


@school_app.command("check")
def school_check(trace: Annotated[Path, typer.Argument(help="JSONL trace to validate")]) -> None:
    """Validate a user's trace before importing it (demo --traffic, reference source)."""
    from collections import Counter

    examples = trace_or_exit(trace)
    domains = Counter(e.domain or "(none)" for e in examples)
    typer.echo(f"{len(examples)} examples; domains: {dict(domains)}")


@app.command()
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


@app.command("sim-api")
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


@bench_app.command("overhead")
def bench_overhead(
    rows: Annotated[list[int] | None, typer.Option("--rows", help="Store sizes (repeatable)")] = None,
    queries: Annotated[int, typer.Option(help="Timed routing decisions per size")] = 300,
    http_requests: Annotated[int, typer.Option(help="Requests for the HTTP throughput run")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: ConfigOpt = None,
) -> None:
    """Routing decision time (embed + search + policy) p50/p99 per store size, and HTTP requests/s."""
    from bench.router_overhead import run_overhead_bench

    cfg = config_or_exit(config)
    report = run_overhead_bench(cfg, rows or [10_000, 1_000_000], queries, http_requests, quiet=as_json)
    typer.echo(json.dumps(report) if as_json else json.dumps(report, indent=2))


@bench_app.command("load")
def bench_load(
    clients: Annotated[int, typer.Option(help="Concurrent clients")] = 32,
    seconds: Annotated[float, typer.Option(help="Seconds of load")] = 20.0,
    kill: Annotated[
        bool, typer.Option("--kill", help="SIGKILL the server half-way, restart it, check again")
    ] = False,
    teacher_latency_ms: Annotated[float, typer.Option(help="The reference teacher's latency")] = 20.0,
    student_dir: Annotated[
        Path | None, typer.Option(help="Serve this student instead of creating a tiny one")
    ] = None,
    home: Annotated[Path | None, typer.Option(help="Keep the run's files here (default: a temp dir)")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Sent as Authorization: Bearer (default: $ACADEMY_API_KEY)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """N clients for M seconds against a real `academy serve`: req/s, p50/p99, 5xx, and every
    acknowledged request stored (also across a SIGKILL with --kill)."""
    from bench.load import LoadSettings, format_report, run_load_bench

    settings = LoadSettings(
        clients,
        seconds,
        kill,
        teacher_latency_ms,
        student_dir,
        home,
        api_key or os.environ.get("ACADEMY_API_KEY"),
    )
    try:
        settings.check()
    except ValueError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    try:
        report = run_load_bench(settings, log=(lambda _: None) if as_json else typer.echo)
    except RuntimeError as exc:  # the server would not start: its log says why
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report) if as_json else format_report(report))


# ---- academy registry ----------------------------------------------------------------------------


@bench_app.command("cache")
def bench_cache(
    queries: Annotated[int, typer.Option(min=1, help="Distinct queries, each asked three ways")] = 100,
    similarity: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Semantic threshold for this run")
    ] = 0.9,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: ConfigOpt = None,
) -> None:
    """Latency of exact and semantic cache hits against a routed (familiar, student) answer."""
    from bench.cache import format_report, run_cache_bench

    report = run_cache_bench(config_or_exit(config), queries, similarity)
    typer.echo(json.dumps(report) if as_json else format_report(report))


@bench_app.command("cycle")
def bench_cycle(
    queries: Annotated[int, typer.Option(help="School queries in the simulated day before the night")] = 6000,
    after: Annotated[
        int, typer.Option(help="Queries routed after the night to see where traffic goes")
    ] = 300,
    home: Annotated[Path | None, typer.Option(help="Work here instead of a fresh temporary home")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    task_runner: Annotated[
        str | None, typer.Option(help="sequential | dask (default: execution.task_runner)")
    ] = None,
    dask_workers: Annotated[int | None, typer.Option(min=1, help="Local Dask worker processes")] = None,
    config: ConfigOpt = None,
) -> None:
    """One nightly cycle on the embedded default: wall time and each student's exact match before/after."""
    from bench.cycle import print_cycle, run_cycle_bench

    cfg = config_or_exit(
        config, **{"execution.task_runner": task_runner, "execution.dask_workers": dask_workers}
    )
    report = run_cycle_bench(cfg, queries, home, after)
    typer.echo(json.dumps(report)) if as_json else print_cycle(report)


@bench_app.command("fanout")
def bench_fanout(
    queries: Annotated[int, typer.Option(help="School queries in the simulated day before the night")] = 1500,
    students: Annotated[
        int, typer.Option(min=1, help="Local students, each warm-started on its own domains")
    ] = 2,
    dask_workers: Annotated[int, typer.Option(min=1, help="Processes of the local Dask cluster")] = 2,
    steps: Annotated[
        int | None, typer.Option(min=1, help="SFT steps per student (evolution.distill.steps)")
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="Work here (a day already in HOME/day is reused) instead of a fresh temp home"),
    ] = None,
    runners: Annotated[
        list[str] | None, typer.Option("--runner", help="Run only this night (repeatable): sequential, dask")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: ConfigOpt = None,
) -> None:
    """The same night sequential and on a local Dask cluster, from one day: wall time, per phase, speed-up."""
    from bench.fanout import RUNNERS, format_report, run_fanout_bench

    unknown = sorted(set(runners or ()) - set(RUNNERS))
    if unknown:
        raise typer.BadParameter(f"unknown runner {unknown[0]!r}; choose from {', '.join(RUNNERS)}")
    cfg = config_or_exit(config, **{"evolution.distill.steps": steps})
    report = run_fanout_bench(cfg, queries, students, dask_workers, home, tuple(runners or RUNNERS))
    typer.echo(json.dumps(report) if as_json else format_report(report))


@bench_app.command("replay")
def bench_replay(
    all_sets: Annotated[bool, typer.Option("--all", help="Every set in replay.sets (the default)")] = False,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="One data set (repeatable): mmlu, gsm8k, mt_bench, routerbench, llmrouter"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where report.md, the PNGs and results.json go")] = None,
    data: Annotated[Path | None, typer.Option(help="The shared outcome data folder")] = None,
    seed: Annotated[int | None, typer.Option(help="Stream order and sampled decisions")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object keyed by set")] = False,
    config: ConfigOpt = None,
) -> None:
    """Real LLM outcomes (RouteLLM, RouterBench, LLMRouter) through the router, learning online: APGR, CPT, savings."""
    from academy.replay.report import format_table
    from academy.replay.sets import SETS, ReplayDataError
    from bench.replay import json_view, run_replay_bench

    paths = {"replay.out": out, "replay.data_dir": data}
    cfg = config_or_exit(
        config, **{k: str(v) for k, v in paths.items() if v is not None}, **{"replay.seed": seed}
    )
    chosen = cfg.replay.sets if all_sets or not sets else sets
    unknown = [name for name in chosen if name not in SETS]
    if unknown:
        typer.secho(f"unknown data set(s) {', '.join(unknown)}; known: {', '.join(SETS)}", fg="red", err=True)
        raise typer.Exit(2)
    try:
        report = run_replay_bench(cfg, chosen, progress=not as_json)
    except ReplayDataError as exc:
        typer.secho(f"{exc} (point replay.data_dir or --data at the shared data folder)", fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(json_view(report["sets"])))
        return
    typer.echo(format_table(report["sets"]))
    typer.echo(f"\nreport: {report['out']}/report.md ({report['seconds']} s)")


@bench_app.command("distill")
def bench_distill(
    variants: Annotated[
        list[str] | None,
        typer.Option("--variant", help="One variant (repeatable); default: distill_bench.variants"),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="The budget: optimizer steps per variant")] = None,
    domains: Annotated[
        list[str] | None, typer.Option("--domain", help="One school domain (repeatable); default: all")
    ] = None,
    train_per_domain: Annotated[int | None, typer.Option(help="Distinct training queries per domain")] = None,
    out: Annotated[Path | None, typer.Option(help="Where report.md and results.json go")] = None,
    home: Annotated[Path | None, typer.Option(help="MLflow lives here (default: paths.home)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object keyed by variant")] = False,
    config: ConfigOpt = None,
) -> None:
    """Response vs reasoning vs confidence weighting vs peer logits, same data and budget: held-out exact match per domain."""
    from bench.distill import VARIANTS, format_table, run_distill_bench

    unknown = [v for v in variants or [] if v not in VARIANTS]
    if unknown:
        typer.secho(
            f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}", fg="red", err=True
        )
        raise typer.Exit(2)
    overrides = {
        "distill_bench.steps": steps,
        "distill_bench.train_per_domain": train_per_domain,
        "distill_bench.out": str(out) if out else None,
    }
    if domains:
        overrides["distill_bench.domains"] = domains
    cfg = config_or_exit(config, home, **overrides)
    log = (lambda _: None) if as_json else (lambda line: typer.echo(line, err=True))
    report = run_distill_bench(cfg, variants, log)
    if as_json:
        typer.echo(json.dumps(report["variants"]))
        return
    typer.echo(format_table(report))
    typer.echo(
        f"\nreport: {cfg.distill_bench.out}/report.md ({report['seconds']} s, MLflow run {report['mlflow_run']})"
    )


config_app = typer.Typer(help="The effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


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


registry_app = typer.Typer(help="The MLflow model registry: versions, stages, roles.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
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


if __name__ == "__main__":
    app()
