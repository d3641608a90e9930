"""The evidence estimator: a student's judged record near a query decides, however much unjudged
traffic piles up there, and a student that turns wrong loses its traffic within a stated bound (the
router on a real store). The posterior and the index alone: tests/unit/test_evidence_routing.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from academy.backends import build_backend
from academy.config import JudgeConfig, ModelConfig, RouterConfig
from academy.judges import build_judge
from academy.routing import ROUTER_CLS, RouteRequest
from academy.routing.evidence import load_from_store
from academy.routing.posteriors import samples_to_lose
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from tests.factories.evidence import FLOOR, near
from tests.factories.vectors import unit


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


class SureWhenRight:
    """A student that says how sure it is, and is sure exactly when it is right (checked against
    an error-free copy): the calibrated confidence an hf student's lowest token probability gives."""

    def __init__(self, inner, truth) -> None:
        self.inner, self.truth = inner, truth

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def agenerate(self, prompts):
        answers, truths = await self.inner.agenerate(prompts), await self.truth.agenerate(prompts)
        for answer, truth in zip(answers, truths):
            answer.confidence = 0.95 if answer.text == truth.text else 0.3
        return answers


def test_a_cascade_serves_what_the_student_is_sure_of_and_defers_the_rest(tmp_path):
    """A student right on half of a neighbourhood is below the floor as a whole, so the teacher
    served all of it before. On its confident answers it is always right: it now answers first,
    serves the answers it is sure of, and an unsure one goes to the teacher. Every served answer
    is right, and the deferred answer is logged, billed and scored by agreement (free evidence)."""
    base = unit(9)
    store = TrafficStore(tmp_path / "lancedb")
    items = []
    for i in range(80):  # judged history: right and sure, or wrong and unsure, alternately
        right = i % 2 == 0
        query = QueryRecord(id=f"h{i}", tenant="t", text=f"Convert {i} km to m.", embedding=near(base, 500 + i),
                            route="familiar", final_model="teacher", final_answer=f"{i * 1000}")  # fmt: skip
        answer = AnswerRecord(model="student", role="student", purpose="shadow", text="x",
                              judge_score=float(right), judge_name="reference", confidence=0.95 if right else 0.3)  # fmt: skip
        items.append((query, [answer]))
    store.log_many(items)

    plain = router_for(store, student_error=0.5, evidence={"defer_thresholds": []})
    load_from_store(store, plain.evidence)
    assert route(plain, "Convert 5 km to m.", near(base, 3)).model == "teacher"

    router = router_for(store, student_error=0.5)
    router.backends["student"] = SureWhenRight(
        router.backends["student"], backend("truth", "student", 0.1, 0.0)
    )
    load_from_store(store, router.evidence)
    served, deferred = [], 0
    for i in range(30):
        result = route(router, f"Convert {i + 100} km to m.", near(base, 40 + i), request_id=f"r{i}")
        assert result.answer == f"{(i + 100) * 1000}"  # right every time
        served.append(result.model)
        logged = {a["purpose"]: a for a in store.answers_for(f"r{i}")}
        if "deferred" in logged:
            deferred += 1
            unsure = logged["deferred"]
            assert result.model == "teacher" and "unsure" in result.reason
            assert unsure["model"] == "student" and unsure["confidence"] == pytest.approx(0.3)
            assert unsure["cost"] > 0 and unsure["judge_name"] == "agreement" and unsure["judge_cost"] == 0
    assert served.count("student") >= 8 and deferred >= 8
    assert served.count("student") + deferred == 30  # the student answered first every time


def test_an_unsure_student_passes_the_query_to_a_sure_one_before_the_teacher(tmp_path):
    """Two students clear the floor here on their confident answers. The cheaper one, ranked
    first, is sure (and right) on half the queries; the other is sure and right on all of them but
    dearer. An unsure answer of the first goes to the second, which serves it: the teacher answers
    nothing, and every answer is right. With ``cascade_depth: 1`` the unsure half goes to the teacher."""
    base = unit(21)
    store = TrafficStore(tmp_path / "lancedb")
    items = []
    for i in range(80):  # judged history: "narrow" right and sure on half, "broad" on all
        right = i % 2 == 0
        query = QueryRecord(id=f"h{i}", tenant="t", text=f"Convert {i} km to m.", embedding=near(base, 500 + i),
                            route="familiar", final_model="teacher", final_answer=f"{i * 1000}")  # fmt: skip
        narrow = AnswerRecord(model="narrow", role="student", purpose="shadow", text="x",
                              judge_score=float(right), judge_name="reference", confidence=0.95 if right else 0.3)  # fmt: skip
        broad = AnswerRecord(model="broad", role="student", purpose="shadow", text="x",
                             judge_score=1.0, judge_name="reference", confidence=0.95)  # fmt: skip
        items.append((query, [narrow, broad]))
    store.log_many(items)
    truth = backend("truth", "student", 0.1, 0.0)

    def two_students(depth: int):
        router = router_for(store, evidence={"cascade_depth": depth})
        del router.backends["student"]
        router.backends["narrow"] = SureWhenRight(backend("narrow", "student", 0.1, 0.5), truth)
        router.backends["broad"] = SureWhenRight(backend("broad", "student", 8.0, 0.0), truth)
        load_from_store(store, router.evidence)
        return router

    router = two_students(depth=3)
    served = []
    for i in range(30):
        result = route(router, f"Convert {i + 100} km to m.", near(base, 40 + i), request_id=f"c{i}")
        assert result.answer == f"{(i + 100) * 1000}"  # right every time
        served.append(result.model)
        logged = {a["purpose"]: a for a in store.answers_for(f"c{i}")}
        if result.model == "broad":
            assert logged["deferred"]["model"] == "narrow" and "which was sure" in result.reason
    assert "teacher" not in served and served.count("narrow") >= 8 and served.count("broad") >= 8

    shallow = two_students(depth=1)
    served = [
        route(shallow, f"Convert {i + 100} km to m.", near(base, 40 + i), request_id=f"s{i}").model
        for i in range(30)
    ]
    assert set(served) == {"narrow", "teacher"} and served.count("teacher") >= 8

    # the rest of the cascade and the teacher down: an unsure answer is served after all, never a 502
    stranded = two_students(depth=3)
    stranded.backends["broad"] = Broken(stranded.backends["broad"])
    stranded.backends["teacher"] = Broken(stranded.backends["teacher"])
    reasons = []
    for i in range(10):
        result = route(stranded, f"Convert {i + 100} km to m.", near(base, 40 + i), request_id=f"x{i}")
        assert result.model == "narrow"
        reasons.append(result.reason)
        if "nothing else answered" in result.reason:
            purposes = {a["model"]: a["purpose"] for a in store.answers_for(f"x{i}")}
            assert purposes == {"narrow": "serve", "broad": "failed", "teacher": "failed"}
    assert sum("nothing else answered" in r for r in reasons) >= 3


class Broken:
    """A backend that is down: every call raises."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def agenerate(self, prompts):
        raise ConnectionError(f"{self.inner.name} is down")


def test_the_quality_budget_lets_a_promising_student_serve_while_the_target_has_room(tmp_path):
    """A student right on 12 of 14 judged answers here: its lower bound (about 0.75) is below the
    floor, so without a budget the teacher serves every query. With one, each teacher-served
    query deposits what the 97% target allows it to lose; once the bucket holds that, the floor
    drops to ``min_floor`` and the student serves, spending its expected loss (1 - 12/14 against
    a teacher judged right every time), so the following queries go back to the teacher until the
    deposits repay it. Nothing is explored or shadowed, so the student's record stays as it was."""
    from academy.routing.evidence import Judged

    base = unit(11)
    store = TrafficStore(tmp_path / "lancedb")
    seed_store(store, base, judged_student=0, unjudged_teacher=20)  # familiar, nothing judged
    quiet = {"agreement": False, "max_explore": 0.0}

    def fresh(**budget):
        router = router_for(
            store, evidence=quiet, budget={"min_floor": 0.7, **budget}, shadow_rate=0.0, explore_rate=0.0
        )
        rows = [Judged("t", "student", None, near(base, 300 + i), float(i >= 2), float(i)) for i in range(14)]
        rows += [Judged("t", "teacher", None, near(base, 400 + i), 1.0, 100.0 + i) for i in range(10)]
        router.evidence.add_many(rows)
        return router

    router = fresh(enabled=True, target=0.97)
    post = router.evidence.estimate("t", "student", near(base, 90), None)
    assert 0.7 < post.lower < FLOOR and post.observed == pytest.approx(12 / 14, abs=0.02)  # recency-weighted

    served = [route(router, f"Convert {i} km to m.", near(base, 90 + i)).model for i in range(12)]
    # an empty bucket: the base floor; one query's allowance in it: the floor drops and the
    # student serves, spending about 0.13; 0.03 a query repays it in four
    assert served[:6] == ["teacher", "student", "teacher", "teacher", "teacher", "student"]
    assert served.count("student") == 3
    assert router.budget.spent == pytest.approx(3 * (1 - post.observed), rel=0.05)

    off = fresh(enabled=False)
    assert {route(off, f"Convert {i} km to m.", near(base, 90 + i)).model for i in range(12)} == {"teacher"}
