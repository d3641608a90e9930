"""The simulated week's steps as plain functions (``tasks/demo.py`` wraps them for Prefect).

The demo gets its own home (``<paths.home>/demo`` unless ``--home``), rebuilt from scratch on each
run so the figures are repeatable: a fresh traffic store, a fresh MLflow registry and a day-0
student warm-started only on the week's first domains. The static baseline is a second home beside
it whose router serves that same day-0 student forever.

Training is charged by measured CPU time (:func:`cpu_seconds` before and after the warm start and
each night), not wall time x cores: an idle core is not billed, a busy one is.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from academy.bootstrap import ensure_students, student_path
from academy.config import AcademyConfig
from academy.evolution.steps import bootstrap
from academy.evolution.students import local_students
from academy.simulation import accounting as acc
from academy.simulation.day import Answers, Served, run_day
from academy.simulation.workload import DayPlan, initial_domains, plan_week

MARKER = ".academy-demo"  # only a folder holding this is ever wiped by the demo
STATIC_HOME = "static"
REPORT_DIR = "report"
CONFIG_FILE = "academy.yaml"
DAYS_FILE = "days.jsonl"
TARGETS = {"cost_ratio": 0.30, "quality_ratio": 0.97}


@dataclass(frozen=True)
class Prepared:
    config_path: str  # the demo's config file: the nightly flows read it, as deployments do
    static: AcademyConfig
    warm_start_seconds: float  # wall time
    warm_start_cpu_seconds: float = 0.0  # measured CPU time (what day 1 is charged)


def demo_config(
    cfg: AcademyConfig,
    quick: bool = False,
    home: Path | None = None,
    traffic: Path | None = None,
    overrides: dict[str, Any] | None = None,
    delegation: bool | None = None,
) -> AcademyConfig:
    """The config the week runs under: ``--quick`` and flag overrides applied, its own home, the
    nights' training budget, and (with ``traffic``) the trace as what teacher and judge know."""
    cfg = cfg.model_copy(deep=True)
    demo = cfg.demo
    updates = (demo.quick.model_dump() if quick else {}) | {
        k: v for k, v in (overrides or {}).items() if v is not None
    }
    cfg.demo = demo.model_validate(demo.model_dump() | updates)
    home = Path(home or cfg.paths.home / "demo").resolve()
    cfg.paths.home, cfg.paths.data = home, home / "datasets"
    cfg.evolution.distill.steps = cfg.demo.night_steps
    if delegation is not None:  # `academy demo --no-delegation`: the supervisor judges everything
        cfg.delegation.enabled = delegation
    cfg.student.warm_start_steps = cfg.demo.warm_start_steps
    cfg.student.warm_start_examples = cfg.demo.warm_start_examples
    cfg.school.domains = list(dict.fromkeys([*cfg.school.domains, *cfg.demo.mix]))
    if traffic is None:
        cfg.student.warm_start_domains = initial_domains(cfg.demo)
    else:
        _trace_as_reference(cfg, traffic)
    return cfg


def _trace_as_reference(cfg: AcademyConfig, traffic: Path) -> None:
    """A replayed trace is also what the simulated teacher and the reference judge know."""
    source = str(Path(traffic).resolve())
    for model in cfg.models:
        if model.backend == "reference":
            model.options["source"] = source
    if cfg.judge.name == "reference":
        cfg.judge.options["source"] = source


def static_config(cfg: AcademyConfig) -> AcademyConfig:
    """The no-evolution baseline: the same router and day-0 students, in a home no night touches."""
    static = cfg.model_copy(deep=True)
    static.paths.home = cfg.paths.home / STATIC_HOME
    static.registry.serve_from_registry = False
    for model in local_students(static):
        model.options["path"] = str(student_path(cfg, model.name))
    return static


def fresh_home(home: Path) -> None:
    """Start the week from nothing; refuse to wipe a folder the demo did not create."""
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).is_file():
            raise FileExistsError(f"{home} exists and is not a demo home; pass another --home")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("created by `academy demo`; wiped by the next run\n")


def cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process, all its threads, and its children that
    have exited and been waited for (``time.process_time()`` misses the children)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def prepare(cfg: AcademyConfig) -> Prepared:
    """Fresh home, the day-0 student (timed, wall and CPU: its training is charged to day 1) and
    config files."""
    fresh_home(cfg.paths.home)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    ensure_students(cfg, announce=lambda message: print(message, file=sys.stderr))
    # Registered before day 1, as a deployment's first start would: day 1's judged answers are then
    # version 1's, the version that serves day 2, not an unversioned folder's that would count
    # only router.evidence.other_version_weight (0.5) once the first night registered it.
    bootstrap(cfg)
    warm_start, warm_start_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    config_path = cfg.paths.home / CONFIG_FILE
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return Prepared(str(config_path), static_config(cfg), round(warm_start, 1), round(warm_start_cpu, 1))


def plan(cfg: AcademyConfig, traffic: Path | None) -> list[DayPlan]:
    return plan_week(cfg.demo, cfg.school.domains, traffic)


def simulate_day(
    cfg: AcademyConfig, prepared: Prepared, day: DayPlan
) -> tuple[list[Served], list[Served], Answers]:
    """The day through Academy's router (and every model's own answers), then through the static
    one; progress bars on stderr (stdout stays clean for ``--json``)."""
    from rich.console import Console
    from rich.progress import Progress

    from academy.embedder import Embedder

    total = len(day.examples)
    with Embedder(cfg.embedder) as embedder:  # once for both routers: the same queries, the same vectors
        embeddings = embedder.embed([e.query for e in day.examples])
    with Progress(console=Console(stderr=True)) as progress:
        academy_bar = progress.add_task(f"day {day.day}: Academy router", total=total)
        academy, answers = run_day(
            cfg, day.examples, cfg.demo.tenant, True, lambda: progress.advance(academy_bar), embeddings
        )
        static_bar = progress.add_task(f"day {day.day}: static baseline", total=total)
        static, _ = run_day(
            prepared.static,
            day.examples,
            cfg.demo.tenant,
            False,
            lambda: progress.advance(static_bar),
            embeddings,
        )
    return academy, static, answers


def night_costs(
    cfg: AcademyConfig,
    day: int,
    nights: dict[int, dict[str, Any]],
    warm_start: float,
    warm_start_cpu: float,
) -> acc.NightCosts:
    """Day ``day`` pays its own traffic's monitoring (night ``day``) and what made the models serving
    it: night ``day - 1``'s training, charged by its measured ``cpu_seconds`` (the warm start's for
    day 1), and the practice queries that night bought (``practice_cost``, USD)."""
    scoring = nights.get(day, {}).get("scoring", {})
    before = nights.get(day - 1, {})
    if day == 1:
        seconds, cpu = warm_start, warm_start_cpu
    else:
        seconds, cpu = float(before.get("cycle_seconds", 0.0)), float(before.get("cpu_seconds", 0.0))
    return acc.NightCosts(
        judge_calls=int(scoring.get("judged", 0)) + int(scoring.get("failed", 0)),
        supervisor_calls=int(
            scoring.get("supervisor_calls", scoring.get("judged", 0) + scoring.get("failed", 0))
        ),
        judge_cost=float(scoring.get("judge_cost", 0.0)),
        training_seconds=seconds,
        training_cost=acc.training_cost(cpu, cfg.demo.cpu_hour_price),
        training_cpu_seconds=cpu,
        practice_cost=float(before.get("practice_cost") or 0.0),
    )


def account(
    cfg: AcademyConfig,
    day: DayPlan,
    simulated: tuple[list[Served], list[Served], Answers],
    nights: dict[int, dict[str, Any]],
    warm_start: float,
    warm_start_cpu: float,
) -> dict[str, Any]:
    academy, static, answers = simulated
    row = acc.account_day(
        day.day,
        day.events,
        academy,
        static,
        answers,
        cfg.teacher.name,
        night_costs(cfg, day.day, nights, warm_start, warm_start_cpu),
    )
    night = nights.get(day.day) or {}
    row["night"] = (
        {
            "seconds": night.get("cycle_seconds"),
            "cpu_seconds": night.get("cpu_seconds"),
            "students": [
                {k: s.get(k) for k in ("student", "version", "stage", "gaps", "spawn", "steps")}
                for s in night.get("students", [])
            ],
            "role_changes": night.get("roles", {}).get("changes", {}),
            "gaps": len(night.get("gaps", [])),
        }
        if "cycle_seconds" in night
        else None
    )
    with (cfg.paths.home / DAYS_FILE).open("a") as out:  # progress that survives an interrupted week
        out.write(json.dumps(row, default=str) + "\n")
    return row


def peak_rss_mib() -> float:
    """Peak resident memory of this process and of its children (Prefect's server, workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + children) / 1024, 1)


def result(
    cfg: AcademyConfig,
    days: list[dict[str, Any]],
    nights: dict[int, dict[str, Any]],
    wall: float,
    traffic: Path | None,
) -> dict[str, Any]:
    """The run's one JSON object (``--json``) and the report's input."""
    totals = acc.overall(days)
    headline = acc.summary(days, totals)
    demo = cfg.demo
    return {
        "title": "Academy: a simulated week of self-evolution",
        "days": len(days),
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": peak_rss_mib(),
        "home": str(cfg.paths.home),
        "settings": {
            "traffic": str(traffic) if traffic else "school",
            "seed": demo.seed,
            "queries_per_day": demo.queries_per_day,
            "mix": ", ".join(f"{d} {w:g}" for d, w in demo.mix.items()),
            "new_domain": f"{demo.new_domain} from day {demo.new_domain_day}" if demo.new_domain else "none",
            "drift": f"{demo.drift_domain} from day {demo.drift_day}" if demo.drift_domain else "none",
            "night_steps": demo.night_steps,
            "judge_cost_per_call": cfg.judge.cost_per_call,
            "cpu_hour_price": demo.cpu_hour_price,
            "cpus": os.cpu_count() or 1,
        },
        "targets": TARGETS,
        "policies": list(acc.POLICIES),
        "summary": headline,
        "cost_ratio": headline["cost_ratio"],
        "quality_ratio": headline["quality_ratio"],
        "baselines": {
            name: {
                "cost_ratio": {
                    "last_day": days[-1]["policies"][name]["cost_ratio"],
                    "overall": totals[name]["cost_ratio"],
                },
                "quality_ratio": {
                    "last_day": days[-1]["policies"][name]["quality_ratio"],
                    "overall": totals[name]["quality_ratio"],
                },
            }
            for name in acc.POLICIES
            if name != "academy"
        },
        "overall": totals,
        "per_day": days,
        "timeline": acc.timeline(nights),
    }
