"""The evidence estimator's pieces on known numbers: the posterior, where exploration goes, and the
index's separation of tenants, models and versions (academy/routing/evidence.py). The router on a
real store: tests/integration/test_evidence_routing.py."""

from __future__ import annotations

import numpy as np
import pytest

from academy.config import EvidenceConfig
from academy.routing.evidence import EvidenceIndex
from academy.routing.posteriors import Posterior, explore_probability, posterior
from tests.factories.evidence import FLOOR, near, templated
from tests.factories.vectors import unit


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
    # the overall judged mean (the quality budget's teacher quality), per tenant and model, past the first growth
    for i in range(100):
        index.add("a", "student", "1", near(base, 100 + i), 0.25)
    assert index.mean_score("a", "student") == pytest.approx((40 + 25) / 140)
    assert index.mean_score("b", "student") is None


def test_deferral_choice_takes_the_smallest_threshold_that_clears_the_floor():
    from academy.routing.posteriors import deferral_choice

    everything = (0.0, Posterior(0.75, 80, 0.70, 0.80), 0.0)
    sure = (0.6, Posterior(0.97, 50, 0.93, 0.99), 8.0)
    surer = (0.8, Posterior(0.99, 30, 0.95, 1.0), 8.0)
    assert deferral_choice([everything, sure, surer], FLOOR, 1.0) == sure
    # Nothing clears the floor: the most promising estimate backed by evidence, for exploration ...
    unsure = (0.6, Posterior(0.9, 4, 0.75, 0.99), 0.0)
    assert deferral_choice([everything, unsure], FLOOR, 1.0) == unsure
    # ... but a threshold nothing judged backs (a uniform prior alone) never stands in for the evidence,
    prior_only = (0.7, Posterior(0.5, 0.0, 0.2, 0.8), 0.0)
    bad = (0.0, Posterior(0.1, 80, 0.07, 0.13), 0.0)
    assert deferral_choice([bad, prior_only], FLOOR, 1.0) == bad
    # while the model's calibration elsewhere (a prior of judged answers) does.
    calibrated = (0.7, Posterior(0.95, 0.0, 0.9, 0.99), 8.0)
    assert deferral_choice([bad, calibrated], FLOOR, 1.0) == calibrated
    assert deferral_choice([everything], FLOOR, 1.0) == everything


def test_the_index_estimates_a_student_on_its_confident_answers():
    """A student right whenever it is sure (confidence 0.9) and wrong whenever it is not (0.3), in
    equal numbers: as a whole it is below the floor, on its confident answers well above it; rows
    that carry no confidence (the teacher's) count only for the whole."""
    index = EvidenceIndex(EvidenceConfig(defer_thresholds=[0.5, 0.8]))
    base = unit(11)
    for i in range(60):
        sure = i % 2 == 0
        index.add("t", "student", "1", near(base, i), 1.0 if sure else 0.0, confidence=0.9 if sure else 0.3)
        index.add("t", "teacher", None, near(base, 100 + i), 1.0)
    assert index.estimate("t", "student", base, "1").upper < FLOOR
    threshold, post, *_ = index.estimate_deferral("t", "student", base, "1", FLOOR)
    assert (
        threshold == 0.5
        and post.lower >= FLOOR
        and post.evidence < index.estimate("t", "student", base, "1").evidence
    )
    # about half its answers here are sure enough to serve
    assert index.estimate_deferral("t", "student", base, "1", FLOOR).coverage == pytest.approx(0.5, abs=0.05)
    teacher = index.estimate_deferral("t", "teacher", base, None, FLOOR)
    assert teacher.threshold == 0.0 and teacher.posterior.lower >= FLOOR and teacher.coverage == 1.0
    # no cascade configured: the whole record, as before
    plain = EvidenceIndex(EvidenceConfig(defer_thresholds=[]))
    for i in range(60):
        plain.add(
            "t", "student", "1", near(base, i), float(i % 2 == 0), confidence=0.9 if i % 2 == 0 else 0.3
        )
    assert plain.estimate_deferral("t", "student", base, "1", FLOOR)[0] == 0.0


def test_a_neighbourhood_leans_on_the_students_calibration_until_its_own_record_says_otherwise():
    """Confident answers right everywhere else: a neighbourhood with little judged evidence of its
    own trusts them (the calibration prior). One where confident answers turned out wrong does not."""
    from academy.routing.posteriors import calibration

    rates = calibration(
        np.array([1.0, 1.0, 0.0, 0.0]), np.array([0.9, 0.95, 0.3, np.nan]), np.ones(4), [0.5, 0.99]
    )
    assert rates == {0.5: pytest.approx(3 / 4), 0.99: None}  # (2 + 1) / (2 + 2); nothing that sure
    config = EvidenceConfig(defer_thresholds=[0.8], calibration_weight=8.0)
    index = EvidenceIndex(config)
    known, fresh, treacherous = unit(21), unit(22), unit(23)
    for i in range(200):
        index.add("t", "student", "1", near(known, i), 1.0, confidence=0.95)
    threshold, post, *_ = index.estimate_deferral("t", "student", near(fresh, 1), "1", FLOOR - 0.05)
    assert threshold == 0.8 and post.evidence < 1.0 and post.lower >= FLOOR - 0.05
    for i in range(12):
        index.add("t", "student", "1", near(treacherous, i), 0.0, confidence=0.95)
    threshold, post, *_ = index.estimate_deferral("t", "student", treacherous, "1", FLOOR - 0.05)
    assert post.lower < FLOOR - 0.05
    # Without the prior, the fresh neighbourhood has nothing to go on.
    bare = EvidenceIndex(
        EvidenceConfig(defer_thresholds=[0.8], calibration_weight=0.0, calibration_transfer=0.0)
    )
    for i in range(200):
        bare.add("t", "student", "1", near(known, i), 1.0, confidence=0.95)
    assert bare.estimate_deferral("t", "student", near(fresh, 1), "1", FLOOR - 0.05)[1].lower < FLOOR - 0.05


def test_a_region_counts_a_models_judged_answers_on_queries_of_its_kind_however_far_their_cosine():
    """Right on 150 queries of one kind, wrong on 150 of another: a new query of the first kind is
    below every row's similarity ramp, so only its region (k-means over the judged rows) finds the
    record; the second kind's record stays out of the first kind's region."""
    right_kind, wrong_kind = unit(31), unit(32)
    config = EvidenceConfig(defer_thresholds=[], region_every=100)
    regions, similarity_only = (
        EvidenceIndex(config),
        EvidenceIndex(config.model_copy(update={"region_weight": 0.0})),
    )
    for index in (regions, similarity_only):
        for i in range(150):
            index.add("t", "student", "1", templated(right_kind, i), 1.0)
            index.add("t", "student", "1", templated(wrong_kind, 500 + i), 0.0)
    query = templated(right_kind, 9_999)
    assert float(templated(right_kind, 1) @ query) < config.min_similarity  # out of every ramp
    assert similarity_only.estimate("t", "student", query, "1").lower < FLOOR
    found = regions.estimate("t", "student", query, "1")
    assert found.lower >= FLOOR and found.evidence > 20
    assert regions.estimate("t", "student", templated(wrong_kind, 9_999), "1").upper < 0.2
    # a query unlike all judged traffic has no region: nothing to go on
    assert regions.estimate("t", "student", unit(33), "1").evidence == 0


def test_a_model_that_turns_wrong_in_its_region_loses_it_within_the_stated_bound():
    """Recency ages a region's rows as newer judged rows arrive there: wrong answers on queries of
    the region take a model right on 300 judged answers of its kind below the floor within
    samples_to_lose (region rows count as exact neighbours), however far their cosine."""
    from academy.routing.posteriors import samples_to_lose

    kind = unit(41)
    config = EvidenceConfig(defer_thresholds=[], region_every=100)
    index = EvidenceIndex(config)
    for i in range(300):
        index.add("t", "student", "1", templated(kind, i), 1.0)
    query = templated(kind, 9_999)
    assert index.estimate("t", "student", query, "1").lower >= FLOOR
    there = (
        v
        for v in (templated(kind, 1_000 + i) for i in range(2_000))
        if index.region(v) == index.region(query)
    )
    wrong = 0
    while index.estimate("t", "student", query, "1").lower >= FLOOR:
        index.add("t", "student", "1", next(there), 0.0)
        wrong += 1
    assert index.region(query) >= 0 and wrong <= samples_to_lose(config, FLOOR, prior_rows=300)


def test_coverage_is_the_weighted_share_of_answers_sure_enough_and_rows_without_a_confidence_say_nothing():
    from academy.routing.posteriors import coverage

    confidence = np.array([0.9, 0.9, 0.3, np.nan, np.nan])
    weights = np.array([1.0, 1.0, 2.0, 5.0, 5.0])
    assert coverage(weights, confidence, 0.8) == pytest.approx((2 + 1) / (4 + 2))  # smoothed by one of each
    assert coverage(weights, confidence, 0.0) == 1.0  # no cascade: every answer is served
    assert coverage(np.zeros(0), np.zeros(0), 0.8) == pytest.approx(0.5)  # nothing to go on
    many = np.full(1000, 0.95)
    assert coverage(np.ones(1000), many, 0.8) > 0.99 and coverage(np.ones(1000), many * 0.5, 0.8) < 0.01


def test_a_young_specialist_right_across_its_region_clears_the_floor_where_a_fixed_prior_did_not():
    """Forty confident answers, each on a query far from the others (one fact per country), 39 right:
    the fixed calibration prior (8 answers) leaves a new query below the floor, the prior worth the
    answers it rests on clears it. Twelve confident wrong answers near a query still take it below,
    under either prior: a strong region never hides a place where the student is wrong."""
    from academy.routing.posteriors import confident_posterior

    fixed = EvidenceConfig(defer_thresholds=[0.8], calibration_transfer=0.0)
    strong = EvidenceConfig(defer_thresholds=[0.8], calibration_transfer=1.0)
    far = np.full(40, 0.3)  # below the similarity ramp: nothing near the query
    scores = np.array([1.0] * 39 + [0.0])
    rate = (39 + 1) / (40 + 2)
    weak, weak_weight = confident_posterior(far, scores, np.ones(40, bool), 40.0, rate, fixed, FLOOR - 0.05)
    sure, sure_weight = confident_posterior(far, scores, np.ones(40, bool), 40.0, rate, strong, FLOOR - 0.05)
    assert weak_weight == 8.0 and sure_weight == 40.0
    assert weak.lower < FLOOR - 0.05 <= sure.lower
    wrong_here = np.concatenate([np.ones(12), far])
    wrong_scores = np.concatenate([np.zeros(12), scores])
    post, weight = confident_posterior(
        wrong_here, wrong_scores, np.ones(52, bool), 52.0, 40 / 54, strong, FLOOR - 0.05
    )
    assert weight == 8.0 and post.lower < FLOOR - 0.05
