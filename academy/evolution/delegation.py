"""The nightly ``update_delegation`` step: measure where the cheap judges agree with the supervisor,
and delegate (or revoke) per neighbourhood of queries.

Evidence: every answer the supervisor judged (``judge_name`` = the supervisor's name: fan-outs,
shadows, monitoring, audits of delegated judgements). For each, every candidate judge's score is
recomputed offline from what was logged with it (the query's other answers; each model's track
record in the cluster, leaving that query out so no answer grades itself). Candidates never call a
model here: a ``model`` judge whose model did not answer that query has no opinion on it.

Per cluster (the night's gap clusters) and candidate, over the newest ``window`` pairs of the
older part of the data: accept/reject agreement with the supervisor (both sides cut at
``accept_threshold``), the Brier score of the candidate's score against the supervisor's, and the
count. A candidate is granted a cluster at ``grant_agreement`` on ``min_samples`` pairs; a
cluster delegated now keeps its judge while agreement stays at ``revoke_agreement`` (hysteresis),
and loses it below. The state is registered as a version of ``delegation.registry_name`` and
gated like a student: on the newest ``holdout_fraction`` of pairs, every delegated cluster's
judge must still agree at ``revoke_agreement``; else the version is rejected and the router keeps
the production one. A state that delegates nothing always passes (the supervisor is the safe side).
"""

from __future__ import annotations

import asyncio
import math
import shutil
from typing import Any

import numpy as np
import pandas as pd

from academy.config import AcademyConfig, DelegationConfig
from academy.evolution.gaps import read_gaps
from academy.evolution.layout import NightLayout
from academy.evolution.snapshot import Snapshot, read_snapshot
from academy.judges.base import JudgeRequest, build_judge
from academy.judges.cheap import VERIFIER_FEATURES, batch_features
from academy.judges.delegation import STATE_FILE, ClusterDecision, DelegationError, DelegationState
from academy.routing.learned_router import fit_logistic_head
from registry.model_registry import DELEGATION_KIND, ModelNotFound, ModelRegistry

WORK_DIR = "delegation"  # under paths.home/nightly


# ---- evidence -------------------------------------------------------------------------------------


def supervisor_pairs(snapshot: Snapshot, clusters: pd.Series, supervisor: str) -> pd.DataFrame:
    """One row per supervisor-judged answer: its cluster, score, time and the request context the
    candidates judge it with (the query's other answers; each model's track record in the cluster
    from the judgements *before* this query, as the router knew it then), oldest first."""
    answers = snapshot.answers[snapshot.answers["error"].isna()].copy()
    answers["cluster"] = answers["query_id"].map(clusters)
    answers = answers[answers["cluster"].notna()]
    answers["cluster"] = answers["cluster"].astype(int)
    judged = answers[(answers["judge_name"] == supervisor) & answers["judge_score"].notna()]
    if judged.empty:
        return judged.assign(peers=[], trust=[], query=[])
    rows = judged.sort_values(["ts", "id"], kind="stable").reset_index(drop=True)
    running = rows.groupby(["cluster", "model"])["judge_score"]
    seen = running.cumcount()
    rows["prior"] = ((running.cumsum() - rows["judge_score"]) / seen.where(seen > 0)).astype(float)
    priors = {
        q: {m: float(p) for m, p in zip(g["model"], g["prior"]) if not np.isnan(p)}
        for q, g in rows.groupby("query_id")
    }
    texts = {q: dict(zip(g["model"], g["text"])) for q, g in answers.groupby("query_id")}
    rows["query"] = rows["query_id"].map(snapshot.queries.set_index("id")["text"])
    rows["peers"] = [
        {m: t for m, t in texts[q].items() if m != model} for q, model in zip(rows["query_id"], rows["model"])
    ]
    rows["trust"] = [priors[q] for q in rows["query_id"]]
    return rows.drop(columns="prior")


def candidate_scores(
    pairs: pd.DataFrame, config: DelegationConfig, verifier: list[float] | None
) -> pd.DataFrame:
    """One column per candidate judge: its score for each pair (NaN: no opinion)."""
    requests = [
        JudgeRequest(q, a, m, peers=p, trust=t)
        for q, a, m, p, t in zip(
            pairs["query"], pairs["text"], pairs["model"], pairs["peers"], pairs["trust"]
        )
    ]
    out = pd.DataFrame(index=pairs.index)
    for candidate in config.candidates:
        options = candidate.options | (
            {"weights": verifier} if candidate.name == "verifier" and verifier else {}
        )
        judge = build_judge(candidate.model_copy(update={"options": options}))
        judgements = asyncio.run(judge.ajudge(requests)) if requests else []
        out[judge.name] = [np.nan if j.score is None else j.score for j in judgements]
    return out


def fit_verifier(pairs: pd.DataFrame, l2: float) -> list[float] | None:
    """Logistic weights over ``VERIFIER_FEATURES`` against the supervisor's score (None: too few)."""
    if len(pairs) < 2 or pairs["judge_score"].nunique() < 2:
        return None
    requests = [
        JudgeRequest("", a, m, peers=p, trust=t)
        for a, m, p, t in zip(pairs["text"], pairs["model"], pairs["peers"], pairs["trust"])
    ]
    x = np.array([[f[k] for k in VERIFIER_FEATURES] for f in batch_features(requests)], dtype=np.float64)
    y = np.clip(pairs["judge_score"].to_numpy(dtype=np.float64), 0.0, 1.0)
    return [round(float(w), 6) for w in fit_logistic_head(x, y, l2, np.zeros(x.shape[1] + 1))]


def agreement(candidate: pd.Series, supervisor: pd.Series, threshold: float) -> dict[str, float]:
    """Accept/reject agreement, Brier score and count where the candidate had an opinion."""
    seen = candidate.notna()
    c, s = candidate[seen].to_numpy(float), supervisor[seen].to_numpy(float)
    if not len(c):
        return {"n": 0, "agreement": math.nan, "brier": math.nan}
    return {
        "n": int(len(c)),
        "agreement": float(np.mean((c >= threshold) == (s >= threshold))),
        "brier": float(np.mean((c - s) ** 2)),
    }


def agreement_table(
    pairs: pd.DataFrame, scores: pd.DataFrame, config: DelegationConfig, by: str = "cluster"
) -> pd.DataFrame:
    """Per ``by`` (cluster or domain) and candidate, on the newest ``window`` pairs of each group."""
    rows = []
    for key, group in pairs.groupby(by):
        recent = group.tail(config.window)
        for name in scores.columns:
            stats = agreement(scores.loc[recent.index, name], recent["judge_score"], config.accept_threshold)
            rows.append({by: key, "judge": name, **stats})
    return pd.DataFrame(rows, columns=[by, "judge", "n", "agreement", "brier"])


# ---- decisions ------------------------------------------------------------------------------------


def decide(
    table: pd.DataFrame, n_clusters: int, delegated_now: dict[int, str], config: DelegationConfig
) -> list[ClusterDecision]:
    """Who judges each cluster. A delegation is kept while its audits agree at ``revoke_agreement``
    (however few they are: once delegated, only the audit sample reaches the supervisor, so fresh
    pairs are scarce by design, and demanding ``min_samples`` of them would revoke it for lack of
    evidence, not for disagreement); else the first candidate (config order) clearing the grant bar
    on ``min_samples`` pairs; else the supervisor."""
    order = [c for c in dict.fromkeys(table["judge"])]
    decisions = []
    for cluster in range(n_clusters):
        rows = table[table["cluster"] == cluster].set_index("judge")
        evidence = {j: float(rows.loc[j, "agreement"]) for j in rows.index if rows.loc[j, "n"] > 0}
        samples = {j: int(rows.loc[j, "n"]) for j in rows.index}
        held = delegated_now.get(cluster)
        chosen, reason = _keep(held, evidence, samples, config)
        grantable = [
            j for j in order if samples.get(j, 0) >= config.min_samples and j in evidence
            and evidence[j] >= config.grant_agreement
        ]  # fmt: skip
        if chosen is None and grantable:
            chosen = grantable[0]
            reason = f"granted: agreement {evidence[chosen]:.3f} on {samples[chosen]} pairs"
        if chosen is None and held is not None:
            reason = (
                f"revoked from {held}: agreement {evidence[held]:.3f} < {config.revoke_agreement} "
                f"on {samples[held]} audited pairs"
            )
        decisions.append(
            ClusterDecision(chosen, reason or "supervisor: no candidate clears the bar", evidence, samples)
        )
    return decisions


def _keep(
    held: str | None, evidence: dict[str, float], samples: dict[str, int], config: DelegationConfig
) -> tuple[str | None, str]:
    """(held, why) when the cluster's delegation stands: no audit yet, or audits that agree."""
    if held is None:
        return None, ""
    if held not in evidence:
        return held, "kept: no audited pairs since it was granted"
    if evidence[held] >= config.revoke_agreement:
        return held, f"kept: agreement {evidence[held]:.3f} on {samples[held]} pairs"
    return None, ""


def gate(
    state: DelegationState, held_out: pd.DataFrame, scores: pd.DataFrame, config: DelegationConfig
) -> tuple[bool, str, dict[str, float]]:
    """Held-out check: each delegated cluster's judge agrees at ``revoke_agreement`` on the newest pairs."""
    failures, checked, agreeing = [], 0, 0.0
    for cluster, decision in enumerate(state.clusters):
        if decision.judge is None:
            continue
        group = held_out[held_out["cluster"] == cluster]
        stats = agreement(
            scores.loc[group.index, decision.judge], group["judge_score"], config.accept_threshold
        )
        if stats["n"] == 0:
            continue
        checked += stats["n"]
        agreeing += stats["agreement"] * stats["n"]
        if stats["agreement"] < config.revoke_agreement:
            failures.append(f"cluster {cluster} ({decision.judge}) {stats['agreement']:.3f}")
    metrics = {
        "delegated_clusters": float(state.delegated),
        "clusters": float(len(state.clusters)),
        "holdout_pairs": float(checked),
        "holdout_agreement": agreeing / checked if checked else math.nan,
    }
    if failures:
        return False, "held-out agreement below revoke_agreement: " + ", ".join(failures), metrics
    return (
        True,
        f"{state.delegated} of {len(state.clusters)} clusters delegated, held-out checks pass",
        metrics,
    )


# ---- the step -------------------------------------------------------------------------------------


def production_state(registry: ModelRegistry, name: str, cache) -> tuple[DelegationState | None, int | None]:
    if not registry.exists():
        return None, None
    try:
        info = registry.production(name)
    except ModelNotFound:
        return None, None
    if info is None:
        return None, None
    try:
        return DelegationState.load(registry.download(name, info.version, cache, STATE_FILE)), info.version
    except DelegationError:
        return None, info.version


def update_delegation(cfg: AcademyConfig, night: str = "") -> dict[str, Any]:
    """Tonight's delegation state: measured, decided, registered and gated (see the module docstring)."""
    config = cfg.delegation
    if not config.enabled:
        return {"skipped": "delegation.enabled is false"}
    layout = NightLayout.of(cfg)
    snapshot = read_snapshot(layout.snapshot)
    clusters, _ = read_gaps(layout.gaps)
    supervisor = build_judge(cfg.judge, home=cfg.paths.home).name
    pairs = supervisor_pairs(snapshot, clusters, supervisor)
    if len(pairs) < config.min_samples:
        return {
            "skipped": f"{len(pairs)} supervisor judgements < delegation.min_samples {config.min_samples}"
        }
    cut = int(len(pairs) * (1 - config.holdout_fraction))
    train, held_out = pairs.iloc[:cut], pairs.iloc[cut:]
    verifier = fit_verifier(train, config.l2)
    scores = candidate_scores(pairs, config, verifier)
    centroids = _centroids(snapshot, clusters)
    registry = ModelRegistry.from_config(cfg)
    incumbent, incumbent_version = production_state(registry, config.registry_name, layout.registry_cache)
    delegated_now = _delegated_now(incumbent, centroids)
    table = agreement_table(train, scores.loc[train.index], config)
    decisions = decide(table, len(centroids), delegated_now, config)
    trust = pairs.groupby(["cluster", "model"])["judge_score"].mean()
    for cluster, decision in enumerate(decisions):
        if cluster in trust.index.get_level_values(0):
            decision.trust = {m: round(float(v), 4) for m, v in trust.loc[cluster].items()}
    state = DelegationState(
        supervisor, centroids, decisions, verifier,
        {m: round(float(v), 4) for m, v in pairs.groupby("model")["judge_score"].mean().items()},
        {"night": night, "pairs": len(pairs)},
    )  # fmt: skip
    passed, reason, metrics = gate(state, held_out, scores, config)
    work = layout.home / "nightly" / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    state.save(work)
    by_domain = agreement_table(
        pairs.assign(
            domain=pairs["query_id"].map(snapshot.queries.set_index("id")["domain"]).fillna("unknown")
        ),
        scores,
        config,
        by="domain",
    )
    info = registry.register_artifact_model(
        config.registry_name,
        work,
        required_file=STATE_FILE,
        kind=DELEGATION_KIND,
        params={
            "candidates": ",".join(scores.columns),
            "grant_agreement": config.grant_agreement,
            "revoke_agreement": config.revoke_agreement,
            "min_samples": config.min_samples,
            "audit_rate": config.audit_rate,
            "pairs": len(pairs),
            "incumbent_version": incumbent_version,
        },
        metrics=metrics,
        tags={"academy.night": night},
        text_artifacts={
            "agreement_by_domain.csv": by_domain.to_csv(index=False),
            "agreement_by_cluster.csv": table.to_csv(index=False),
        },
        run_name=f"{config.registry_name}-{night or 'candidate'}",
    )
    stage = "production" if passed else "rejected"
    if passed:
        registry.transition(config.registry_name, info.version, "staging", reason, metrics)
    registry.transition(config.registry_name, info.version, stage, reason, metrics)
    return {
        "model": config.registry_name,
        "version": info.version,
        "stage": stage,
        "reason": reason,
        "delegated": {c: d.judge for c, d in enumerate(decisions) if d.judge},
        "revoked": [c for c, d in enumerate(decisions) if d.reason.startswith("revoked")],
        "pairs": len(pairs),
        "agreement_by_domain": by_domain.to_dict(orient="records"),
        "metrics": {k: (v if math.isfinite(v) else None) for k, v in metrics.items()},
    }


def _centroids(snapshot: Snapshot, clusters: pd.Series) -> np.ndarray:
    queries = snapshot.queries[snapshot.queries["id"].isin(clusters.index)]
    labels = queries["id"].map(clusters).to_numpy(int)
    vectors = np.stack(queries["embedding"].to_numpy()).astype(np.float64)
    k = int(labels.max()) + 1 if len(labels) else 0
    return np.stack(
        [
            vectors[labels == c].mean(axis=0) if (labels == c).any() else np.zeros(vectors.shape[1])
            for c in range(k)
        ]
    )


def _delegated_now(incumbent: DelegationState | None, centroids: np.ndarray) -> dict[int, str]:
    """Tonight's cluster -> the judge the serving state delegates at its centroid."""
    if incumbent is None or incumbent.centroids.shape[1] != centroids.shape[1]:
        return {}
    out = {}
    for cluster, centroid in enumerate(centroids):
        judge = incumbent.delegate(incumbent.cluster_of(centroid))
        if judge:
            out[cluster] = judge
    return out
