"""The nightly steps, one function each, taking the config and returning a JSON-able summary.

Prefect tasks (``tasks/nightly.py``) wrap these one to one; the CLI (``academy evolve ...``) and
the DVC stages call them without Prefect. Each step reads what the previous one wrote (see
``NightLayout``), so any step can be re-run alone from the Prefect UI.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import datasets

from academy.config import AcademyConfig
from academy.evolution import dataset as ds
from academy.evolution import students as st
from academy.evolution.delegation import update_delegation as update_delegation
from academy.evolution.evaluation import EvalResult, evaluate_model, logged_predictions, score_predictions
from academy.evolution.evidence import log_evaluation_evidence
from academy.evolution.gaps import GapReport, cluster_queries, mine_gaps, read_gaps, write_gaps
from academy.evolution.layout import NightLayout
from academy.evolution.promotion import GateDecision, next_role, quality_gate
from academy.evolution.router_model import train_router_model as train_router_model
from academy.evolution.scoring import aggregate, model_win_rates, score_unscored
from academy.evolution.snapshot import SNAPSHOT_FILES, export_snapshot, file_md5, read_snapshot
from academy.evolution.training import distill_student, spawn_student_dir
from academy.store import TrafficStore
from registry.model_registry import ModelRegistry

MODEL_DIR = "model"


def score_traffic(cfg: AcademyConfig) -> dict[str, Any]:
    """Judge every answer the router served unjudged, then freeze the traffic into a snapshot."""
    from academy.judges import build_judge

    store = TrafficStore(cfg.paths.store, cfg.store)
    judge = build_judge(cfg.judge, home=cfg.paths.home)
    panel = delegation_panel(cfg, judge)
    try:
        scoring = cfg.evolution.scoring
        summary = score_unscored(store, judge, scoring.batch_size, scoring.sample_rate, scoring.seed, panel)
    finally:
        asyncio.run(judge.aclose())
    return {**asdict(summary), "snapshot": export_snapshot(store, NightLayout.of(cfg).snapshot)}


def delegation_panel(cfg: AcademyConfig, judge: Any) -> Any:
    """The supervisor plus the ``@production`` delegation state, for the nightly scorer (None
    when delegation is off or nothing was delegated yet)."""
    if not cfg.delegation.enabled:
        return None
    from academy.evolution.delegation import production_state
    from academy.judges.delegation import JudgePanel

    state, _ = production_state(
        ModelRegistry.from_config(cfg), cfg.delegation.registry_name, NightLayout.of(cfg).registry_cache
    )
    if state is None:
        return None
    panel = JudgePanel(judge, cfg.delegation, home=cfg.paths.home)
    panel.install(state)
    return panel


def snapshot_traffic(cfg: AcademyConfig) -> dict[str, str]:
    """Only the snapshot (the frozen DVC stage): file -> md5."""
    return export_snapshot(TrafficStore(cfg.paths.store, cfg.store), NightLayout.of(cfg).snapshot)


def find_gaps(cfg: AcademyConfig) -> GapReport:
    """Cluster the snapshot, aggregate per model x domain x cluster, rank gaps; write the outputs."""
    layout = NightLayout.of(cfg)
    snapshot = read_snapshot(layout.snapshot)
    clusters = cluster_queries(snapshot, cfg.evolution.scoring)
    aggregates = aggregate(snapshot, clusters)
    report = mine_gaps(snapshot, clusters, aggregates, cfg.evolution.gaps)
    write_gaps(layout.gaps, clusters, aggregates, report)
    return report


def build_datasets(cfg: AcademyConfig) -> dict[str, str]:
    """Train/eval/regression Parquet files for tonight's gaps: file -> md5 (DVC's hash)."""
    layout = NightLayout.of(cfg)
    snapshot = read_snapshot(layout.snapshot)
    clusters, report = read_gaps(layout.gaps)
    datasets.disable_progress_bars()
    splits = ds.build_distillation_dataset(snapshot, clusters, report, cfg.evolution.dataset)
    ds.write_datasets(layout.distill, splits)
    return lineage(layout)


def lineage(layout: NightLayout) -> dict[str, str]:
    """md5 of every snapshot and dataset file: what DVC records in dvc.lock for the same outputs."""
    files = [layout.snapshot / n for n in SNAPSHOT_FILES] + [layout.distill / n for n in ds.DATASET_FILES]
    return {f"{p.parent.name}/{p.name}": file_md5(p) for p in files if p.is_file()}


def bootstrap(cfg: AcademyConfig) -> dict[str, int]:
    return st.bootstrap_registry(ModelRegistry.from_config(cfg), cfg)


def plan(cfg: AcademyConfig) -> dict[str, list[int]]:
    """student -> gap clusters to learn tonight (key "" = uncovered gaps: spawn a student).

    A gap whose best student is no longer trainable here (not a configured hf student, not in the
    registry: e.g. a remote model) counts as uncovered.
    """
    trainable = {m.name for m in st.local_students(cfg)} | set(ModelRegistry.from_config(cfg).models())
    plan: dict[str, list[int]] = {}
    for student, gaps in st.assignments(read_gaps(NightLayout.of(cfg).gaps)[1]).items():
        plan.setdefault(student if student in trainable else st.SPAWN, []).extend(gaps)
    if st.SPAWN in plan and spawn_examples(cfg, plan[st.SPAWN]) < cfg.evolution.gaps.min_queries:
        del plan[st.SPAWN]  # a new student taught from a handful of answers never passes its gate
    return plan


def spawn_examples(cfg: AcademyConfig, gaps: list[int]) -> int:
    """Training rows a student spawned for ``gaps`` would learn from (no datasets yet: no limit)."""
    layout = NightLayout.of(cfg)
    if not (layout.distill / ds.TRAIN_FILE).is_file():
        return cfg.evolution.gaps.min_queries
    datasets.disable_progress_bars()
    return len(st.student_splits(ds.read_datasets(layout.distill), gaps, replay=False)[0])


def distill(cfg: AcademyConfig, student: str, gaps: list[int], spawn: bool = False) -> dict[str, Any]:
    """Train ``student``'s candidate on its gaps from its production weights (or fresh, if spawned)."""
    layout, registry = NightLayout.of(cfg), ModelRegistry.from_config(cfg)
    work = layout.candidate(student)
    if spawn:
        if not st.local_students(cfg):
            raise ValueError("spawning a student needs a configured hf student to share its tokenizer")
        template = st.production_dir(registry, cfg, st.local_students(cfg)[0].name, layout.registry_cache)[0]
        base, incumbent = (
            spawn_student_dir(template, work / "base", cfg.student, cfg.evolution.distill.seed),
            None,
        )
    else:
        base, incumbent = st.production_dir(registry, cfg, student, layout.registry_cache)
    datasets.disable_progress_bars()
    train, _ = st.student_splits(ds.read_datasets(layout.distill), gaps, replay=not spawn)
    if len(train) == 0:
        raise ValueError(f"no training examples for {student} in gaps {gaps}")
    peer = st.pick_peer(registry, student, layout.registry_cache)
    dataset_cfg, distill_cfg = cfg.evolution.dataset, cfg.evolution.distill
    examples = ds.training_examples(train, distill_cfg, dataset_cfg.confidence_threshold)
    sft = ds.with_rehearsal(examples.sft, st.rehearsal_pairs(cfg, student), dataset_cfg.rehearsal_fraction)
    stats = distill_student(
        base, work / MODEL_DIR, replace(examples, sft=sft), distill_cfg, cfg.student.max_length, peer
    )
    record = {
        "student": student,
        "gaps": gaps,
        "spawn": spawn,
        "base": str(base),
        "incumbent_version": incumbent.version if incumbent else None,
        "peer": str(peer) if peer else None,
        "examples": len(train),
        "training_rows": len(sft),  # examples x target aspects, plus rehearsal
        "peer_rows": len(examples.peer),
        "stats": stats,
        "lineage": lineage(layout),
    }
    st.write_json(work / "train.json", record)
    return {k: v for k, v in record.items() if k != "stats"} | {"train_seconds": stats["train_seconds"]}


def evaluate(cfg: AcademyConfig, student: str) -> dict[str, Any]:
    """Candidate vs current production vs the teacher on the gap eval set and the regression set."""
    layout = NightLayout.of(cfg)
    work, record = layout.candidate(student), st.read_json(layout.candidate(student) / "train.json")
    splits = ds.read_datasets(layout.distill)
    _, eval_set = st.student_splits(splits, record["gaps"], replay=False)
    regression, tokens = splits["regression"], cfg.evolution.distill.max_new_tokens
    candidate = evaluate_model(st.hf_generate(work / MODEL_DIR, tokens), student, None, eval_set, regression)
    incumbent = None
    if not record["spawn"]:
        generate = st.hf_generate(Path(record["base"]), tokens)
        incumbent = evaluate_model(generate, student, str(record["incumbent_version"]), eval_set, regression)
    teachers = {m.name for m in cfg.models if m.role == "teacher"}
    answers = read_snapshot(layout.snapshot).answers
    teacher = score_predictions("teacher", None, logged_predictions(answers, teachers), eval_set, regression)
    results = {"candidate": candidate, "incumbent": incumbent, "teacher": teacher}
    st.write_json(work / "eval.json", {k: _eval_record(v) for k, v in results.items()})
    return {k: (v.as_dict() if v else None) for k, v in results.items()}


def evolve_student(
    cfg: AcademyConfig, student: str, gaps: list[int], spawn: bool = False, night: str = ""
) -> dict[str, Any]:
    """distill -> evaluate -> register -> promote for one student: the unit the nightly flow fans
    out per student, since the four steps share the candidate folder and must run in order."""
    trained = distill(cfg, student, gaps, spawn)
    evaluation = evaluate(cfg, student)
    register(cfg, student, night)
    promotion = promote(cfg, student)
    return {
        **promotion,
        "gaps": gaps,
        "spawn": spawn,
        "train_seconds": trained["train_seconds"],
        "evaluation": evaluation,
    }


def _eval_record(result: EvalResult | None) -> dict[str, Any] | None:
    return None if result is None else asdict(result)


def register(cfg: AcademyConfig, student: str, night: str = "") -> dict[str, Any]:
    """An MLflow run with params, per-step losses, lineage and the model; a new candidate version."""
    layout, registry = NightLayout.of(cfg), ModelRegistry.from_config(cfg)
    work = layout.candidate(student)
    record, evals = st.read_json(work / "train.json"), st.read_json(work / "eval.json")
    candidate = st.eval_from_dict(evals["candidate"])
    stats = record["stats"]
    peer = stats.get("peer") or {}
    info = registry.register_student(
        student,
        work / MODEL_DIR,
        role=registry.role(student) if student in registry.models() else "student",
        params={
            **{f"distill.{k}": v for k, v in cfg.evolution.distill.model_dump().items()},
            "aspects": ",".join(cfg.evolution.distill.aspects),
            "domain_aspects": json.dumps(cfg.evolution.distill.domain_aspects, sort_keys=True),
            "gaps": ",".join(map(str, record["gaps"])),
            "spawn": record["spawn"],
            "base": record["base"],
            "peer": record["peer"],
            "examples": record["examples"],
        },
        metrics={**candidate.metrics(), "train_seconds": stats["train_seconds"]},
        step_metrics={
            "train_loss": (stats["sft"] or {}).get("history", []),
            "peer_loss": peer.get("history", []),
        },
        lineage=record["lineage"],
        tags={"academy.night": night},
        text_artifacts={"eval.json": (work / "eval.json").read_text()},
        run_name=f"{student}-{night or 'candidate'}",
    )
    st.write_json(work / "version.json", info.to_dict())
    return info.to_dict()


def promote(cfg: AcademyConfig, student: str) -> dict[str, Any]:
    """Apply the quality gate; on success the version takes @production and the router gets its
    held-out answers as evidence."""
    layout, registry = NightLayout.of(cfg), ModelRegistry.from_config(cfg)
    work = layout.candidate(student)
    record, version = st.read_json(work / "train.json"), st.read_json(work / "version.json")
    evals = {k: st.eval_from_dict(v) for k, v in st.read_json(work / "eval.json").items()}
    decision = gate(cfg, evals, spawn=record["spawn"])
    metrics = evals["candidate"].metrics()
    stage = st.promote_candidate(registry, student, version["version"], decision, cfg.evolution.gate, metrics)
    evidence = 0
    if stage == "production":
        evidence = log_evaluation_evidence(
            TrafficStore(cfg.paths.store, cfg.store),
            read_snapshot(layout.snapshot).queries,
            student,
            registry.role(student),
            str(version["version"]),
            evals["candidate"].predictions,
            evals["candidate"].scores,
        )
    result = {"student": student, "version": version["version"], "stage": stage, "reasons": decision.reasons}
    st.write_json(work / "promotion.json", {**result, "evidence_rows": evidence})
    return {**result, "evidence_rows": evidence}


def gate(cfg: AcademyConfig, evals: dict[str, EvalResult | None], spawn: bool) -> GateDecision:
    decision = quality_gate(evals["candidate"], evals["incumbent"], evals["teacher"], cfg.evolution.gate)
    score = evals["candidate"].gap_score or 0.0
    if spawn and score < cfg.evolution.gate.min_spawn_score:
        decision.passed = False
        decision.reasons.append(
            f"spawned student's gap exact match {score:.3f} < {cfg.evolution.gate.min_spawn_score}"
        )
    return decision


def update_roles(cfg: AcademyConfig, night: str) -> dict[str, Any]:
    """Record tonight's win rates; move roles up or down the ladder when they have held."""
    registry = ModelRegistry.from_config(cfg)
    rates = model_win_rates(read_snapshot(NightLayout.of(cfg).snapshot))
    changes = {}
    for name in registry.models():
        if name in rates:
            registry.record_win_rate(name, night, *rates[name])
        history = [(r["win_rate"], r["contested"]) for r in registry.win_rates(name)]
        role, reason = next_role(registry.role(name), history, cfg.evolution.roles)
        if reason:
            registry.set_role(name, role, reason)
            changes[name] = {"role": role, "reason": reason}
    return {"win_rates": {m: r for m, r in rates.items()}, "changes": changes}


def log_night(cfg: AcademyConfig, night: str, summary: dict[str, Any]) -> str:
    """One MLflow run per night: gap report, cycle summary and headline metrics; returns its id."""

    from academy.evolution.gaps import REPORT_FILE

    report = NightLayout.of(cfg).gaps / REPORT_FILE
    promoted = [s for s in summary.get("students", []) if s.get("stage") == "production"]
    return ModelRegistry.from_config(cfg).log_night(
        run_name=f"nightly-{night}",
        params={"night": night, "gaps": len(summary.get("gaps", []))},
        metrics={"cycle_seconds": float(summary.get("cycle_seconds", 0.0)), "promoted": float(len(promoted))},
        text_artifacts={
            "gap_report.md": report.read_text() if report.is_file() else "",
            "summary.json": json.dumps(summary, indent=2, sort_keys=True, default=str),
        },
        tags={"academy.night": night},
    )
