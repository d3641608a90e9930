"""The quality budget (academy/routing/budget.py) as a pure object: what a query deposits and
spends, when the floor drops, the cap, the guarantee over long random streams, and its file.
The router spending it: tests/integration/test_evidence_routing.py."""

from __future__ import annotations

import random

import pytest

from academy.config import QualityBudgetConfig
from academy.routing.budget import QualityBudget

BASE = 0.85


def budget(**config) -> QualityBudget:
    return QualityBudget(QualityBudgetConfig(**{"enabled": True, **config}), BASE)


def test_an_empty_budget_keeps_the_base_floor_and_a_teacher_answer_fills_it():
    b = budget(target=0.97, min_floor=0.7)
    assert b.floor() == BASE
    assert b.settle(0.98, None) == 0.0  # the teacher served: no loss
    assert b.tokens == pytest.approx(0.03 * 0.98)
    assert b.floor() == 0.7
    unknown = budget(target=0.97)
    assert unknown.settle(None, 0.9) == pytest.approx(0.1)  # no teacher judged yet: counted as 1.0


def test_a_cheaper_answer_spends_its_expected_loss_and_may_overdraw_once():
    b = budget(target=0.97)
    b.settle(1.0, None)
    assert b.settle(1.0, 0.9) == pytest.approx(0.1)
    assert b.tokens == pytest.approx(2 * 0.03 - 0.1)  # every served query deposits, this one too
    assert b.floor() == BASE  # overdrawn: back to the base floor until deposits repay it
    assert b.settle(1.0, 1.0) == 0.0  # a cheaper model as good as the teacher loses nothing
    assert b.floor() == BASE
    for _ in range(2):
        b.settle(1.0, None)
    assert b.tokens == pytest.approx(5 * 0.03 - 0.1) and b.floor() < BASE


def test_the_bucket_holds_at_most_window_queries_of_allowance():
    b = budget(target=0.9, window=10)
    for _ in range(1_000):
        b.settle(1.0, None)
    assert b.tokens == pytest.approx(10 * 0.1)


def test_a_disabled_budget_never_lowers_the_floor():
    b = QualityBudget(QualityBudgetConfig(enabled=False), BASE)
    for _ in range(10):
        b.settle(1.0, None)
    assert b.tokens > 0 and b.floor() == BASE


def test_the_min_floor_never_raises_a_lower_base_floor():
    b = QualityBudget(QualityBudgetConfig(enabled=True, min_floor=0.7), 0.5)
    b.settle(1.0, None)
    assert b.floor() == 0.5


def test_over_long_random_streams_the_expected_loss_stays_within_the_target():
    """A router that serves a cheaper model whenever the budget lets it (the greediest spender):
    over 20,000 queries of 50 random streams the expected quality stays at or above the target,
    short of it by at most one query's overdraft."""
    target = 0.97
    for seed in range(50):
        rng = random.Random(seed)
        b = budget(target=target, window=250)
        teacher, total_loss = 0.97, 0.0
        n = 400
        for _ in range(n):
            cheap = rng.uniform(0.5, 1.0)  # the cheaper model's expected score here
            served = cheap if b.floor() < BASE or cheap >= 0.97 else None
            total_loss += b.settle(teacher, served)
        assert total_loss <= n * (1 - target) * teacher + 0.5  # 0.5: the largest one-query loss
        assert b.spent == pytest.approx(total_loss)
        assert total_loss > n * (1 - target) * teacher * 0.5  # it does spend what the target leaves


def test_the_budget_survives_a_restart_and_a_corrupt_file_starts_empty(tmp_path):
    path = tmp_path / "router" / "quality_budget.json"
    b = budget()
    b.settle(1.0, None)
    b.settle(1.0, 0.99)
    b.save(path)
    restored = budget()
    restored.load(path)
    assert (restored.tokens, restored.served, restored.spent) == (b.tokens, 2, b.spent)

    path.write_text("{not json")
    fresh = budget()
    fresh.load(path)
    assert fresh.tokens == 0.0 and fresh.floor() == BASE
    missing = budget()
    missing.load(tmp_path / "absent.json")
    assert missing.served == 0
