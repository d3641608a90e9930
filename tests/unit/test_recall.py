"""Recall's rules (academy/routing/recall.py): which logged answer an exact repeat may be served."""

import time

from academy.config import RecallConfig
from academy.routing.recall import RecallIndex


def index(**config) -> RecallIndex:
    return RecallIndex(RecallConfig(**config))


def test_a_teacher_answer_nobody_judged_is_recalled_for_the_same_text_case_and_spaces_aside():
    recall = index()
    recall.add("t", "What is the capital of France?", "Paris", "teacher", "teacher", "3", None)
    hit = recall.lookup("t", "  what is the CAPITAL of   france? ")
    assert hit is not None and (hit.answer, hit.model, hit.version, hit.score) == (
        "Paris",
        "teacher",
        "3",
        None,
    )
    assert recall.lookup("t", "What is the capital of Spain?") is None  # any other word: another query


def test_an_unjudged_student_answer_is_never_recalled_and_a_judged_one_needs_min_score():
    recall = index(min_score=0.9)
    recall.add("t", "q", "a", "student-1", "student", None, None)
    assert recall.lookup("t", "q") is None
    recall.add("t", "q2", "b", "student-1", "student", None, 0.8)
    assert recall.lookup("t", "q2") is None
    recall.add("t", "q3", "c", "student-1", "student", None, 0.95)
    assert recall.lookup("t", "q3").answer == "c"


def test_one_low_judgement_takes_an_answer_out_of_recall_for_good():
    recall = index()
    recall.add("t", "q", "wrong", "teacher", "teacher", None, None)
    assert recall.lookup("t", "q").answer == "wrong"
    recall.add("t", "q", "wrong", "teacher", "teacher", None, 0.1)  # the nightly scorer caught it
    recall.add(
        "t", "q", "wrong", "teacher", "teacher", None, 1.0
    )  # a later high score does not bring it back
    assert recall.lookup("t", "q") is None
    recall.add("t", "q", "right", "student-1", "student", None, 1.0)
    assert recall.lookup("t", "q").answer == "right"


def test_the_best_judged_answer_wins_over_an_unjudged_teacher_answer():
    recall = index(min_score=0.9)
    recall.add("t", "q", "teacher's", "teacher", "teacher", None, None)
    recall.add("t", "q", "judged", "student-1", "student", "2", 1.0)
    assert recall.lookup("t", "q").answer == "judged"
    assert index(trust_teacher=False).lookup("t", "q") is None


def test_recall_is_per_tenant_and_per_allowed_model():
    recall = index()
    recall.add("a", "q", "x", "teacher", "teacher", None, 1.0)
    assert recall.lookup("b", "q") is None
    assert recall.lookup("a", "q", frozenset({"student-1"})) is None
    assert recall.lookup("a", "q", frozenset({"teacher"})).answer == "x"


def test_answers_expire_after_max_age_and_the_least_recent_texts_are_dropped_first():
    recall = index(max_age_hours=1.0, max_entries=2)
    recall.add("t", "old", "x", "teacher", "teacher", None, None, when=time.time() - 7200)
    assert recall.lookup("t", "old") is None
    recall.add("t", "q1", "1", "teacher", "teacher", None, None)
    recall.add("t", "q2", "2", "teacher", "teacher", None, None)
    recall.add("t", "q1", "1", "teacher", "teacher", None, None)  # q1 used again: q2 is now the oldest
    recall.add("t", "q3", "3", "teacher", "teacher", None, None)
    assert len(recall) == 2
    assert recall.lookup("t", "q2") is None and recall.lookup("t", "q1").answer == "1"
