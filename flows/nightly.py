"""The nightly evolution as Prefect flows: ``nightly_evolution`` composes one flow per step, and
each step flow can be run alone (Prefect UI, ``prefect deployment run``) with typed parameters.

Flows only compose tasks (``tasks/nightly.py``); every flow takes the config file and an optional
home override, so a deployment, the CLI and a test all start the same way.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, unmapped

from academy.config import AcademyConfig, load_config
from academy.evolution.students import SPAWN, spawn_name
from tasks import nightly as t

DEFAULT_CONFIG = "academy.yaml"


def _config(config_path: str, home: str | None) -> AcademyConfig:
    return load_config(config_path, {"paths.home": home} if home else None)


@flow(name="score_traffic")
def score_traffic(config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, Any]:
    """Judge unjudged answers, then freeze the traffic into a Parquet snapshot."""
    return t.score_traffic(_config(config_path, home))


@flow(name="mine_gaps")
def mine_gaps(config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, Any]:
    """Cluster the snapshot and rank knowledge gaps (report: Prefect artifact 'gap-report')."""
    return asdict(t.mine_gaps(_config(config_path, home)))


@flow(name="build_distillation_dataset")
def build_distillation_dataset(config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, str]:
    """Train/eval/regression Parquet files for the selected gaps; returns their md5 (DVC lineage)."""
    return t.build_datasets(_config(config_path, home))


@flow(name="distill_student")
def distill_student(
    student: str,
    gaps: list[int],
    spawn: bool = False,
    config_path: str = DEFAULT_CONFIG,
    home: str | None = None,
) -> dict[str, Any]:
    """Train ``student``'s candidate on ``gaps`` (SFT on winners, then logits of a promoted peer)."""
    return t.distill_student(_config(config_path, home), student, gaps, spawn)


@flow(name="evaluate_candidate")
def evaluate_candidate(
    student: str, config_path: str = DEFAULT_CONFIG, home: str | None = None
) -> dict[str, Any]:
    """Candidate vs production vs teacher on held-out gap queries and the regression set."""
    return t.evaluate_candidate(_config(config_path, home), student)


@flow(name="register_version")
def register_version(
    student: str, night: str = "", config_path: str = DEFAULT_CONFIG, home: str | None = None
) -> dict[str, Any]:
    """Log the candidate's MLflow run and register it as a new model version (stage candidate)."""
    return t.register_version(_config(config_path, home), student, night)


@flow(name="promote")
def promote(student: str, config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, Any]:
    """Quality gate -> candidate to staging to production (or rejected), recorded in the registry."""
    return t.promote(_config(config_path, home), student)


@flow(name="evolve_student")
def evolve_student(
    student: str,
    gaps: list[int],
    spawn: bool = False,
    night: str = "",
    config_path: str = DEFAULT_CONFIG,
    home: str | None = None,
) -> dict[str, Any]:
    """distill -> evaluate -> register -> promote for one student."""
    return t.evolve_student(_config(config_path, home), student, gaps, spawn, night)


@flow(name="spawn_student")
def spawn_student(
    night: str = "", config_path: str = DEFAULT_CONFIG, home: str | None = None
) -> dict[str, Any] | None:
    """A new student for the gaps no student covers; it serves only once it passes the gate."""
    cfg = _config(config_path, home)
    gaps = t.plan_students(cfg).get(SPAWN)
    if not gaps:
        return None
    from registry.model_registry import ModelRegistry

    name = spawn_name([m.name for m in cfg.models] + ModelRegistry.from_config(cfg).models())
    return evolve_student(name, gaps, True, night, config_path, home)


@flow(name="update_roles")
def update_roles(
    night: str = "", config_path: str = DEFAULT_CONFIG, home: str | None = None
) -> dict[str, Any]:
    """Record win rates; move roles student -> TA -> teacher (or back) when they have held."""
    return t.update_roles(_config(config_path, home), night)


@flow(name="train_router_model")
def train_router_model(
    config_path: str = DEFAULT_CONFIG, home: str | None = None, night: str = ""
) -> dict[str, Any]:
    """Retrain the learned router on the snapshot's judged answers; the gate promotes or rejects it."""
    return t.train_router(_config(config_path, home), night)


@flow(name="update_delegation")
def update_delegation(
    config_path: str = DEFAULT_CONFIG, home: str | None = None, night: str = ""
) -> dict[str, Any]:
    """Measure where cheap judges agree with the supervisor; delegate or revoke per cluster (gated)."""
    return t.update_delegation(_config(config_path, home), night)


@flow(name="nightly_evolution")
def nightly_evolution(config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, Any]:
    """Score -> router model -> gaps -> judges' delegation -> datasets -> (distill -> evaluate ->
    register -> promote) per student -> roles."""
    started, night = time.perf_counter(), datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    cfg = _config(config_path, home)
    bootstrapped = t.bootstrap_registry(cfg)
    scoring = score_traffic(config_path, home)
    router_model = train_router_model(config_path, home, night)
    gaps = mine_gaps(config_path, home)
    delegation = update_delegation(config_path, home, night)
    lineage = build_distillation_dataset(config_path, home)
    plan = t.plan_students(cfg)
    # students train independently of each other: one mapped task each, in parallel on a Dask
    # task runner (academy.execution.task_runner), one at a time on the sequential one
    names = sorted(s for s in plan if s != SPAWN)
    runs = t.evolve_student.map(unmapped(cfg), names, [plan[s] for s in names], False, unmapped(night))
    students = [run.result() for run in runs]
    # a spawned student learns from tonight's promoted peers: after the others
    spawned = spawn_student(night, config_path, home) if SPAWN in plan else None
    students += [spawned] if spawned else []
    roles = update_roles(night, config_path, home)
    summary = {
        "night": night,
        "bootstrapped": bootstrapped,
        "scoring": scoring,
        "router_model": router_model,
        "delegation": delegation,
        "gaps": gaps["selected"],
        "lineage": lineage,
        "students": students,
        "roles": roles,
        "cycle_seconds": round(time.perf_counter() - started, 1),
    }
    summary["mlflow_run_id"] = t.log_night(cfg, night, summary)
    return summary
