"""The night's steps follow region savings, discounted by refusals (academy/evolution/step_budget.py)."""

from __future__ import annotations

import pytest

from academy.evolution.step_budget import refusal_streak, share_steps


def test_the_refusal_streak_counts_the_newest_refused_versions_only():
    assert refusal_streak([]) == 0
    assert refusal_streak(["production"]) == 0
    assert refusal_streak(["rejected", "rejected"]) == 2
    assert refusal_streak(["rejected", "production", "rejected"]) == 1
    assert refusal_streak(["rejected", "archived", "production"]) == 0
    assert refusal_streak(["production", "rejected", "rejected", "rejected"]) == 3


def test_a_refusal_whose_held_out_score_rose_is_not_counted():
    # trace seed 0's student-6: refused four nights running while it learned
    assert refusal_streak(["rejected"] * 4, [0.18, 0.21, 0.28, 0.31]) == 1  # the first has no predecessor
    # the default demo's sorting specialist: flat scores, every refusal counts
    assert refusal_streak(["rejected"] * 4, [0.36, 0.30, 0.41, 0.33]) == 3
    assert refusal_streak(["production", "rejected", "rejected"], [0.6, 0.7, 0.5]) == 1
    assert refusal_streak(["rejected", "rejected"], [None, 0.4]) == 2  # no score: counted
    with pytest.raises(ValueError, match="2 scores for 3 versions"):
        refusal_streak(["rejected"] * 3, [0.1, 0.2])


def test_the_night_keeps_its_total_and_the_money_gets_the_steps():
    # seed 0, night 6 of an earlier run: capitals (refused once), sorting (refused five times), units (new)
    weights = {"capitals": 0.0113 * 0.5, "sorting": 0.0079 * 0.5**5, "units": 0.0073}
    shares = share_steps(weights, 100, floor=0.25, cap=3.0)
    assert sum(shares.values()) == 300
    assert shares["sorting"] == 25  # the floor: a slow learner is still tried
    assert shares["units"] > shares["capitals"] > 100 > shares["sorting"]


def test_shares_stay_within_their_bounds_and_add_up():
    shares = share_steps({"a": 100.0, "b": 1.0, "c": 1.0, "d": 0.0}, 100, floor=0.25, cap=2.0)
    assert shares["a"] == 200
    assert all(25 <= v <= 200 for v in shares.values())
    assert sum(shares.values()) == 400
    assert abs(shares["b"] - shares["c"]) <= 1 and min(shares["b"], shares["c"]) > shares["d"] == 25


def test_equal_weights_or_no_weight_give_everyone_the_same_steps():
    assert share_steps({"a": 1.0, "b": 1.0, "c": 1.0}, 100, 0.25, 3.0) == {"a": 100, "b": 100, "c": 100}
    assert share_steps({"a": 0.0, "b": 0.0}, 80, 0.25, 3.0) == {"a": 80, "b": 80}
    assert share_steps({}, 100, 0.25, 3.0) == {}


def test_one_region_with_all_the_money_takes_the_cap_and_the_rest_share_what_is_left():
    shares = share_steps({"a": 1.0, "b": 0.0, "c": 0.0}, 100, floor=0.25, cap=2.0)
    assert shares == {"a": 200, "b": 50, "c": 50}
