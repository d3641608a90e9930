"""Reducing the supervisor's role over real nights: delegation granted, audited and revoked on drift,
by the nightly scorer and by the router online (academy/judges/delegation.py,
academy/evolution/delegation.py). The judges and decisions on known data: tests/unit/test_delegation.py.

Traffic: two embedding clusters, a teacher and a student answering every query (a fan-out), every
answer judged by the supervisor ("reference"). Cluster 0: both usually give the gold answer, and
the student is sometimes wrong on its own, so the ensemble's weighted vote matches the supervisor.
Cluster 1: both models give the same wrong answer half the time; agreement says "right", the
supervisor says "wrong", so nothing there may be delegated. A second night adds cluster-0 traffic
where the two agree on wrong answers: the delegation must be revoked.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from academy.config import AcademyConfig
from academy.evolution import steps
from academy.judges import build_judge
from academy.judges.delegation import ClusterDecision, DelegationState, JudgePanel
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from tests.factories import make_config
from tests.factories.learned_router import CENTERS
from tests.factories.learned_router import near as _near

NAME = "academy-delegation"


# ---- the nightly step, on a real store, registry and snapshot -----------------------------------


def delegation_config(home: Path, **settings: object) -> AcademyConfig:
    cfg = make_config(home).model_dump(mode="json")
    cfg["paths"] = {"home": str(home), "data": str(home / "datasets")}
    cfg["evolution"]["scoring"] = {"clusters": 2}
    # the teacher is the only model here: its fan-out answer must be judged for a delegate to judge it
    cfg["router"]["evidence"]["judge_teacher_in_fanout"] = True
    candidates = [
        {"name": "ensemble"},
        {"name": "verifier"},
        {"name": "model", "options": {"model": "teacher"}},
    ]
    cfg["delegation"] = {
        "min_samples": 20,
        "window": 60,
        "audit_rate": 0.1,
        "candidates": candidates,
    } | settings
    return AcademyConfig.model_validate(cfg)


def log_traffic(cfg: AcademyConfig, start: int, n: int, wrong_pair: tuple[float, float]) -> None:
    """``n`` fan-out queries from ``start``, alternating clusters. In cluster 0 the student alone is
    wrong 10% of the time and both agree on a wrong answer with probability ``wrong_pair[0]``; in
    cluster 1 with probability ``wrong_pair[1]``. The supervisor scores right 1, wrong 0."""
    store = TrafficStore(cfg.paths.store, cfg.store)
    rng = np.random.default_rng(start)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for i in range(start, start + n):
        cluster = i % 2
        both_wrong = rng.random() < wrong_pair[cluster]
        student_wrong = both_wrong or (cluster == 0 and rng.random() < 0.1)
        teacher, student = ("Quito" if both_wrong else "Lima"), ("Quito" if student_wrong else "Lima")
        answers = [
            AnswerRecord("teacher", "teacher", "fanout", teacher, judge_score=float(teacher == "Lima"), judge_name="reference"),
            AnswerRecord("student-1", "student", "fanout", student, judge_score=float(student == "Lima"), judge_name="reference"),
        ]  # fmt: skip
        query = QueryRecord(
            id=f"q{i:04d}", tenant="t", text=f"What is the capital of Peru? ({i})",
            embedding=_near(CENTERS[cluster], rng), route="novel", final_model="teacher",
            final_answer=teacher, ts=t0 + timedelta(seconds=i),
        )  # fmt: skip
        items.append((query, answers))
    store.log_many(items)


def night(cfg: AcademyConfig, name: str) -> dict:
    steps.score_traffic(cfg)
    steps.find_gaps(cfg)
    return steps.update_delegation(cfg, name)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    home = tmp_path_factory.mktemp("delegation")
    cfg = delegation_config(home)
    log_traffic(cfg, 0, 240, wrong_pair=(0.0, 0.5))
    first = night(cfg, "n1")
    log_traffic(cfg, 240, 200, wrong_pair=(0.6, 0.5))  # drift in cluster 0
    second = night(cfg, "n2")
    return {"cfg": cfg, "first": first, "second": second}


def _cluster_near(cfg: AcademyConfig, version: int, center: np.ndarray) -> ClusterDecision:
    from registry.model_registry import ModelRegistry

    path = ModelRegistry.from_config(cfg).download(NAME, version, cfg.paths.home / "cache")
    state = DelegationState.load(path)
    return state.clusters[state.cluster_of(center)]


def test_delegation_granted_where_the_ensemble_agrees_and_nowhere_else(nights):
    first, cfg = nights["first"], nights["cfg"]
    assert first["stage"] == "production" and first["version"] == 1
    assert len(first["delegated"]) == 1 and list(first["delegated"].values()) == ["ensemble"]
    granted = _cluster_near(cfg, 1, CENTERS[0])
    assert granted.judge == "ensemble" and granted.agreement["ensemble"] >= 0.95
    assert granted.trust["teacher"] > granted.trust["student-1"]
    refused = _cluster_near(cfg, 1, CENTERS[1])
    assert refused.judge is None and refused.agreement["ensemble"] < 0.9
    assert {row["judge"] for row in first["agreement_by_domain"]} >= {"ensemble", "verifier", "model:teacher"}


def test_drift_revokes_the_delegation_and_the_registry_shows_it(nights):
    second, cfg = nights["second"], nights["cfg"]
    assert second["version"] == 2 and second["stage"] == "production" and second["delegated"] == {}
    assert second["revoked"]
    revoked = _cluster_near(cfg, 2, CENTERS[0])
    assert revoked.judge is None and revoked.reason.startswith("revoked from ensemble")
    from academy.cli import app

    path = cfg.paths.home / "academy.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    status = CliRunner().invoke(app, ["registry", "status", "--json", "--config", str(path)])
    versions = {(v["name"], v["version"]): v for v in json.loads(status.stdout)}
    assert status.exit_code == 0 and versions[(NAME, 2)]["stage"] == "production"
    assert versions[(NAME, 1)]["metrics"]["delegated_clusters"] == 1.0


def test_nightly_scorer_uses_the_delegate_and_audits(nights, tmp_path):
    """Unjudged served answers in a delegated cluster are judged by the ensemble, a sample by the supervisor."""
    from academy.evolution.scoring import score_unscored

    cfg = delegation_config(tmp_path, audit_rate=0.25)
    store = TrafficStore(cfg.paths.store, cfg.store)
    rng = np.random.default_rng(7)
    items = [
        (
            QueryRecord(id=f"u{i:03d}", tenant="t", text="What is the capital of Peru?", embedding=_near(CENTERS[0], rng),
                        route="familiar", final_model="teacher", final_answer="Lima"),
            [AnswerRecord("teacher", "teacher", "serve", "Lima"), AnswerRecord("student-1", "student", "shadow", "Lima")],
        )
        for i in range(60)
    ]  # fmt: skip
    store.log_many(items)
    supervisor = build_judge(cfg.judge, home=cfg.paths.home)
    panel = JudgePanel(supervisor, cfg.delegation)
    panel.install(
        DelegationState(
            "reference",
            np.stack(CENTERS),
            [ClusterDecision("ensemble", "granted"), ClusterDecision(None, "no")],
        )
    )
    summary = score_unscored(store, supervisor, batch_size=16, panel=panel)
    names = store.scores_frame()["judge_name"].value_counts().to_dict()
    assert summary.judged == 120 and summary.supervisor_calls == names["reference"]
    assert names["ensemble"] > names["reference"] > 0  # audited by query: both answers of a query


def test_router_judges_a_novel_fan_out_with_the_delegate_and_audits(tmp_path):
    """Online: the fan-out of a query in a delegated cluster is judged by the ensemble (free), and
    an audited request by the supervisor; both are logged under the judge that judged them."""
    from academy.routing.base import RouteRequest
    from academy.runtime import Runtime
    from tests.factories.learned_router import StubEmbedder

    state = DelegationState(
        "reference", np.stack(CENTERS), [ClusterDecision("ensemble", "granted"), ClusterDecision(None, "no")]
    )

    def route(audit_rate: float, request_id: str) -> list[dict]:
        cfg = delegation_config(tmp_path / request_id, audit_rate=audit_rate)
        runtime = Runtime.build(cfg, embedder=StubEmbedder())
        runtime.router.panel.install(state)

        async def run() -> None:
            await runtime.router.route(RouteRequest("What is the capital of Peru?", "t", request_id))
            await runtime.aclose(close_embedder=False)

        asyncio.run(run())
        return runtime.store.answers_for(request_id)

    [delegated] = route(0.0, "r-delegated")
    [audited] = route(1.0, "r-audited")
    assert (delegated["judge_name"], delegated["judge_cost"]) == ("ensemble", 0.0)
    assert audited["judge_name"] == "reference" and audited["judge_cost"] > 0
