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
import pandas as pd

from academy.config import AcademyConfig
from academy.evolution import dataset as ds
from academy.evolution import planning as pl
from academy.evolution import students as st
from academy.evolution.delegation import update_delegation as update_delegation
from academy.evolution.evaluation import EvalResult, logged_predictions, score_predictions
from academy.evolution.evidence import log_evaluation_evidence
from academy.evolution.gaps import GapReport, cluster_queries, mine_gaps, read_gaps, write_gaps
from academy.evolution.layout import NightLayout
from academy.evolution.learned_router import train_learned_router as train_learned_router
from academy.evolution.promotion import GateDecision, next_role, quality_gate
from academy.evolution.scoring import (
    JudgedShard,
    aggregate,
    judge_rows,
    model_win_rates,
    score_unscored,
    scoring_todo,
    shard_by_query,
    summarise,
)
from academy.evolution.snapshot import SNAPSHOT_FILES, export_snapshot, file_md5, read_snapshot
from academy.evolution.training import distill_student, spawn_student_dir
from academy.store import TrafficStore
from registry.model_registry import ModelRegistry

MODEL_DIR = "model"


def score_traffic(cfg: AcademyConfig) -> dict[str, Any]:
    """Judge every answer the router served unjudged, then freeze the traffic into a snapshot.

    One process, scores stored batch by batch (the CLI and DVC path); the nightly flow runs the
    same work as ``scoring_shards`` -> ``judge_shard`` per shard (parallel) -> ``store_scores``.
    """
    from academy.judges import build_judge

    store = TrafficStore(cfg.paths.store, cfg.store)
    judge = build_judge(cfg.judge, home=cfg.paths.home)
    try:
        scoring = cfg.evolution.scoring
        panel = delegation_panel(cfg, judge)
        summary = score_unscored(store, judge, scoring.batch_size, scoring.sample_rate, scoring.seed, panel)
    finally:
        asyncio.run(judge.aclose())
    return {**asdict(summary), "snapshot": export_snapshot(store, NightLayout.of(cfg).snapshot)}


def scoring_shards(cfg: AcademyConfig) -> list[pd.DataFrame]:
    """Tonight's unscored answers in ``evolution.scoring.shards`` parts of whole queries."""
    scoring = cfg.evolution.scoring
    todo = scoring_todo(TrafficStore(cfg.paths.store, cfg.store), scoring.sample_rate, scoring.seed)
    return shard_by_query(todo, scoring.shards)


def judge_shard(cfg: AcademyConfig, rows: pd.DataFrame) -> JudgedShard:
    """Judge one shard with its own judge (and delegation panel); returns the records unstored, so
    parallel shards never write the store at once (object stores need a commit lock for that)."""
    from academy.judges import build_judge

    judge = build_judge(cfg.judge, home=cfg.paths.home)
    try:
        store = TrafficStore(cfg.paths.store, cfg.store)
        records = judge_rows(
            store, judge, rows, cfg.evolution.scoring.batch_size, delegation_panel(cfg, judge)
        )
    finally:
        asyncio.run(judge.aclose())
    return JudgedShard(records, judge.name)


def store_scores(cfg: AcademyConfig, shards: list[JudgedShard]) -> dict[str, Any]:
    """Store every shard's scores in one write, then freeze the traffic into a snapshot."""
    store = TrafficStore(cfg.paths.store, cfg.store)
    records = [r for shard in shards for r in shard.records]
    store.log_scores(records)
    summary = summarise(records, shards[0].supervisor if shards else cfg.judge.name)
    return {
        **asdict(summary),
        "shards": len(shards),
        "snapshot": export_snapshot(store, NightLayout.of(cfg).snapshot),
    }


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


def distill(
    cfg: AcademyConfig, student: str, gaps: list[int], spawn: bool = False, steps: int | None = None
) -> dict[str, Any]:
    """Train ``student``'s candidate on its gaps from its production weights, for ``steps`` SFT
    steps (its share of the night, academy/evolution/step_budget.py; None: ``distill.steps``). A
    spawned student starts from the configured generalist's production weights (``gaps.spawn_from:
    weights``: a specialist, see academy/evolution/specialists.py) or fresh with its tokenizer
    (``scratch``). Only a configured generalist also learns the retention rows (well-served
    traffic): a specialist learns its region."""
    layout, registry = NightLayout.of(cfg), ModelRegistry.from_config(cfg)
    work = layout.candidate(student)
    generalist = pl.is_generalist(cfg, student)
    if spawn:
        if not st.local_students(cfg):
            raise ValueError("spawning a student needs a configured hf student to share its tokenizer")
        template = st.production_dir(registry, cfg, st.local_students(cfg)[0].name, layout.registry_cache)[0]
        if cfg.evolution.gaps.spawn_from == "weights":
            base, incumbent = template, None
        else:
            base = spawn_student_dir(template, work / "base", cfg.student, cfg.evolution.distill.seed)
            incumbent = None
    else:
        base, incumbent = st.production_dir(registry, cfg, student, layout.registry_cache)
    incumbent_dir, version = base, incumbent.version if incumbent else None
    carried = st.carried_candidate(work / MODEL_DIR, version)
    base = carried or base
    datasets.disable_progress_bars()
    splits = ds.read_datasets(layout.distill)
    train, _ = st.student_splits(splits, gaps, retention=generalist and not spawn)
    if len(train) == 0:
        raise ValueError(f"no training examples for {student} in gaps {gaps}")
    peer = st.pick_peer(registry, student, layout.registry_cache)
    dataset_cfg, distill_cfg = cfg.evolution.dataset, cfg.evolution.distill
    if steps is not None:
        distill_cfg = distill_cfg.model_copy(update={"steps": steps})
    logged = len(train)
    held_out = list(splits["eval"]["query"]) + list(splits["regression"]["query"])
    train = ds.with_paraphrases(train, held_out, distill_cfg.paraphrase_ratio)
    examples = ds.training_examples(train, distill_cfg, dataset_cfg.confidence_threshold)
    rehearsal = pl.specialist_rehearsal(cfg, student, gaps)
    sft = ds.with_rehearsal(examples.sft, rehearsal, dataset_cfg.rehearsal_fraction)
    stats = distill_student(
        base, work / MODEL_DIR, replace(examples, sft=sft), distill_cfg, cfg.student.max_length, peer
    )
    record = {
        "student": student,
        "gaps": gaps,
        "spawn": spawn,
        "base": str(base),
        "carried": carried is not None,  # continued from last night's refused candidate
        "centre": None
        if generalist
        else pl.region_of(cfg, gaps),  # a specialist's region, found again tomorrow
        "incumbent_dir": str(incumbent_dir),
        "incumbent_version": incumbent.version if incumbent else None,
        "peer": str(peer) if peer else None,
        "examples": logged,
        "steps": distill_cfg.steps,  # its share of the night (academy/evolution/step_budget.py)
        "practice_rows": len(train) - logged,  # paraphrase practice (academy/evolution/paraphrase.py)
        "training_rows": len(sft),  # examples and practice x target aspects, plus rehearsal
        "peer_rows": len(examples.peer),
        "stats": stats,
        "lineage": lineage(layout),
    }
    st.write_json(work / "train.json", record)
    return {k: v for k, v in record.items() if k != "stats"} | {"train_seconds": stats["train_seconds"]}


CANDIDATE, INCUMBENT = "candidate", "incumbent"


def held_out(cfg: AcademyConfig, gaps: list[int]) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(the gaps' eval rows, the regression rows of every domain) a candidate is judged on."""
    datasets.disable_progress_bars()
    splits = ds.read_datasets(NightLayout.of(cfg).distill)
    return st.student_splits(splits, gaps, retention=False)[1], splits["regression"]


def of_domain(data: datasets.Dataset, domain: str) -> datasets.Dataset:
    return data.select([i for i, d in enumerate(data["domain"]) if d == domain])


def evaluation_shards(cfg: AcademyConfig, gaps: list[int], spawn: bool) -> list[tuple[str, str]]:
    """(side, domain) pairs a candidate's evaluation splits into: each answers one domain's held-out
    queries with one model (the candidate, or the incumbent it must beat; a spawned student has none)."""
    eval_set, regression = held_out(cfg, gaps)
    domains = sorted(set(eval_set["domain"]) | set(regression["domain"]))
    return [
        (side, domain) for side in ((CANDIDATE,) if spawn else (CANDIDATE, INCUMBENT)) for domain in domains
    ]


def predict_shard(cfg: AcademyConfig, student: str, side: str, domain: str) -> dict[str, Any]:
    """Greedy answers of ``side``'s model to ``domain``'s held-out queries: {side, domain, predictions}."""
    work = NightLayout.of(cfg).candidate(student)
    record = st.read_json(work / "train.json")
    model_dir = work / MODEL_DIR if side == CANDIDATE else Path(record.get("incumbent_dir", record["base"]))
    rows = [of_domain(d, domain) for d in held_out(cfg, record["gaps"])]
    ids = [q for d in rows for q in d["query_id"]]
    queries = [q for d in rows for q in d["query"]]
    complete = st.hf_completions(model_dir, cfg.evolution.distill.max_new_tokens)
    answers = complete(queries) if queries else []
    return {"side": side, "domain": domain, **st.shard_answers(ids, answers)}


def score_evaluation(cfg: AcademyConfig, student: str, shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Candidate vs current production vs the teacher, from the shards' answers; writes eval.json."""
    layout = NightLayout.of(cfg)
    work, record = layout.candidate(student), st.read_json(layout.candidate(student) / "train.json")
    eval_set, regression = held_out(cfg, record["gaps"])
    side = st.merged_shards(shards)  # side -> (predictions, confidences)
    candidate = score_predictions(student, None, side[CANDIDATE][0], eval_set, regression, side[CANDIDATE][1])
    incumbent = None
    if not record["spawn"]:
        version, (predicted, sure) = str(record["incumbent_version"]), side[INCUMBENT]
        incumbent = score_predictions(student, version, predicted, eval_set, regression, sure)
    teachers = {m.name for m in cfg.models if m.role == "teacher"}
    answers = read_snapshot(layout.snapshot).answers
    teacher = score_predictions("teacher", None, logged_predictions(answers, teachers), eval_set, regression)
    results = {"candidate": candidate, "incumbent": incumbent, "teacher": teacher}
    st.write_json(work / "eval.json", {k: asdict(v) if v else None for k, v in results.items()})
    return {k: (v.as_dict() if v else None) for k, v in results.items()}


def evaluate(cfg: AcademyConfig, student: str) -> dict[str, Any]:
    """Every evaluation shard in this process, then the scores (the CLI's and DVC's path)."""
    record = st.read_json(NightLayout.of(cfg).candidate(student) / "train.json")
    shards = evaluation_shards(cfg, record["gaps"], record["spawn"])
    return score_evaluation(cfg, student, [predict_shard(cfg, student, *shard) for shard in shards])


def finish_student(
    cfg: AcademyConfig, student: str, shards: list[dict[str, Any]], night: str = ""
) -> dict[str, Any]:
    """score the evaluation -> register -> promote: what follows a candidate's evaluation shards."""
    evaluation = score_evaluation(cfg, student, shards)
    register(cfg, student, night)
    promotion = promote(cfg, student)
    record = st.read_json(NightLayout.of(cfg).candidate(student) / "train.json")
    return {
        **promotion,
        "gaps": record["gaps"],
        "spawn": record["spawn"],
        "steps": record.get("steps"),
        "train_seconds": record["stats"]["train_seconds"],
        "evaluation": evaluation,
    }


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
            "distill.steps": record.get("steps", cfg.evolution.distill.steps),  # its share of the night
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
    eval_set, regression = held_out(cfg, record["gaps"])
    groups = dict(zip(regression["query_id"], regression["cluster"]))  # traffic clusters, not labels
    if not pl.is_generalist(cfg, record["student"]):  # a specialist answers for its region only
        groups = {q: c for q, c in groups.items() if c in set(record["gaps"])}
    decision = gate(cfg, evals, spawn=record["spawn"], gap_ids=list(eval_set["query_id"]), groups=groups)
    metrics = {**evals["candidate"].metrics(), **decision.metrics()}
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
            evals["candidate"].confidences,
        )
    elif evals.get("incumbent") is not None:  # what the serving version got right tonight: free evidence
        incumbent = evals["incumbent"]
        evidence = log_evaluation_evidence(
            TrafficStore(cfg.paths.store, cfg.store),
            read_snapshot(layout.snapshot).queries,
            student,
            registry.role(student),
            str(incumbent.version),
            incumbent.predictions,
            incumbent.scores,
            incumbent.confidences,
        )
    result = {
        "student": student,
        "version": version["version"],
        "stage": stage,
        "reasons": decision.reasons,
        "gate": decision.evidence(),
    }
    st.write_json(work / "promotion.json", {**result, "evidence_rows": evidence})
    return {**result, "evidence_rows": evidence}


def gate(
    cfg: AcademyConfig,
    evals: dict[str, EvalResult | None],
    spawn: bool,
    gap_ids: list[str] | None = None,
    groups: dict[str, str] | None = None,
) -> GateDecision:
    """The quality gate on the held-out gap queries (``gap_ids``) and the regression queries by
    group (query id -> traffic cluster). A spawned student has no incumbent: its own gap accuracy must clear
    ``gate.min_spawn_score`` with confidence."""
    incumbent = None if spawn else evals["incumbent"]
    candidate, teacher = evals["candidate"], evals["teacher"]
    thresholds = cfg.router.evidence.defer_thresholds  # a spawned student serves only where confident
    return quality_gate(candidate, incumbent, teacher, cfg.evolution.gate, gap_ids, groups, thresholds)


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
