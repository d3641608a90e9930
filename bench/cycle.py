"""One nightly cycle on the embedded default: ``academy bench cycle [--queries N] [--json]``.

1. A fresh home: a warm-started student-1 (not timed) and a day of school traffic routed through
   the real router in-process (not timed: it is the day, not the night).
2. ``nightly_evolution`` under Prefect (ephemeral API) against that home: timed as ``cycle_seconds``.
3. Per domain and student: held-out exact match of the production version before the night and of
   the candidate after, and whether it was promoted; then a fresh sample of the same domains is
   routed again to show where familiar traffic goes now (share answered by a student).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from academy.bootstrap import ensure_students
from academy.config import AcademyConfig
from academy.evolution.layout import NightLayout
from academy.evolution.students import read_json
from academy.route_batch import route_examples
from academy.runtime import Runtime
from academy.school import School

TENANT = "bench"


def write_config(cfg: AcademyConfig, path: Path) -> Path:
    """The flows take a config file (as deployments do): dump the in-memory config to YAML."""
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def route_day(
    cfg: AcademyConfig, queries: int, seed: int, concurrency: int = 8, chunk: int = 500
) -> dict[str, Any]:
    """Route ``queries`` school queries through a fresh runtime; returns routes and models used.

    Between chunks of ``chunk`` queries the store is maintained explicitly (index, compaction, old
    versions deleted): in a 9,000-query run the router's own background maintenance stopped firing
    after the first index build and every logged request got slower (see docs/architecture.md, "Known limits of the store").
    """
    examples = School(seed=seed, domains=cfg.school.domains).generate(queries)

    async def run() -> list:
        runtime = Runtime.build(cfg)
        await runtime.start()
        results = []
        try:
            for start in range(0, len(examples), chunk):
                results += await route_examples(runtime, examples[start : start + chunk], TENANT, concurrency)
                await runtime.router.maintain_store()
            return results
        finally:
            await runtime.aclose()

    started = time.perf_counter()
    results = asyncio.run(run())
    by_domain: dict[str, Counter] = {}
    for example, result in zip(examples, results):
        if result.route == "familiar":
            by_domain.setdefault(example.domain or "?", Counter())[result.model] += 1
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "routes": dict(Counter(r.route for r in results)),
        "served_by": dict(Counter(r.model for r in results)),
        "familiar_by_domain": {d: dict(c) for d, c in sorted(by_domain.items())},
    }


def student_rows(cfg: AcademyConfig, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """{domain, model, version, exact_match_before, exact_match_after, promoted} per student x domain."""
    rows = []
    for student in summary["students"]:
        evals = read_json(NightLayout.of(cfg).candidate(student["student"]) / "eval.json")
        before = (evals["incumbent"] or {}).get("per_domain", {})
        after = evals["candidate"]["per_domain"]
        for domain in sorted(after):
            rows.append(
                {
                    "domain": domain,
                    "model": student["student"],
                    "version": student["version"],
                    "exact_match_before": before.get(domain),
                    "exact_match_after": after[domain],
                    "promoted": student["stage"] == "production",
                }
            )
    return rows


def run_cycle_bench(
    cfg: AcademyConfig,
    queries: int,
    home: Path | None = None,
    after: int = 300,
    task_runner: str | None = None,
    dask_workers: int | None = None,
) -> dict[str, Any]:
    """``task_runner`` / ``dask_workers`` override ``execution.*``: the same day and night, fanned
    out sequentially or over a local Dask cluster, to measure the speed-up."""
    from flows.nightly import nightly_evolution

    home = home or Path(tempfile.mkdtemp(prefix="academy-cycle-"))
    cfg = cfg.model_copy(deep=True)
    cfg.paths.home, cfg.paths.data = home, home / "datasets"
    cfg.execution = cfg.execution.model_copy(
        update={k: v for k, v in {"task_runner": task_runner, "dask_workers": dask_workers}.items() if v}
    )
    created = ensure_students(cfg, announce=lambda message: print(message, file=sys.stderr))  # stdout: --json
    day = route_day(cfg, queries, seed=cfg.school.seed + 1)
    config_path = write_config(cfg, home / "academy.yaml")
    started = time.perf_counter()
    summary = nightly_evolution(config_path=str(config_path), home=str(home))  # runner: cfg.execution
    cycle_seconds = time.perf_counter() - started
    next_day = route_day(cfg, after, seed=cfg.school.seed + 2)
    return {
        "home": str(home),
        "queries": queries,
        "task_runner": cfg.execution.task_runner,
        "dask_workers": cfg.execution.dask_workers if cfg.execution.task_runner == "dask" else None,
        "student_created": bool(created),
        "day": day,
        "cycle_seconds": round(cycle_seconds, 1),
        "gaps": len(summary["gaps"]),
        "students": student_rows(cfg, summary),
        "stages": {s["student"]: s["stage"] for s in summary["students"]},
        "train_seconds": {s["student"]: s["train_seconds"] for s in summary["students"]},
        "after": next_day,
    }


def print_cycle(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"one nightly cycle: {report['cycle_seconds']} s ({report['queries']} queries that day)"
    )
    for column in ("domain", "model", "version", "exact match before", "after", "promoted"):
        table.add_column(column)
    for row in report["students"]:
        before = row["exact_match_before"]
        table.add_row(
            row["domain"],
            row["model"],
            str(row["version"]),
            "-" if before is None else f"{before:.3f}",
            f"{row['exact_match_after']:.3f}",
            "yes" if row["promoted"] else "no",
        )
    console = Console()
    console.print(table)
    console.print(f"familiar traffic after the night, by domain: {report['after']['familiar_by_domain']}")
