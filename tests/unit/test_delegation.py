"""Reducing the supervisor's role, each part on known data: cheap judges, agreement with the
supervisor, decisions that grant, keep and revoke a delegation, and the audit sample (academy/judges/
cheap.py, delegation.py, academy/evolution/delegation.py). Delegation granted, audited and revoked
over real nights: tests/integration/test_delegation.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from academy.config import DelegationConfig, JudgeConfig
from academy.evolution.delegation import agreement, agreement_table, decide
from academy.judges import JudgeRequest, build_judge
from academy.judges.delegation import ClusterDecision, DelegationState, JudgePanel
from tests.factories.learned_router import CENTERS


def judged(judge: str, requests: list[JudgeRequest]) -> list[float]:
    return [
        j.score for j in asyncio.run(build_judge(JudgeConfig(name=judge, cost_per_call=0.0)).ajudge(requests))
    ]


# ---- the candidates -----------------------------------------------------------------------------


def test_ensemble_weighs_votes_by_track_record():
    trust = {"teacher": 0.97, "student": 0.7, "weak": 0.55}
    agree = JudgeRequest("q", "Lima", "student", peers={"teacher": "lima"}, trust=trust)
    disagree_student = JudgeRequest("q", "Quito", "student", peers={"teacher": "Lima"}, trust=trust)
    disagree_teacher = JudgeRequest("q", "Lima", "teacher", peers={"student": "Quito"}, trust=trust)
    two_weak = JudgeRequest("q", "Lima", "teacher", peers={"student": "Quito", "weak": "Quito"}, trust=trust)
    alone = JudgeRequest("q", "Lima", "student", trust=trust)
    scores = judged("ensemble", [agree, disagree_student, disagree_teacher, two_weak, alone])
    assert scores[0] == 1.0 and scores[1] < 0.5 < scores[2]
    assert scores[3] > 0.5  # one reliable model outweighs two weak ones that agree
    assert scores[4] == 0.7  # no other answer: the model's track record
    assert judged("verifier", [agree, disagree_student]) == scores[:2]  # untrained: the vote


def test_model_judge_uses_the_judge_models_answer_and_never_grades_itself():
    judge = build_judge(JudgeConfig(name="model", cost_per_call=0.0, options={"model": "teacher"}))
    requests = [
        JudgeRequest("q", "Lima", "student", peers={"teacher": "Lima"}),
        JudgeRequest("q", "Quito", "student", peers={"teacher": "Lima"}),
        JudgeRequest("q", "Lima", "teacher", peers={"student": "Lima"}),
    ]
    right, wrong, own = asyncio.run(judge.ajudge(requests))
    assert (right.score, wrong.score, own.score) == (1.0, 0.0, None) and judge.name == "model:teacher"
    with pytest.raises(ValueError, match="options.model"):
        build_judge(JudgeConfig(name="model"))


# ---- agreement and decisions --------------------------------------------------------------------


def test_agreement_on_known_data():
    candidate = pd.Series([0.9, 0.2, 0.8, 0.1, np.nan])
    supervisor = pd.Series([1.0, 0.0, 0.0, 0.0, 1.0])
    stats = agreement(candidate, supervisor, threshold=0.5)
    assert stats["n"] == 4 and stats["agreement"] == 0.75
    assert stats["brier"] == pytest.approx((0.01 + 0.04 + 0.64 + 0.01) / 4)
    pairs = pd.DataFrame({"cluster": [0, 0, 0, 0, 1], "judge_score": supervisor})
    table = agreement_table(pairs, pd.DataFrame({"ensemble": candidate}), DelegationConfig(window=3))
    assert table.set_index("cluster").loc[0, "n"] == 3  # the newest 3 of cluster 0
    assert table.set_index("cluster").loc[0, "agreement"] == pytest.approx(2 / 3)


def test_decisions_grant_keep_and_revoke_with_hysteresis():
    config = DelegationConfig(grant_agreement=0.95, revoke_agreement=0.9, min_samples=10)
    table = pd.DataFrame(
        [
            (0, "ensemble", 50, 0.97),  # granted
            (1, "ensemble", 50, 0.92),  # between the thresholds: not granted ...
            (2, "ensemble", 50, 0.92),  # ... but kept where it already was
            (3, "ensemble", 50, 0.80),  # revoked
            (4, "ensemble", 5, 1.00),  # too few pairs to grant
            (4, "verifier", 50, 0.96),  # the next candidate in order gets it
            (5, "ensemble", 3, 1.00),  # held, only 3 audits since, all agreeing: kept
            (6, "ensemble", 3, 0.33),  # held, 3 audits, 2 disagree: revoked at once
        ],
        columns=["cluster", "judge", "n", "agreement"],
    )
    held = {2: "ensemble", 3: "ensemble", 5: "ensemble", 6: "ensemble", 7: "ensemble"}
    decisions = decide(table, 8, held, config)
    judges = [d.judge for d in decisions]
    assert judges == ["ensemble", None, "ensemble", None, "verifier", "ensemble", None, "ensemble"]
    assert decisions[2].reason.startswith("kept") and decisions[3].reason.startswith("revoked from ensemble")
    assert decisions[5].reason == "kept: agreement 1.000 on 3 pairs"
    assert decisions[6].reason == "revoked from ensemble: agreement 0.330 < 0.9 on 3 audited pairs"
    assert decisions[7].reason == "kept: no audited pairs since it was granted"  # no evidence either way


def test_audit_sample_still_reaches_the_supervisor():
    supervisor = build_judge(JudgeConfig(name="reference", cost_per_call=0.001))
    panel = JudgePanel(supervisor, DelegationConfig(audit_rate=0.2))
    centroids = np.stack([CENTERS[0], CENTERS[1]])
    panel.install(
        DelegationState(
            "reference", centroids, [ClusterDecision("ensemble", "granted"), ClusterDecision(None, "no")]
        )
    )
    picks = [panel.choose(CENTERS[0], f"r{i}") for i in range(400)]
    audits = [p for p in picks if p[2]]
    assert all(j is panel.supervisor for j, _, audited in picks if audited)
    assert all(j.name == "ensemble" for j, _, audited in picks if not audited)
    assert 50 < len(audits) < 110  # about 20% of 400
    assert all(panel.choose(CENTERS[1], f"r{i}")[0] is supervisor for i in range(20))  # not delegated
    request = JudgeRequest("What is the capital of Peru?", "Lima", "student", peers={"teacher": "Lima"})
    [delegated] = asyncio.run(panel.ajudge([request], CENTERS[0], "r0" if not picks[0][2] else "r1"))
    assert delegated.judge == "ensemble" and delegated.cost == 0.0 and delegated.detail["cluster"] == 0
    panel.install(None)
    [supervised] = asyncio.run(panel.ajudge([request], CENTERS[0], "r0"))
    assert supervised.judge == "reference" and supervised.cost == 0.001
