"""The routing policy's pure decisions on controlled neighbourhoods: similarity-weighted estimates,
the served version's record, and the cheapest good-enough model (academy/routing/academy_policy.py).
The real router on a real store: tests/integration/test_routing.py."""

import pytest

from academy.config import RouterConfig
from academy.routing.academy_policy import Estimate, choose_model, estimate_quality
from academy.store import Neighbour

PRICES = {"teacher": 10.0, "student": 0.1}


def neighbour(similarity, **scores):
    return Neighbour(
        id="n",
        text="t",
        similarity=similarity,
        judged_models=list(scores),
        judged_scores=list(scores.values()),
        final_model="teacher",
        route="novel",
    )


def test_estimates_are_similarity_weighted_means():
    est = estimate_quality([neighbour(1.0, teacher=1.0, student=1.0), neighbour(0.5, student=0.0)])
    assert est["student"].quality == pytest.approx(1.0 / 1.5)
    assert est["student"].evidence == pytest.approx(1.5)
    assert est["teacher"] == Estimate(1.0, 1.0)


def test_estimates_count_only_the_served_version():
    old = Neighbour("a", "t", 1.0, ["teacher", "student@1"], [1.0, 0.0], "teacher", "novel")
    new = Neighbour("b", "t", 0.8, ["student@2"], [1.0], "student", "evaluation")
    est = estimate_quality([old, new], {"teacher": None, "student": "2"})
    assert est["student"] == Estimate(1.0, 0.8)  # version 1's failure no longer counts
    assert est["teacher"] == Estimate(1.0, 1.0)
    assert estimate_quality([old, new], {"student": "1"})["student"] == Estimate(0.0, 1.0)


def test_a_promoted_version_inherits_its_predecessors_record_at_a_discount():
    old = Neighbour("a", "t", 1.0, ["teacher", "student@1"], [1.0, 0.8], "teacher", "novel")
    new = Neighbour("b", "t", 0.5, ["student@2"], [1.0], "student", "evaluation")
    est = estimate_quality([old, new], {"student": "2"}, other_version_weight=0.5)["student"]
    assert est.evidence == pytest.approx(0.5 + 0.5)  # its own 0.5, and version 1's 1.0 at half weight
    assert est.quality == pytest.approx((0.5 * 1.0 + 0.5 * 0.8) / 1.0)
    inherited_only = estimate_quality([old], {"student": "2"}, other_version_weight=0.5)["student"]
    assert inherited_only == Estimate(pytest.approx(0.8), pytest.approx(0.5))


def test_choose_cheaper_model_when_good_enough_else_teacher():
    cfg = RouterConfig(quality_floor=0.7, price_weight=0.3, min_evidence=1.0)
    good = {"teacher": Estimate(0.98, 3), "student": Estimate(0.9, 3)}
    assert choose_model(good, PRICES, "teacher", cfg)[0] == "student"
    weak = {"teacher": Estimate(0.98, 3), "student": Estimate(0.5, 3)}
    assert choose_model(weak, PRICES, "teacher", cfg)[0] == "teacher"
    thin = {"student": Estimate(1.0, 0.4)}
    model, reason = choose_model(thin, PRICES, "teacher", cfg)
    assert model == "teacher" and "floor" in reason


def test_price_weight_trades_quality_for_price():
    est = {"teacher": Estimate(1.0, 5), "student": Estimate(0.8, 5)}
    assert (
        choose_model(est, PRICES, "teacher", RouterConfig(price_weight=0.0, quality_floor=0.5))[0]
        == "teacher"
    )
    assert (
        choose_model(est, PRICES, "teacher", RouterConfig(price_weight=0.5, quality_floor=0.5))[0]
        == "student"
    )
