"""The routing policy in the real router on a real store, with controlled embeddings (so novel vs
familiar is decided by construction). Its pure decisions: tests/unit/test_routing.py."""

import asyncio

import numpy as np
import pytest

from academy.backends import build_backend
from academy.config import JudgeConfig, ModelConfig, RouterConfig
from academy.judges import build_judge
from academy.routing import ROUTER_CLS, RouteRequest
from academy.store import TrafficStore
from tests.factories.vectors import unit


def router_for(tmp_path, student_error: float, store_config=None, **router):
    def model(name, role, price, error):
        return ModelConfig(
            name=name,
            backend="reference",
            role=role,
            price_in=price,
            price_out=price,
            options={"error_rate": error, "latency_ms": 0, "seed": 7},
        )

    backends = {
        "teacher": build_backend(model("teacher", "teacher", 10.0, 0.0)),
        "student": build_backend(model("student", "student", 0.1, student_error)),
    }
    judge = build_judge(JudgeConfig(name="reference", cost_per_call=0.001))
    store = TrafficStore(tmp_path / "lancedb", store_config)
    # These tests pin the knn estimator (one judged neighbour decides); the evidence estimator,
    # the default, is tested in tests/integration/test_evidence_routing.py.
    config = RouterConfig(
        **{"novel_similarity": 0.9, "shadow_rate": 0.0, "explore_rate": 0.0, "estimator": "knn", **router}
    )

    async def no_embedder(text):  # every request here carries its own embedding
        raise AssertionError("embedding expected in the request")

    return ROUTER_CLS.get("academy")(config, backends, judge, store, no_embedder), store


def route(router, query, embedding, tenant="t"):
    async def go():
        result = await router.route(RouteRequest(query, tenant, embedding=embedding))
        await router.drain()
        return result

    return asyncio.run(go())


def test_novel_fans_out_and_the_judge_picks_the_best(tmp_path):
    router, store = router_for(tmp_path, student_error=1.0)  # the student is always wrong
    result = route(router, "What is 47 plus 35?", unit(1))
    assert result.route == "novel"
    assert {a.model for a in result.answers} == {"teacher", "student"}
    assert result.model == "teacher" and result.answer == "82" and result.score == 1.0
    assert result.cost == pytest.approx(sum(a.cost for a in result.answers))
    row = store.get_query(result.request_id)
    assert row["route"] == "novel" and sorted(row["judged_models"]) == ["student", "teacher"]
    assert len(store.answers_for(result.request_id)) == 2


def test_fanout_tie_goes_to_the_cheaper_model(tmp_path):
    router, _ = router_for(tmp_path, student_error=0.0)
    result = route(router, "Convert 3 km to m.", unit(2))
    assert result.route == "novel" and result.model == "student" and result.answer == "3000"


def test_familiar_query_goes_to_the_best_value_model_of_its_neighbourhood(tmp_path):
    router, store = router_for(
        tmp_path, student_error=0.0, min_evidence=0.5
    )  # one judged neighbour is enough
    base = unit(3)
    first = route(router, "Convert 3 km to m.", base)
    near = base + 0.05 * unit(4)
    second = route(router, "Convert 4 km to m.", near / np.linalg.norm(near))
    assert first.route == "novel"
    assert second.route == "familiar" and second.model == "student" and second.answer == "4000"
    assert second.max_similarity > 0.9
    assert second.score_source == "estimate" and second.score == pytest.approx(1.0)
    assert [a.model for a in second.answers] == ["student"]  # no fan-out: only the chosen model was paid
    assert store.count() == 2


def test_familiar_neighbourhood_where_students_lose_goes_to_the_teacher(tmp_path):
    router, _ = router_for(tmp_path, student_error=1.0, min_evidence=0.5)
    base = unit(5)
    route(router, "What is 47 plus 35?", base)
    result = route(router, "What is 48 plus 35?", base)
    assert result.route == "familiar" and result.model == "teacher" and result.answer == "83"


def test_tenants_never_see_each_others_neighbours(tmp_path):
    router, _ = router_for(tmp_path, student_error=0.0)
    route(router, "Convert 3 km to m.", unit(6), tenant="a")
    other = route(router, "Convert 3 km to m.", unit(6), tenant="b")
    assert other.route == "novel"


def test_shadowing_judges_students_in_the_background(tmp_path):
    router, store = router_for(tmp_path, student_error=1.0, shadow_rate=1.0, min_evidence=0.5)
    base = unit(8)
    route(router, "What is 47 plus 35?", base)
    result = route(router, "What is 48 plus 35?", base)
    assert result.model == "teacher"
    purposes = {a["purpose"]: a for a in store.answers_for(result.request_id)}
    assert set(purposes) == {"serve", "shadow"}
    assert purposes["shadow"]["model"] == "student" and purposes["shadow"]["judge_score"] == 0.0
    row = store.get_query(result.request_id)
    assert sorted(row["judged_models"]) == ["student", "teacher"]
    assert row["total_cost"] > result.cost - 1e-12  # background cost is in the logged total


def test_a_failing_student_falls_back_to_the_teacher(tmp_path):
    router, _ = router_for(tmp_path, student_error=0.0, min_evidence=0.5)
    base = unit(9)
    route(router, "Convert 3 km to m.", base)

    # The student's weights vanish: the real hf backend fails to load them.
    router.backends["student"] = build_backend(
        ModelConfig(
            name="student",
            backend="hf",
            role="student",
            price_in=0.1,
            price_out=0.1,
            options={"path": str(tmp_path / "missing-student")},
        )
    )
    result = route(router, "Convert 5 km to m.", base)
    assert result.route == "familiar" and result.model == "teacher" and result.answer == "5000"
    assert "fell back" in result.reason
    logged = {a["purpose"]: a for a in router.store.answers_for(result.request_id)}
    assert logged["failed"]["model"] == "student" and "missing-student" in logged["failed"]["error"]
    assert logged["serve"]["model"] == "teacher"


def test_when_every_model_fails_the_router_says_so(tmp_path):
    from academy.routing.academy_policy import NoAnswerError

    router, store = router_for(tmp_path, student_error=0.0)
    for name in ("teacher", "student"):
        router.backends[name] = build_backend(
            ModelConfig(
                name=name,
                backend="openai",
                role=router.backends[name].role,
                price_in=1,
                price_out=1,
                options={"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout_s": 2},
            )
        )
    with pytest.raises(NoAnswerError, match="every model failed"):
        route(router, "What is 2 plus 2?", unit(11))
    assert store.count() == 0


def test_logging_compacts_fragments_as_traffic_grows(tmp_path):
    from academy.config import StoreConfig

    router, store = router_for(tmp_path, student_error=0.0, store_config=StoreConfig(maintenance_every=4))
    for i in range(4):
        route(router, f"Convert {i + 2} km to m.", unit(100 + i))
    assert store.count() == 4
    assert store.queries_table.stats()["fragment_stats"]["num_fragments"] == 1  # 4 appends merged into one
