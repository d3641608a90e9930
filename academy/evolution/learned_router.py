"""The nightly step that retrains the learned router (``academy.routing.learned_router``).

From the night's snapshot: every judged answer (a judge score, no error) joined to its query's
embedding, queries in logging order so the newest are the gate's held-out set. The candidate is
fitted on the older queries and must beat the serving model (the registry's ``@production``
version of ``router.learned.registry_name``; the per-model mean score when none serves yet) on the
newest ones. Every candidate is registered as a new version, with its params and gate metrics; the
gate moves it candidate -> staging -> production, or to rejected, exactly as a student's. The
router loads the ``@production`` version (``academy.registry_watch.LearnedRouterWatcher``).
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from typing import Any

import numpy as np
import pandas as pd

from academy.config import AcademyConfig
from academy.evolution.layout import NightLayout
from academy.evolution.snapshot import Snapshot, read_snapshot
from academy.routing.learned_router import (
    JudgedMatrix,
    LearnedRouter,
    LearnedRouterError,
    judged_matrix,
    train_and_gate,
)
from registry.model_registry import ROUTER_MODEL_FILE, ModelNotFound, ModelRegistry

log = logging.getLogger(__name__)

WORK_DIR = "learned_router"  # under paths.home/nightly: tonight's candidate before it is registered


def training_matrix(snapshot: Snapshot) -> JudgedMatrix:
    """One row per query with at least one judged answer (judge score, no error), oldest first;
    a model answering a query more than once counts with its mean score there."""
    answers = snapshot.answers
    judged = answers[answers["judge_score"].notna() & _no_error(answers["error"])]
    queries = snapshot.queries[["id", "ts", "embedding"]]
    queries = queries[queries["id"].isin(set(judged["query_id"]))].sort_values(["ts", "id"], kind="stable")
    if queries.empty:
        return judged_matrix([])
    scores = judged.groupby(["query_id", "model"], sort=True)["judge_score"].mean()
    per_query: dict[str, tuple[list[str], list[float]]] = {}
    for (query_id, model), score in scores.items():
        models, values = per_query.setdefault(query_id, ([], []))
        models.append(model)
        values.append(float(score))
    rows = (
        (np.asarray(e, dtype=np.float32), *per_query[q]) for q, e in zip(queries["id"], queries["embedding"])
    )
    dim = len(queries["embedding"].iloc[0])
    return judged_matrix(rows, dim=dim)


def _no_error(errors: pd.Series) -> pd.Series:
    return errors.isna() | (errors.astype("string").fillna("") == "")


def production_model(
    registry: ModelRegistry, name: str, cache_dir: Any
) -> tuple[LearnedRouter | None, int | None, str | None]:
    """(the ``@production`` quality model, its version, why it could not be used) of ``name``."""
    if not registry.exists():
        return None, None, None
    try:
        info = registry.production(name)
    except ModelNotFound:
        return None, None, None
    if info is None:
        return None, None, None
    try:
        path = registry.download(name, info.version, cache_dir, ROUTER_MODEL_FILE)
        return LearnedRouter.load(path), info.version, None
    except LearnedRouterError as exc:  # a broken incumbent: the candidate is gated against the mean model
        log.warning(
            "router model: %s v%s cannot be loaded (%s); gating against the mean model",
            name,
            info.version,
            exc,
        )
        return None, info.version, str(exc)


def train_learned_router(cfg: AcademyConfig, night: str = "") -> dict[str, Any]:
    """Train tonight's router quality model, register it and gate it; returns a JSON-able summary
    (``{"skipped": reason}`` when disabled or with too little judged traffic)."""
    settings = cfg.evolution.learned_router
    name = cfg.router.learned.registry_name
    if not settings.enabled:
        return {"skipped": "evolution.learned_router.enabled is false"}
    layout = NightLayout.of(cfg)
    data = training_matrix(read_snapshot(layout.snapshot))
    if len(data) < settings.min_queries:
        return {
            "skipped": f"{len(data)} judged queries < evolution.learned_router.min_queries {settings.min_queries}",
            "judged_queries": len(data),
        }
    registry = ModelRegistry.from_config(cfg)
    incumbent, incumbent_version, incumbent_error = production_model(registry, name, layout.registry_cache)
    if incumbent is not None and incumbent.weights.shape[1] != data.embeddings.shape[1] + 1:
        incumbent_error = f"v{incumbent_version} was trained on {incumbent.weights.shape[1] - 1}-d embeddings"
        incumbent = None
    candidate, gate = train_and_gate(
        data,
        incumbent,
        holdout_fraction=settings.holdout_fraction,
        margin=settings.margin,
        l2=settings.l2,
        min_rows=settings.min_rows,
    )
    work = layout.home / "nightly" / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    candidate.save(work)
    rows = _rows(data)
    metrics = gate.metrics()
    info = registry.register_learned_router(
        name,
        work,
        params={
            "l2": settings.l2,
            "min_rows": settings.min_rows,
            "holdout_fraction": settings.holdout_fraction,
            "margin": settings.margin,
            "judged_queries": len(data),
            "models": ",".join(data.models),
            "incumbent_version": incumbent_version,
            **{f"rows.{_param_key(m)}": n for m, n in rows.items()},
        },
        metrics=metrics,
        tags={"academy.night": night},
        run_name=f"{name}-{night or 'candidate'}",
    )
    if gate.passed:
        registry.transition(name, info.version, "staging", gate.reason, metrics)
        registry.transition(name, info.version, "production", gate.reason, metrics)
        stage = "production"
    else:
        registry.transition(name, info.version, "rejected", gate.reason, metrics)
        stage = "rejected"
    return {
        "model": name,
        "version": info.version,
        "stage": stage,
        "promoted": gate.passed,
        "reason": gate.reason,
        "incumbent_version": incumbent_version,
        "incumbent_error": incumbent_error,
        "judged_queries": len(data),
        "rows": rows,
        "metrics": {k: (v if math.isfinite(v) else None) for k, v in metrics.items()},
    }


def _rows(data: JudgedMatrix) -> dict[str, int]:
    """Judged answers per model in the whole matrix (train and held-out)."""
    counts = (~np.isnan(data.scores)).sum(axis=0)
    return {m: int(n) for m, n in zip(data.models, counts)}


def _param_key(model: str) -> str:
    """A model name as part of an MLflow param key (letters, digits, ``_-. /`` only)."""
    return re.sub(r"[^\w\-. /]", "_", model)
