"""The routing policy's pure decisions on controlled neighbourhoods: similarity-weighted estimates,
the served version's record, and the cheapest good-enough model (academy/routing/academy_policy.py).
The real router on a real store: tests/integration/test_routing.py."""

import pytest

from academy.config import RouterConfig
from academy.routing.academy_policy import Estimate, choose_model, estimate_quality
from academy.routing.decisions import cascade_after, ranked_models
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


def cascade(model, estimates, prices, cfg, allowed=None):
    """The router's cascade after ``model``: ranked once, then the models after it."""
    ranked = ranked_models(estimates, prices, "teacher", cfg, allowed)
    return cascade_after(model, ranked, estimates, prices, "teacher", cfg.evidence.cascade_depth)


def cascading(quality: float, coverage: float) -> Estimate:
    """A student's cascade estimate: ``quality`` on its answers sure enough (threshold 0.8), of
    which it is expected to give ``coverage`` here."""
    return Estimate(quality, 20, quality - 0.03, min(1.0, quality + 0.03), threshold=0.8, coverage=coverage)


def test_a_student_sure_of_most_queries_here_ranks_above_a_slightly_better_one_sure_of_few():
    """Both clear the floor on their confident answers, but a cascade student sure of 5% of the
    queries here sends 95% of them on to the teacher after its own call: the router asks the one
    that serves most of them first, and the other after it (seed 0's day 7: the compare specialist
    was asked first on unit conversions, sure of none of them)."""
    cfg = RouterConfig(quality_floor=0.85, price_weight=0.1)
    prices = {"teacher": 10.0, "rarely_sure": 0.1, "mostly_sure": 0.1}
    estimates = {"rarely_sure": cascading(0.95, 0.05), "mostly_sure": cascading(0.92, 0.9)}
    ranked = ranked_models(estimates, prices, "teacher", cfg)
    assert [m for m, _ in ranked] == ["mostly_sure", "rarely_sure"]
    assert ranked[0][1] == pytest.approx(0.9 * 0.92 + 0.1 * 0.9 - 0.1 * 0.01)  # the teacher: 1.0 - lambda
    assert choose_model(estimates, prices, "teacher", cfg)[0] == "mostly_sure"
    assert cascade("mostly_sure", estimates, prices, cfg) == ("rarely_sure",)
    # A model that clears the floor on all its answers (no threshold) serves all of them: no cascade after it.
    plain = {"mostly_sure": Estimate(0.95, 20, 0.9, 0.98), "rarely_sure": cascading(0.95, 0.05)}
    assert cascade("mostly_sure", plain, prices, cfg) == ()
    # Equal coverage: quality decides, as before.
    even = {"rarely_sure": cascading(0.95, 0.5), "mostly_sure": cascading(0.92, 0.5)}
    assert choose_model(even, prices, "teacher", cfg)[0] == "rarely_sure"


def test_the_cascade_holds_only_cheaper_models_that_clear_the_floor_up_to_its_depth():
    prices = {"teacher": 10.0, "a": 0.1, "b": 0.1, "c": 0.1, "weak": 0.1}
    estimates = {
        "a": cascading(0.95, 0.9),
        "b": cascading(0.94, 0.8),
        "c": cascading(0.93, 0.7),
        "weak": cascading(0.7, 1.0),  # below the floor: never asked
        "teacher": Estimate(0.97, 50, 0.95, 0.99),
    }
    deep = RouterConfig(quality_floor=0.85, evidence={"cascade_depth": 3})
    assert cascade("a", estimates, prices, deep) == ("b", "c")
    shallow = RouterConfig(quality_floor=0.85, evidence={"cascade_depth": 1})
    assert cascade("a", estimates, prices, shallow) == ()
    assert cascade("teacher", estimates, prices, deep) == ()
    assert cascade("a", estimates, prices, deep, allowed={"a", "c", "teacher"}) == ("c",)


def test_without_confidences_the_choice_is_the_plain_quality_price_trade_off():
    """Models that report no confidence (the replay's recorded outcomes, remote backends) have no
    cascade: coverage 1, so the ranking is argmax(quality - lambda x price / teacher price) over
    the models above the floor, as before coverage existed, and nothing is asked after the choice."""
    import random

    rng = random.Random(5)
    cfg = RouterConfig(quality_floor=0.6, price_weight=0.2)
    prices = {"teacher": 10.0, "a": 0.1, "b": 1.0, "c": 4.0}
    for _ in range(200):
        estimates = {}
        for model in prices:
            quality = rng.uniform(0.4, 1.0)
            estimates[model] = Estimate(quality, rng.uniform(0.5, 30), quality - rng.uniform(0, 0.2), 1.0)
        eligible = {
            m: e.quality - 0.2 * prices[m] / 10.0
            for m, e in estimates.items()
            if e.evidence >= cfg.min_evidence and e.bound >= 0.6
        }
        expected = max(eligible, key=lambda m: (eligible[m], -prices[m])) if eligible else "teacher"
        model = choose_model(estimates, prices, "teacher", cfg)[0]
        assert model == expected
        assert cascade(model, estimates, prices, cfg) == ()
