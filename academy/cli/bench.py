"""``academy bench ...``: the benchmarks that print figures. Each command loads the config, hands
it and its flags to the benchmark's function in ``bench/`` and prints the report (``--json``: one
JSON object)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from academy.cli.common import ConfigOpt, config_or_exit

bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)


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
