"""One nightly cycle fanned out on a local Dask cluster vs sequential: ``academy bench fanout``.

1. A fresh home with ``students`` students: the configured ``student-1`` and copies of its model
   entry (``student-2``, ...). Each is warm-started on its own share of the school's domains, so
   each is the best student somewhere and gets gaps of its own (not timed).
2. One day of school traffic through the real router, in-process (not timed: the day).
3. The home is copied once per runner and the same night runs on each copy: ``sequential`` (one
   task at a time, torch on every core) and ``dask`` (a LocalCluster of ``dask_workers``
   single-thread processes). Timed: the whole cycle and each phase.
4. Both nights must agree (versions, stages, gaps, dataset md5s, candidate scores): a speed-up
   that changed the outcome would not be one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from academy.bootstrap import init_student
from academy.config import AcademyConfig
from bench.cycle import route_day, write_config
from registry.model_registry import ModelRegistry

RUNNERS = ("sequential", "dask")
TEMPLATE = "student-1"


def with_students(cfg: AcademyConfig, students: int) -> AcademyConfig:
    """``cfg`` with ``students`` local hf students: student-1 and copies named student-2, ..."""
    data = cfg.model_dump(mode="json")
    template = next(m for m in data["models"] if m["name"] == TEMPLATE)
    for k in range(2, students + 1):
        if not any(m["name"] == f"student-{k}" for m in data["models"]):
            options = template["options"] | {"path": f"students/student-{k}"}
            data["models"].append(template | {"name": f"student-{k}", "options": options})
    return AcademyConfig.model_validate(data)


def warm_start(cfg: AcademyConfig, names: list[str]) -> dict[str, list[str]]:
    """Each student warm-started on every len(names)-th school domain: name -> its domains."""
    domains = list(cfg.school.domains)
    taught = {name: domains[i :: len(names)] for i, name in enumerate(names)}
    for name, own in taught.items():
        print(f"warm-starting {name} on {', '.join(own)}", file=sys.stderr)  # stdout: --json
        init_student(
            cfg.model_copy(update={"student": cfg.student.model_copy(update={"warm_start_domains": own})}),
            name,
        )
    return taught


def on_runner(cfg: AcademyConfig, home: Path, runner: str, workers: int) -> AcademyConfig:
    data = cfg.model_dump(mode="json")
    data["paths"] |= {"home": str(home), "data": str(home / "datasets")}
    data["execution"] = {"task_runner": runner, "dask_workers": workers}
    return AcademyConfig.model_validate(data)


NIGHT_FILE = "bench-night.json"


def run_night(cfg: AcademyConfig) -> dict[str, Any]:
    """The nightly flow on ``cfg``'s runner; its wall seconds (the LocalCluster's start included).
    Kept in the night's home (``NIGHT_FILE``), so a later run of one runner can be compared."""
    from flows.nightly import nightly_evolution

    config_path = write_config(cfg, cfg.paths.home / "academy.yaml")
    started = time.perf_counter()
    summary = nightly_evolution(config_path=str(config_path), home=str(cfg.paths.home))  # cfg.execution
    night = {
        "seconds": round(time.perf_counter() - started, 1),
        "phase_seconds": summary["phase_seconds"],
        "scoring_shards": summary["scoring"]["shards"],
        "students": [
            {
                "student": s["student"],
                "version": s["version"],
                "stage": s["stage"],
                "gaps": s["gaps"],
                "train_seconds": s["train_seconds"],
                "candidate_gap_score": s["evaluation"]["candidate"]["gap_score"],
                "candidate_per_domain": s["evaluation"]["candidate"]["per_domain"],
            }
            for s in summary["students"]
        ],
        "lineage": summary["lineage"],
        "registry": [[v.name, v.version, v.stage] for v in ModelRegistry.from_config(cfg).status()],
    }
    (cfg.paths.home / NIGHT_FILE).write_text(json.dumps(night))
    return night


def same_outcome(a: dict[str, Any], b: dict[str, Any]) -> dict[str, bool]:
    """Which parts of two nights' outcomes agree (timings left out)."""

    def outcome(night: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k != "train_seconds"} for s in night["students"]]

    return {
        "registry": a["registry"] == b["registry"],
        "datasets": a["lineage"] == b["lineage"],
        "students": outcome(a) == outcome(b),
    }


def run_fanout_bench(
    cfg: AcademyConfig,
    queries: int,
    students: int = 2,
    dask_workers: int = 2,
    home: Path | None = None,
    runners: tuple[str, ...] = RUNNERS,
) -> dict[str, Any]:
    """A day in ``home/day`` (kept: given a ``home`` that has one, the day is reused), then one
    night per runner in ``runners`` on a fresh copy of it. A runner not re-run is compared from its
    last night in this home, if there is one."""
    home = home or Path(tempfile.mkdtemp(prefix="academy-fanout-"))
    day = home / "day"
    cfg = on_runner(with_students(cfg, students), day, "sequential", dask_workers)
    names = [TEMPLATE] + [f"student-{k}" for k in range(2, students + 1)]
    if (day / "academy.yaml").is_file():
        print(f"reusing the day in {day}", file=sys.stderr)
        taught, traffic = None, None
    else:
        taught = warm_start(cfg, names)
        traffic = route_day(cfg, queries, seed=cfg.school.seed + 1)
        write_config(cfg, day / "academy.yaml")  # marks the day as complete
    nights = {}
    for runner in RUNNERS:
        night_home = home / runner
        if runner in runners:
            shutil.rmtree(night_home, ignore_errors=True)
            shutil.copytree(day, night_home)
            nights[runner] = run_night(on_runner(cfg, night_home, runner, dask_workers))
        elif (night_home / NIGHT_FILE).is_file():
            nights[runner] = json.loads((night_home / NIGHT_FILE).read_text())
    both = all(r in nights for r in RUNNERS)
    return {
        "home": str(home),
        "cpus": os.cpu_count(),
        "queries": queries if traffic else None,
        "distill_steps": cfg.evolution.distill.steps,
        "scoring_shards": cfg.evolution.scoring.shards,
        "dask_workers": dask_workers,
        "warm_start_domains": taught,
        "day": traffic and {k: traffic[k] for k in ("seconds", "routes", "served_by")},
        "ran": list(runners),
        "nights": {
            runner: {k: v for k, v in night.items() if k != "lineage"} for runner, night in nights.items()
        },
        "speedup": round(nights["sequential"]["seconds"] / nights["dask"]["seconds"], 2) if both else None,
        "same_outcome": same_outcome(nights["sequential"], nights["dask"]) if both else None,
    }


def format_report(report: dict[str, Any]) -> str:
    nights = report["nights"]
    phases = sorted({p for night in nights.values() for p in night["phase_seconds"]})
    lines = [
        f"one nightly cycle, {report['queries'] or 'a reused day of'} queries that day, {report['cpus']} CPUs, "
        f"{report['distill_steps']} SFT steps per student",
        f"{'':>14}" + "".join(f"{runner:>12}" for runner in nights),
        f"{'cycle (s)':>14}" + "".join(f"{night['seconds']:>12}" for night in nights.values()),
    ]
    for phase in phases:
        lines.append(
            f"{phase:>14}" + "".join(f"{n['phase_seconds'].get(phase, '-'):>12}" for n in nights.values())
        )
    for runner, night in nights.items():
        for s in night["students"]:
            lines.append(
                f"  {runner}: {s['student']} v{s['version']} {s['stage']} gaps {s['gaps']} "
                f"gap exact match {s['candidate_gap_score']}"
            )
    lines.append(f"speed-up (sequential / dask {report['dask_workers']} workers): {report['speedup']}x")
    lines.append(f"same outcome: {report['same_outcome']}")
    return "\n".join(lines)
