"""Prefect tasks of the nightly cycle: one per step function in ``academy.evolution.steps``.

Thin on purpose: the work (and its tests) lives in the step functions; a task adds Prefect's
state tracking, logging and artifacts. No retries are configured: a failed step fails the night
where the UI shows it, and the next night starts over from the traffic store. Caching is off:
every input is a config, and a cached result would hide that the traffic store changed since.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from academy.config import AcademyConfig
from academy.evolution import planning, steps
from academy.evolution.gaps import GapReport, gap_report_markdown

TASK = {"cache_policy": NO_CACHE}

# Fanned-out units (mapped by the flows, on Dask workers when configured): module-level, so workers
# import them by name, and each takes everything it needs as arguments (the config included).
scoring_shards = task(name="scoring_shards", **TASK)(steps.scoring_shards)
judge_shard = task(name="judge_shard", **TASK)(steps.judge_shard)
store_scores = task(name="store_scores", **TASK)(steps.store_scores)
evaluation_shards = task(name="evaluation_shards", **TASK)(steps.evaluation_shards)
predict_shard = task(name="predict_shard", **TASK)(steps.predict_shard)
finish_student = task(name="finish_student", **TASK)(steps.finish_student)
build_datasets = task(name="build_distillation_dataset", **TASK)(steps.build_datasets)
bootstrap_registry = task(name="bootstrap_registry", **TASK)(steps.bootstrap)
plan_students = task(name="plan_students", **TASK)(planning.plan)
step_shares = task(name="step_shares", **TASK)(planning.step_shares)
spawn_plan = task(name="spawn_plan", **TASK)(planning.spawn_plan)
spawning = task(name="spawning", **TASK)(planning.spawning)
distill_student = task(name="distill_student", **TASK)(steps.distill)
evaluate_candidate = task(name="evaluate_candidate", **TASK)(steps.evaluate)
register_version = task(name="register_version", **TASK)(steps.register)
promote = task(name="promote", **TASK)(steps.promote)
update_roles = task(name="update_roles", **TASK)(steps.update_roles)
train_router = task(name="train_learned_router", **TASK)(steps.train_learned_router)
update_delegation = task(name="update_delegation", **TASK)(steps.update_delegation)


@task(name="mine_gaps", **TASK)
def mine_gaps(cfg: AcademyConfig) -> GapReport:
    """Rank the gaps and publish the report as a Prefect markdown artifact."""
    report = steps.find_gaps(cfg)
    create_markdown_artifact(
        markdown=gap_report_markdown(report), key="gap-report", description="Knowledge gaps"
    )
    return report


@task(name="log_night", **TASK)
def log_night(cfg: AcademyConfig, night: str, summary: dict[str, Any]) -> str:
    """The night's MLflow run: the gap report and the cycle's summary as artifacts."""
    return steps.log_night(cfg, night, summary)
