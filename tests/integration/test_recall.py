"""Recall in the real router on a real store: an exact repeat is served the logged answer with no
model or judge call, is logged as route ``recall``, and what the store says survives a restart."""

import asyncio

import numpy as np

from academy.config import RecallConfig
from academy.routing.recall import RecallIndex, load_from_store
from academy.store import ScoreRecord
from tests.factories.vectors import unit
from tests.integration.test_routing import route, router_for


def counted(router):
    """Count every generate call each backend gets."""
    calls = {name: 0 for name in router.backends}
    for name, backend in router.backends.items():
        original = backend.agenerate

        async def wrapped(prompts, _name=name, _original=original):
            calls[_name] += 1
            return await _original(prompts)

        backend.agenerate = wrapped
    return calls


def test_an_exact_repeat_is_served_the_logged_answer_and_calls_no_model_or_judge(tmp_path):
    router, store = router_for(tmp_path, student_error=1.0)  # the student is always wrong
    first = route(router, "What is 47 plus 35?", unit(1))
    assert first.route == "novel" and first.model == "teacher" and first.answer == "82"
    calls = counted(router)
    again = route(router, "  what is 47 PLUS 35? ", unit(2))  # another embedding: text decides
    assert again.route == "recall" and again.answer == "82" and again.model == "teacher"
    assert again.cost == 0.0 and calls == {"teacher": 0, "student": 0}
    row = store.get_query(again.request_id)
    assert row["route"] == "recall" and row["total_cost"] == 0.0 and row["final_answer"] == "82"
    other = route(router, "What is 47 plus 36?", unit(1))  # one digit off: routed, not recalled
    assert other.route != "recall" and sum(calls.values()) > 0


def test_recall_is_rebuilt_from_the_store_and_a_late_low_score_takes_the_answer_out(tmp_path):
    router, store = router_for(tmp_path, student_error=1.0, recall=RecallConfig(enabled=False))
    first = route(router, "What is 47 plus 35?", unit(1))
    assert first.route == "novel"
    again = route(router, "What is 47 plus 35?", unit(1))
    assert again.route != "recall"  # off in config: routed as usual

    fresh = RecallIndex(RecallConfig())
    assert load_from_store(store, fresh) == 3  # the fan-out's two answers and the repeat's
    hit = fresh.lookup("t", "what is 47 plus 35?")
    assert hit is not None and hit.answer == "82" and hit.model == "teacher"
    assert fresh.lookup("t", "What is 47 plus 35?", frozenset({"student"})) is None  # wrong, judged 0

    answer = next(a for a in store.answers_for(first.request_id) if a["model"] == "teacher")
    store.log_scores([ScoreRecord(answer["id"], first.request_id, "t", "teacher", 0.2, "supervisor")])
    later = RecallIndex(RecallConfig())
    load_from_store(store, later)
    assert later.lookup("t", "What is 47 plus 35?") is None


def test_a_recalled_request_reaches_the_evidence_only_once(tmp_path):
    router, _ = router_for(tmp_path, student_error=0.0, estimator="evidence")
    route(router, "Convert 3 km to m.", unit(3))
    judged = len(router.evidence)
    results = [route(router, "Convert 3 km to m.", unit(3)) for _ in range(3)]
    assert all(r.route == "recall" for r in results)
    assert len(router.evidence) == judged  # a recall is not new judged evidence
    assert np.isclose(sum(r.cost for r in results), 0.0)
    asyncio.run(router.drain())


def test_serving_a_recalled_answer_does_not_make_it_younger(tmp_path):
    from datetime import UTC, datetime, timedelta

    from academy.store import AnswerRecord, QueryRecord, TrafficStore

    store = TrafficStore(tmp_path / "lancedb")
    now = datetime.now(UTC)

    def log(qid, route, when):
        query = QueryRecord(qid, "t", "Capital of France?", unit(5), route, "teacher", "Paris", ts=when)
        store.log(query, [AnswerRecord("teacher", "teacher", "serve", "Paris", ts=when)])

    log("old", "novel", now - timedelta(hours=3))
    log("served-again", "recall", now)  # served from recall just now: not a new answer
    stale = RecallIndex(RecallConfig(max_age_hours=2))
    load_from_store(store, stale)
    assert stale.lookup("t", "Capital of France?") is None
    log("asked-again", "familiar", now)  # the teacher answered it again: a fresh answer
    fresh = RecallIndex(RecallConfig(max_age_hours=2))
    load_from_store(store, fresh)
    assert fresh.lookup("t", "Capital of France?").answer == "Paris"
