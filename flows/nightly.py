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
from academy.execution import SEQUENTIAL, PhaseClock, task_runner
from tasks import nightly as t

DEFAULT_CONFIG = "academy.yaml"
# Started only by their parent flow, never deployed: ``nightly_cycle`` is ``nightly_evolution``'s
# body, run on the runner the parent picks from the config.
INTERNAL_FLOWS = {"nightly_cycle"}


def _config(config_path: str, home: str | None) -> AcademyConfig:
    return load_config(config_path, {"paths.home": home} if home else None)


def judge_in_shards(cfg: AcademyConfig) -> dict[str, Any]:
    """Unscored answers -> shards of whole queries judged as mapped tasks -> one store write and
    the snapshot. Called from a flow, the shards run on that flow's task runner."""
    judged = t.judge_shard.map(unmapped(cfg), t.scoring_shards(cfg))
    return t.store_scores(cfg, [shard.result() for shard in judged])


def evolve_students(
    cfg: AcademyConfig,
    plan: dict[str, list[int]],
    spawn: bool,
    night: str,
    steps: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Per student: distill (``steps``: its SFT steps, else ``distill.steps``), then one task per
    (model, domain) evaluation shard, then score -> register -> promote. Students run side by side
    on a Dask task runner, and so do the shards of each evaluation; the candidate folder they share
    is on the home's file system."""
    names = sorted(plan)
    shards = {name: t.evaluation_shards(cfg, plan[name], spawn) for name in names}
    budget = [(steps or {}).get(n) for n in names]
    trained = t.distill_student.map(unmapped(cfg), names, [plan[n] for n in names], spawn, budget)
    finished = []
    for name, training in zip(names, trained):
        sides, domains = [list(column) for column in zip(*shards[name])] or ([], [])
        predicted = t.predict_shard.map(unmapped(cfg), unmapped(name), sides, domains, wait_for=[training])
        finished.append(t.finish_student.submit(cfg, name, predicted, night, wait_for=[training]))
    return [run.result() for run in finished]


@flow(name="score_traffic", task_runner=SEQUENTIAL)
def score_traffic(config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, Any]:
    """Judge unjudged answers (in ``evolution.scoring.shards`` tasks), then freeze the traffic
    into a Parquet snapshot."""
    return judge_in_shards(_config(config_path, home))


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


@flow(name="evolve_student", task_runner=SEQUENTIAL)
def evolve_student(
    student: str,
    gaps: list[int],
    spawn: bool = False,
    night: str = "",
    config_path: str = DEFAULT_CONFIG,
    home: str | None = None,
) -> dict[str, Any]:
    """distill -> evaluate -> register -> promote for one student."""
    return evolve_students(_config(config_path, home), {student: gaps}, spawn, night)[0]


@flow(name="spawn_student", task_runner=SEQUENTIAL)
def spawn_student(
    night: str = "", config_path: str = DEFAULT_CONFIG, home: str | None = None
) -> list[dict[str, Any]]:
    """Tonight's students with no production version yet: new specialists, and earlier ones still
    refused (each trains on from its last candidate); each serves only once it passes the gate."""
    cfg = _config(config_path, home)
    plan = t.spawn_plan(cfg)
    return evolve_students(cfg, plan, True, night) if plan else []


@flow(name="update_roles")
def update_roles(
    night: str = "", config_path: str = DEFAULT_CONFIG, home: str | None = None
) -> dict[str, Any]:
    """Record win rates; move roles student -> TA -> teacher (or back) when they have held."""
    return t.update_roles(_config(config_path, home), night)


@flow(name="train_learned_router")
def train_learned_router(
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
    """One night, on the task runner the config names (``academy.execution.task_runner``):
    deployments, the CLI, the demo and tests all start here, so none of them picks a runner."""
    cfg = _config(config_path, home)
    return nightly_cycle.with_options(task_runner=task_runner(cfg))(config_path, home)


@flow(name="nightly_cycle", task_runner=SEQUENTIAL)
def nightly_cycle(config_path: str = DEFAULT_CONFIG, home: str | None = None) -> dict[str, Any]:
    """Score -> router model -> gaps -> judges' delegation -> datasets -> (distill -> evaluate ->
    register -> promote) per student -> roles. Scoring shards, students and evaluation shards fan
    out on this flow's task runner."""
    started, night = time.perf_counter(), datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    cfg = _config(config_path, home)
    phases = PhaseClock()
    bootstrapped = t.bootstrap_registry(cfg)
    # the fanned-out steps are called here, not as subflows: a subflow would use its own runner
    scoring = phases.time("score", judge_in_shards, cfg)
    learned_router = phases.time("learned_router", train_learned_router, config_path, home, night)
    gaps = phases.time("gaps", mine_gaps, config_path, home)
    delegation = phases.time("delegation", update_delegation, config_path, home, night)
    lineage = phases.time("datasets", build_distillation_dataset, config_path, home)
    plan = t.plan_students(cfg)
    steps = t.step_shares(cfg, plan)  # before anyone trains: tonight's refusals must not move them
    spawns = set(t.spawning(cfg, plan))
    trainable = {name: clusters for name, clusters in plan.items() if name not in spawns}
    students = phases.time("students", evolve_students, cfg, trainable, False, night, steps)
    # a spawned student learns from tonight's promoted peers: after the others
    if spawns:
        students += phases.time("spawn", evolve_students, cfg, t.spawn_plan(cfg, plan), True, night, steps)
    roles = update_roles(night, config_path, home)
    summary = {
        "night": night,
        "bootstrapped": bootstrapped,
        "scoring": scoring,
        "learned_router": learned_router,
        "delegation": delegation,
        "gaps": gaps["selected"],
        "lineage": lineage,
        "students": students,
        "roles": roles,
        "cycle_seconds": round(time.perf_counter() - started, 1),
        "phase_seconds": phases.seconds,
    }
    summary["mlflow_run_id"] = t.log_night(cfg, night, summary)
    return summary
