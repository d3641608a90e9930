"""The promotion gate's error rates, measured on simulated candidates.

Each simulated night draws an incumbent with accuracy ``p`` and a candidate with ``p + delta``
on the same ``n`` queries. The two models' correctness on a query is correlated (a Gaussian
copula: a shared per-query difficulty with weight ``rho``), as a retrained student's answers are
with its predecessor's. The gate's rules (``promotes``, ``regresses``) run on each draw exactly as
``quality_gate`` applies them, and the observed rates are compared with the stated error rates and
with the power the design allows (computed exactly for the sign test, by the normal approximation
for the regression bound).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from academy.config import GateConfig
from academy.evolution.evaluation import EvalResult
from academy.evolution.promotion import (
    group_regressions,
    paired_test,
    promotes,
    quality_gate,
    regresses,
)

ALPHA, MARGIN, MAX_REGRESSION = 0.05, 0.0, 0.05
DRAWS = 2000  # simulated candidates per scenario
RHO = 0.5  # correlation of the two models' latent correctness on a query
SLACK = 3 * (ALPHA * (1 - ALPHA) / DRAWS) ** 0.5  # 3 binomial standard errors of a rate near alpha


def draw(
    rng: np.random.Generator, n: int, p: float, delta: float, rho: float = RHO
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate, incumbent) exact match, each (DRAWS, n): accuracies p + delta and p, same queries."""
    shared = rng.standard_normal((DRAWS, n, 1))
    latent = np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal((DRAWS, n, 2))
    cut_candidate, cut_incumbent = stats.norm.ppf([p + delta, p])
    return latent[..., 0] < cut_candidate, latent[..., 1] < cut_incumbent


def cell_probabilities(p: float, delta: float, rho: float = RHO) -> tuple[float, float]:
    """(P(candidate right, incumbent wrong), P(candidate wrong, incumbent right)) of ``draw``."""
    cuts = stats.norm.ppf([p + delta, p])
    both = float(stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf(cuts))
    return p + delta - both, p - both


def sign_test_power(n: int, p: float, delta: float, alpha: float = ALPHA) -> float:
    """Exact probability that the one-sided sign test rejects: the number of discordant pairs is
    Binomial(n, p10 + p01), and given it, b is Binomial(discordant, p10 / (p10 + p01))."""
    p10, p01 = cell_probabilities(p, delta)
    power = 0.0
    for discordant in range(1, n + 1):
        ks = np.arange(discordant + 1)
        rejects = stats.binom.sf(ks - 1, discordant, 0.5) < alpha
        if rejects.any():
            k = int(ks[rejects][0])
            power += stats.binom.pmf(discordant, n, p10 + p01) * stats.binom.sf(
                k - 1, discordant, p10 / (p10 + p01)
            )
    return float(power)


def promotion_rate(candidate: np.ndarray, incumbent: np.ndarray) -> float:
    return float(
        np.mean([promotes(paired_test(c, i, ALPHA), ALPHA, MARGIN) for c, i in zip(candidate, incumbent)])
    )


def refusal_rate(candidate: np.ndarray, incumbent: np.ndarray) -> float:
    return float(
        np.mean([regresses(paired_test(c, i, ALPHA), MAX_REGRESSION) for c, i in zip(candidate, incumbent)])
    )


@pytest.mark.parametrize("n", [90, 300])
def test_a_candidate_with_no_gain_is_promoted_at_most_alpha(n):
    rng = np.random.default_rng(n)
    rate = promotion_rate(*draw(rng, n, p=0.7, delta=0.0))
    size = sign_test_power(n, p=0.7, delta=0.0)  # the exact test's size under this design
    print(f"false promotion rate n={n}: {rate:.4f} (exact sign test size {size:.4f}, alpha {ALPHA})")
    assert size <= ALPHA
    assert rate <= ALPHA + SLACK


def test_a_real_gain_is_promoted_with_the_power_the_design_allows():
    rng = np.random.default_rng(1)
    rate = promotion_rate(*draw(rng, 300, p=0.6, delta=0.10))
    power = sign_test_power(300, p=0.6, delta=0.10)
    small = promotion_rate(*draw(rng, 90, p=0.6, delta=0.10))
    print(
        f"power +0.10 on 300 paired: {rate:.4f} (exact sign test power {power:.4f}); on 90 paired: {small:.4f}"
    )
    assert rate >= 0.8
    # the gate is the sign test plus the interval's lower bound >= margin: never more power, hardly less
    assert power - 0.05 <= rate <= power + 3 * (power * (1 - power) / DRAWS) ** 0.5


def test_a_real_forgetting_is_refused_and_noise_in_a_small_group_is_not():
    rng = np.random.default_rng(2)
    # forgetting: the candidate loses 0.15 of the group's 100 queries, answers the incumbent knew
    incumbent = rng.random((DRAWS, 100)) < 0.8
    forgot = incumbent & (rng.random((DRAWS, 100)) >= 0.15 / 0.8)
    forgetting = refusal_rate(forgot, incumbent)
    # the same mean drop with churn both ways (correlation RHO): power as the normal approximation says
    churned = refusal_rate(*draw(rng, 100, p=0.8, delta=-0.15))
    p10, p01 = cell_probabilities(0.8, -0.15)
    sd = ((p10 + p01 - 0.15**2) / 100) ** 0.5
    approximate = float(stats.norm.cdf((0.15 - MAX_REGRESSION) / sd - stats.norm.ppf(1 - ALPHA)))
    tiny = refusal_rate(*draw(rng, 8, p=0.8, delta=0.0))  # a group of 8: noise
    boundary = refusal_rate(*draw(rng, 100, p=0.8, delta=-MAX_REGRESSION))  # a drop of exactly epsilon
    print(
        f"refusal rate: forgetting -0.15 on 100: {forgetting:.4f}; churn -0.15 on 100: {churned:.4f}"
        f" (normal approximation {approximate:.4f}); noise on 8: {tiny:.4f};"
        f" drop of max_regression on 100: {boundary:.4f}"
    )
    assert forgetting >= 0.85
    assert abs(churned - approximate) <= 0.08
    assert tiny <= ALPHA + SLACK
    assert boundary <= ALPHA + SLACK


def test_group_regressions_works_over_any_grouping():
    incumbent = {f"q{i}": 1.0 for i in range(120)}
    candidate = {f"q{i}": (0.0 if i < 30 else 1.0) for i in range(120)}  # cluster 0 forgot 30 of 60
    clusters = {f"q{i}": i // 60 for i in range(120)} | {"q-unscored": 0}
    checks = {c.group: c for c in group_regressions(candidate, incumbent, clusters, ALPHA, MAX_REGRESSION)}
    assert set(checks) == {"0", "1"} and checks["0"].n == 60 and checks["0"].c == 30
    assert checks["0"].regressed and not checks["1"].regressed


def _scored(scores: dict[str, float]) -> EvalResult:
    gap = sum(scores.values()) / len(scores) if scores else None
    return EvalResult("s", None, gap, {}, {}, len(scores), scores=scores)


def test_the_decision_reports_its_evidence_as_json():
    incumbent = {f"g{i}": float(i < 60) for i in range(120)} | {f"r{i}": 1.0 for i in range(40)}
    candidate = {f"g{i}": float(i < 80) for i in range(120)} | {f"r{i}": 1.0 for i in range(40)}
    groups = {f"r{i}": "units" for i in range(40)}
    decision = quality_gate(_scored(candidate), _scored(incumbent), None, GateConfig(), groups=groups)
    assert decision.passed and (decision.n, decision.b, decision.c) == (120, 20, 0)
    assert (
        decision.difference == pytest.approx(20 / 120) and decision.low < decision.difference < decision.high
    )
    assert decision.p_value == pytest.approx(0.5**20) and decision.alpha == ALPHA
    assert (
        "gap +0.167 [" in decision.summary
        and "on 120 paired" in decision.summary
        and "< 0.05" in decision.summary
    )
    evidence = json.loads(json.dumps(decision.evidence()))
    assert evidence["groups"][0]["group"] == "units" and not evidence["groups"][0]["regressed"]
    assert set(decision.metrics()) >= {"gate.p_value", "gate.low", "gate.n", "gate.regressed_groups"}

    spending = GateConfig(alpha_spending="bonferroni_nights", alpha_nights=10)
    strict = quality_gate(_scored(candidate), _scored(incumbent), None, spending, groups=groups)
    assert strict.alpha == pytest.approx(0.005) and strict.passed  # p = 1e-6 clears 0.005 too


def test_no_incumbent_needs_a_confident_min_spawn_score():
    config = GateConfig(min_spawn_score=0.5)
    sure = quality_gate(_scored({f"g{i}": float(i < 45) for i in range(60)}), None, None, config)
    assert sure.passed and sure.tested == "accuracy" and sure.low >= 0.5
    thin = quality_gate(_scored({f"g{i}": float(i < 6) for i in range(10)}), None, None, config)  # 0.6 of 10
    assert not thin.passed and "spawned" in thin.summary and thin.low < 0.5
    empty = quality_gate(_scored({}), None, None, config)
    assert not empty.passed and empty.n == 0


def test_paired_test_edge_cases():
    none = paired_test(np.array([], dtype=bool), np.array([], dtype=bool), ALPHA)
    assert none.n == 0 and not promotes(none, ALPHA, MARGIN) and not regresses(none, MAX_REGRESSION)
    same = paired_test(np.ones(50, dtype=bool), np.ones(50, dtype=bool), ALPHA)
    assert (same.b, same.c, same.p_value, same.difference) == (0, 0, 1.0, 0.0) and same.low < 0 < same.high
    with pytest.raises(ValueError):
        paired_test(np.ones(3), np.ones(4), ALPHA)


def test_a_spawned_student_that_knows_which_part_of_its_gap_it_knows_passes_selectively():
    """Right on 30% of its gap and sure exactly there: raw accuracy fails min_spawn_score, its
    confident answers pass min_selective_score. Sure and wrong fails both."""
    config = GateConfig(min_spawn_score=0.5, min_selective_score=0.85)
    thresholds = [0.5, 0.7, 0.9]
    knows = _scored({f"g{i}": float(i < 30) for i in range(100)})
    knows.confidences = {f"g{i}": 0.95 if i < 30 else 0.3 for i in range(100)}
    decision = quality_gate(knows, None, None, config, thresholds=thresholds)
    assert decision.passed and decision.tested == "selective accuracy" and decision.n == 30
    # the three thresholds keep the same 30 answers: one test, at alpha itself
    assert decision.alpha == pytest.approx(0.05) and decision.low >= 0.85
    assert not quality_gate(knows, None, None, config).passed  # no cascade: raw accuracy only
    bluffs = _scored({f"g{i}": float(i < 30) for i in range(100)})
    bluffs.confidences = {f"g{i}": 0.95 for i in range(100)}
    refused = quality_gate(bluffs, None, None, config, thresholds=thresholds)
    assert not refused.passed and "selective" in refused.summary


def test_the_selective_check_divides_alpha_among_the_distinct_sets_its_thresholds_keep():
    """Seed 1's night-6 capitals specialist: sure of 17 of its 27 held-out answers at 0.5 (13 right)
    and of the same 16 of them at every threshold from 0.6 to 0.9 (13 right). Two distinct sets:
    alpha / 2, and its 13 of 17 clear 0.5 (at alpha / 5 the gate refused it: 0.457 and 0.497). A
    threshold that keeps nothing is no test."""
    config = GateConfig(min_spawn_score=0.99, min_selective_score=0.5)
    thresholds = [0.5, 0.6, 0.7, 0.8, 0.9]
    scores = {f"g{i}": float(i < 13) for i in range(27)}
    capitals = _scored(scores)
    confidences = {f"g{i}": 0.95 for i in range(13)} | {f"g{i}": 0.95 for i in range(13, 16)}
    capitals.confidences = confidences | {"g16": 0.55}
    decision = quality_gate(capitals, None, None, config, thresholds=thresholds)
    assert decision.passed and decision.alpha == pytest.approx(0.05 / 2) and decision.n == 17
    assert decision.low > 0.5
    lone = _scored({"g0": 1.0, "g1": 0.0})
    lone.confidences = {"g0": 0.65, "g1": 0.2}  # one answer kept by 0.5 and 0.6, none above
    assert quality_gate(lone, None, None, config, thresholds=thresholds).alpha == pytest.approx(0.05)


def test_the_selective_check_on_one_distinct_set_promotes_a_student_at_the_bar_at_most_alpha():
    """1,000 simulated spawns sure of all 40 held-out answers (every threshold keeps the same set:
    the whole alpha goes to one test), right exactly at min_selective_score: promoted at most alpha."""
    rng = np.random.default_rng(11)
    config = GateConfig(min_spawn_score=0.99, min_selective_score=0.9)
    promoted = 0
    for _ in range(1000):
        right = rng.random(40) < 0.9
        candidate = _scored({f"g{i}": float(r) for i, r in enumerate(right)})
        candidate.confidences = {f"g{i}": 0.97 for i in range(40)}
        promoted += quality_gate(candidate, None, None, config, thresholds=[0.5, 0.7, 0.9]).passed
    assert promoted / 1000 <= ALPHA + SLACK


def test_the_selective_check_promotes_a_student_at_the_bar_at_most_alpha():
    """1,000 simulated spawns whose confident answers are right exactly at min_selective_score
    (0.9), 40 confident held-out answers each, five thresholds tested: promoted at most alpha."""
    rng = np.random.default_rng(7)
    config = GateConfig(min_spawn_score=0.99, min_selective_score=0.9)
    thresholds = [0.5, 0.6, 0.7, 0.8, 0.9]
    promoted = 0
    for _ in range(1000):
        right = rng.random(40) < 0.9
        candidate = _scored({f"g{i}": float(r) for i, r in enumerate(right)})
        candidate.confidences = {f"g{i}": float(c) for i, c in enumerate(rng.uniform(0.5, 1.0, 40))}
        promoted += quality_gate(candidate, None, None, config, thresholds=thresholds).passed
    assert promoted / 1000 <= ALPHA + SLACK
