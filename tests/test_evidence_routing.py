"""The evidence estimator: a student's judged record near a query decides, however much unjudged
traffic piles up there, and a student that turns wrong loses its traffic within a stated bound."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from academy.backends import build_backend
from academy.config import EvidenceConfig, JudgeConfig, ModelConfig, RouterConfig
from academy.judges import build_judge
from academy.routing import ROUTER_CLS, RouteRequest
from academy.routing.evidence import (
    EvidenceIndex,
    Posterior,
    explore_probability,
    load_from_store,
    posterior,
    samples_to_lose,
)
from academy.store import AnswerRecord, QueryRecord, TrafficStore

FLOOR = 0.9


def unit(seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def near(base: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    v = base + noise * unit(seed)
    return (v / np.linalg.norm(v)).astype(np.float32)


def backend(name: str, role: str, price: float, error: float):
    return build_backend(
        ModelConfig(
            name=name,
            backend="reference",
            role=role,
            price_in=price,
            price_out=price,
            options={"error_rate": error, "latency_ms": 0, "seed": 7},
        )
    )


def router_for(store: TrafficStore, student_error: float = 0.0, **router):
    backends = {
        "teacher": backend("teacher", "teacher", 10.0, 0.0),
        "student": backend("student", "student", 0.1, student_error),
    }
    judge = build_judge(JudgeConfig(name="reference", cost_per_call=0.001))
    config = RouterConfig(
        **{"novel_similarity": 0.9, "quality_floor": FLOOR, "judge_rate": 0.0, "seed": 3, **router}
    )

    async def no_embedder(text):
        raise AssertionError("embedding expected in the request")

    return ROUTER_CLS.get("academy")(config, backends, judge, store, no_embedder)


def route(router, query: str, embedding: np.ndarray, request_id: str | None = None, tenant: str = "t"):
    async def go():
        request = RouteRequest(query, tenant, embedding=embedding)
        if request_id:
            request.request_id = request_id
        result = await router.route(request)
        await router.drain()
        return result

    return asyncio.run(go())


def seed_store(store: TrafficStore, base: np.ndarray, judged_student: int, unjudged_teacher: int) -> None:
    """``judged_student`` queries near ``base`` where the student's answer was judged right, then
    ``unjudged_teacher`` teacher-served near-duplicates nobody judged (as served traffic leaves them)."""
    items = []
    for i in range(judged_student + unjudged_teacher):
        judged = i < judged_student
        model = "student" if judged else "teacher"
        query = QueryRecord(
            id=f"q{i}",
            tenant="t",
            text=f"Convert {i} km to m.",
            embedding=near(base, 1000 + i),
            route="familiar",
            final_model=model,
            final_answer=f"{i * 1000}",
        )
        answer = AnswerRecord(
            model=model,
            role="student" if judged else "teacher",
            purpose="serve",
            text=f"{i * 1000}",
            judge_score=1.0 if judged else None,
            judge_name="reference" if judged else None,
        )
        items.append((query, [answer]))
    store.log_many(items)


def test_a_proven_student_keeps_its_traffic_under_10000_unjudged_teacher_duplicates(tmp_path):
    base = unit(1)
    store = TrafficStore(tmp_path / "lancedb")
    seed_store(store, base, judged_student=150, unjudged_teacher=10_000)
    assert store.count() == 10_150

    evidence_router = router_for(store)
    assert load_from_store(store, evidence_router.evidence) == 150  # unjudged rows are no evidence
    result = route(evidence_router, "Convert 7 km to m.", near(base, 5))
    assert result.route == "familiar" and result.model == "student" and result.answer == "7000"
    assert result.estimates["student"] > FLOOR

    # The k-nearest-queries estimator on the same store: the student's record has thinned out of
    # the 8 nearest queries, all teacher-served and unjudged, so the teacher answers.
    knn_router = router_for(store, estimator="knn")
    assert route(knn_router, "Convert 8 km to m.", near(base, 6)).model == "teacher"


def test_a_student_that_turns_wrong_loses_its_traffic_within_the_stated_bound(tmp_path):
    base = unit(2)
    store = TrafficStore(tmp_path / "lancedb")
    seed_store(store, base, judged_student=150, unjudged_teacher=0)
    router = router_for(store, judge_rate=1.0)  # every served answer is judged (monitoring)
    load_from_store(store, router.evidence)
    assert route(router, "Convert 3 km to m.", near(base, 7)).model == "student"

    router.backends["student"] = backend("student", "student", 0.1, 1.0)  # now always wrong
    bound = samples_to_lose(router.config.evidence, FLOOR)
    served_wrong = 0
    for i in range(bound + 5):
        result = route(router, f"Convert {i + 20} km to m.", near(base, 50 + i))
        served_wrong += result.model == "student"
    assert 1 <= served_wrong <= bound
    assert result.model == "teacher"


def test_an_unknown_student_shadows_the_teacher_and_is_scored_by_agreement_for_free(tmp_path):
    base = unit(3)
    store = TrafficStore(tmp_path / "lancedb")
    seed_store(store, base, judged_student=0, unjudged_teacher=20)  # familiar, nothing judged
    router = router_for(store)
    result = route(router, "Convert 3 km to m.", near(base, 8), request_id="r-explore")
    assert result.route == "familiar" and result.model == "teacher"
    logged = {a["purpose"]: a for a in store.answers_for("r-explore")}
    assert set(logged) == {"serve", "explore"}
    explored = logged["explore"]
    assert (explored["model"], explored["judge_score"], explored["judge_name"]) == (
        "student",
        1.0,
        "agreement",
    )
    assert explored["judge_cost"] == 0 and logged["serve"]["judge_score"] is None  # no judge call at all
    assert len(router.evidence) == 1  # and the score is evidence at once


def test_without_agreement_exploring_costs_a_judge_call_on_the_cheaper_answer_only(tmp_path):
    base = unit(3)
    store = TrafficStore(tmp_path / "lancedb")
    seed_store(store, base, judged_student=0, unjudged_teacher=20)
    router = router_for(store, evidence={"agreement": False, "max_explore": 1.0, "explore_gain": 10.0})
    route(router, "Convert 3 km to m.", near(base, 8), request_id="r-judged")
    logged = {a["purpose"]: a for a in store.answers_for("r-judged")}
    assert logged["explore"]["judge_name"] == "reference" and logged["explore"]["judge_cost"] > 0
    assert logged["serve"]["judge_score"] is None


def test_a_fan_out_scores_the_cheaper_answers_and_serves_the_teacher_it_paid_for(tmp_path):
    store = TrafficStore(tmp_path / "lancedb")
    router = router_for(store)
    result = route(router, "Convert 3 km to m.", unit(4), request_id="r-novel")
    assert result.route == "novel" and result.model == "teacher" and result.answer == "3000"
    judged = {a["model"]: (a["judge_score"], a["judge_name"]) for a in store.answers_for("r-novel")}
    assert judged == {"student": (1.0, "agreement"), "teacher": (None, None)}

    # Without agreement the supervisor judges the student, and a right student is served.
    judged_router = router_for(TrafficStore(tmp_path / "judged"), evidence={"agreement": False})
    result = route(judged_router, "Convert 3 km to m.", unit(4), request_id="r-judged")
    assert result.model == "student" and result.answer == "3000"
    wrong = router_for(TrafficStore(tmp_path / "other"), student_error=1.0, evidence={"agreement": False})
    assert route(wrong, "Convert 3 km to m.", unit(4)).model == "teacher"


def test_posterior_bounds_tighten_with_evidence_and_recency_forgets():
    config = EvidenceConfig()
    thin = posterior(np.ones(3), np.ones(3), np.ones(3, bool), config)
    thick = posterior(np.ones(90), np.ones(90), np.ones(90, bool), config)
    assert thin.lower < FLOOR <= thick.lower and thin.spread > thick.spread
    # The same 60 right and 10 wrong answers: wrong ones newest weigh more than wrong ones oldest.
    scores = np.array([0.0] * 10 + [1.0] * 60)  # newest first
    newest_wrong = posterior(np.ones(70), scores, np.ones(70, bool), config)
    oldest_wrong = posterior(np.ones(70), scores[::-1], np.ones(70, bool), config)
    assert newest_wrong.quality < oldest_wrong.quality
    # Far rows say nothing; another version's rows count less.
    far = posterior(np.full(50, 0.3), np.zeros(50), np.ones(50, bool), config)
    assert far.evidence == 0
    own = posterior(np.ones(50), np.ones(50), np.ones(50, bool), config)
    other = posterior(np.ones(50), np.ones(50), np.zeros(50, bool), config)
    assert other.evidence == pytest.approx(config.other_version_weight * own.evidence)


def test_exploration_goes_where_the_posterior_straddles_the_floor():
    config = EvidenceConfig(explore_gain=1.0, max_explore=0.5)
    assert explore_probability(Posterior(0.97, 80, 0.93, 0.99), FLOOR, 1.0, config) == 0  # serving it
    assert explore_probability(Posterior(0.5, 80, 0.4, 0.6), FLOOR, 1.0, config) == 0  # known bad
    unsure = Posterior(0.8, 5, 0.5, 0.98)
    assert explore_probability(unsure, FLOOR, 1.0, config) == pytest.approx(0.48)
    assert explore_probability(unsure, FLOOR, 0.5, config) == pytest.approx(0.24)  # less to save
    assert explore_probability(unsure, FLOOR, 0.0, config) == 0
    # A prior alone proves nothing: a model never judged here is explored, not written off.
    unknown = Posterior(0.5, 0.0, 0.2, 0.8)
    assert explore_probability(unknown, FLOOR, 1.0, config) == pytest.approx(0.5)


def test_the_index_keeps_tenants_and_models_apart():
    index = EvidenceIndex(EvidenceConfig())
    base = unit(5)
    for i in range(40):
        index.add("a", "student", "1", near(base, i), 1.0)
    assert index.estimate("a", "student", base, "1").lower > 0.85
    assert index.estimate("b", "student", base, "1").evidence == 0
    assert index.estimate("a", "other", base, None).evidence == 0
    assert (
        index.estimate("a", "student", base, "2").evidence
        < index.estimate("a", "student", base, "1").evidence
    )
