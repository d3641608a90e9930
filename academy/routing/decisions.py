"""The ``academy`` router's decisions, as pure functions of what it knows: no I/O, no model calls.

* :func:`estimate_quality` (and :func:`blend_learned` with the learned router's prediction): each
  model's expected judge score near a query, from the judged scores of its nearest past queries.
* :func:`choose_model`: where a familiar query goes, the best expected quality-price trade-off
  among the allowed models estimated above the quality floor with enough evidence
  (:func:`ranked_models`), else :func:`default_model` (the teacher, or the best allowed model where
  a tier forbids the teacher); :func:`cascade_after`: the models asked in turn when it is unsure.
* :func:`best_of_fanout` / :func:`unjudged_answer`: which answer of a fan-out is served.

Being pure, they are tested on controlled neighbourhoods and reused by benchmarks;
:class:`academy.routing.academy_policy.AcademyRouter` adds the I/O around them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from academy.config import RouterConfig
from academy.judges.base import AGREEMENT_JUDGE
from academy.routing.base import ModelAnswer
from academy.routing.posteriors import Cascade, Posterior
from academy.store import Neighbour, split_model_key


@dataclass(frozen=True)
class Estimate:
    """Similarity-weighted mean judge score of one model over a neighbourhood, and its evidence
    (the sum of the weights: how many judged neighbours it rests on, discounted by distance).
    ``lower`` / ``upper``: the posterior's confidence bounds where the estimator gives them
    (``router.estimator: evidence``); a model is then served only when ``lower`` clears the floor."""

    quality: float
    evidence: float
    lower: float | None = None
    upper: float | None = None
    prior: float = 0.0  # pseudo-observations of the learned prior behind the bounds (counts for min_evidence)
    # Cascade: the estimate is of the model's answers whose confidence clears this (0: all of them);
    # the router defers an answer below it to the next model of the cascade, then the teacher (academy/routing/evidence.py).
    threshold: float = 0.0
    observed: float | None = None  # the judged mean without the prior (Posterior.observed)
    coverage: float = 1.0  # share of its answers here expected to clear ``threshold`` (evidence.coverage)

    @property
    def expected(self) -> float:
        """The expected score the quality budget spends on: the judged mean where there is
        evidence, else the estimate."""
        return self.quality if self.observed is None else self.observed

    @property
    def bound(self) -> float:
        """What the floor is checked against: the lower bound when known, else the mean."""
        return self.quality if self.lower is None else self.lower


@dataclass
class Decision:
    """Where a request goes and why, before any model is called."""

    embedding: np.ndarray
    max_similarity: float | None
    estimates: dict[str, Estimate]
    route: str
    model: str | None
    reason: str
    decision_ms: float
    allowed: list[str] | None = None  # the models this request may use (None: all)
    floor: float = 0.0  # what a cheaper model's lower bound had to clear (the quality budget's floor)
    # the cascade: cheaper models asked in turn after ``model`` while each is unsure, before the teacher
    cascade: tuple[str, ...] = ()


def estimate_quality(
    neighbours: Sequence[Neighbour],
    versions: dict[str, str | None] | None = None,
    other_version_weight: float = 0.0,
) -> dict[str, Estimate]:
    """Each model's expected score here, from the judge scores of the k nearest past queries.

    With ``versions`` (model -> the registry version served now), a score earned by another
    version of a model counts ``other_version_weight`` times as much as its own: 0 = a newly
    promoted student starts from its own evidence only; the gate refuses a version that regressed
    a traffic cluster beyond ``gate.max_regression`` with confidence, so its predecessor's record is
    a fair prior until its own evidence arrives (without one, every nightly promotion sent its
    traffic back to the teacher).
    """
    versions = versions or {}
    weighted: dict[str, float] = {}
    weights: dict[str, float] = {}
    for neighbour in neighbours:
        similarity = max(float(neighbour.similarity), 0.0)
        for key, score in zip(neighbour.judged_models, neighbour.judged_scores):
            model, version = split_model_key(key)
            if score is None or np.isnan(score):
                continue
            weight = similarity * (
                other_version_weight if model in versions and versions[model] != version else 1.0
            )
            if weight <= 0:
                continue
            weighted[model] = weighted.get(model, 0.0) + weight * float(score)
            weights[model] = weights.get(model, 0.0) + weight
    return {m: Estimate(weighted[m] / weights[m], weights[m]) for m in weights if weights[m] > 0}


def blend_learned(
    estimates: dict[str, Estimate], predicted: dict[str, float], prior_weight: float
) -> dict[str, Estimate]:
    """Each model's kNN estimate shrunk towards the learned prediction, which counts as
    ``prior_weight`` judged neighbours: where the neighbourhood is well judged the kNN evidence
    dominates; where it is empty (a novel query) the learned prediction decides alone."""
    if prior_weight <= 0:
        return estimates
    blended = dict(estimates)
    for model, prediction in predicted.items():
        knn = estimates.get(model, Estimate(0.0, 0.0))
        evidence = knn.evidence + prior_weight
        quality = (knn.quality * knn.evidence + prediction * prior_weight) / evidence
        blended[model] = Estimate(quality, evidence)
    return blended


def ranked_models(
    estimates: dict[str, Estimate],
    prices: dict[str, float],
    teacher: str,
    config: RouterConfig,
    allowed: Collection[str] | None = None,
    floor: float | None = None,
) -> list[tuple[str, float]]:
    """(model, expected utility), best first, over the allowed models estimated above the floor
    (``floor``, default ``config.quality_floor``) with enough evidence.

    Utility is quality - lambda x price / teacher price. A cascade's model serves only the share
    ``coverage`` of its answers that clear its threshold; the rest go on, at worst to the teacher,
    after its own price was paid. The teacher counts as 1 - lambda there: it is the reference every
    score is measured against, and its own posterior is thin where little of it is judged. So a
    student's expected utility is coverage x its quality + (1 - coverage) x (1 - lambda), minus its
    price: one that clears the floor but is sure of little here ranks below one sure of most of it.
    A model without a cascade (coverage 1) keeps its plain utility."""
    floor = config.quality_floor if floor is None else floor
    lam, teacher_price = config.price_weight, prices[teacher] or 1.0
    permitted = set(prices) if allowed is None else set(allowed) & set(prices)
    fallback = 1.0 - lam
    utility = {}
    for model, est in estimates.items():
        if model not in permitted or est.evidence + est.prior < config.min_evidence or est.bound < floor:
            continue
        served = (
            est.quality if model == teacher else est.coverage * est.quality + (1 - est.coverage) * fallback
        )
        utility[model] = served - lam * prices[model] / teacher_price
    return sorted(utility.items(), key=lambda mu: (-mu[1], prices[mu[0]], mu[0]))


def choose_model(
    estimates: dict[str, Estimate],
    prices: dict[str, float],
    teacher: str,
    config: RouterConfig,
    allowed: Collection[str] | None = None,
    floor: float | None = None,
) -> tuple[str, str]:
    """The best expected quality-price trade-off among the models estimated above the floor
    (:func:`ranked_models`); else the default model (:func:`default_model`). Returns (model, reason)."""
    ranked = ranked_models(estimates, prices, teacher, config, allowed, floor)
    return choose_from(ranked, estimates, prices, teacher, allowed)


def choose_from(
    ranked: list[tuple[str, float]],
    estimates: dict[str, Estimate],
    prices: dict[str, float],
    teacher: str,
    allowed: Collection[str] | None = None,
) -> tuple[str, str]:
    """:func:`choose_model` on a ranking already made (the router ranks once for the choice and
    its cascade). Returns (model, reason)."""
    if not ranked:
        permitted = set(prices) if allowed is None else set(allowed) & set(prices)
        model = default_model(estimates, prices, teacher, permitted)
        if model == teacher:
            return teacher, "no model estimated above the quality floor: teacher"
        return model, "no model estimated above the quality floor, teacher not allowed: best allowed estimate"
    best, utility = ranked[0]
    return best, f"best quality-price trade-off (utility {utility:.3f})"


def cascade_after(
    model: str,
    ranked: list[tuple[str, float]],
    estimates: dict[str, Estimate],
    prices: dict[str, float],
    teacher: str,
    depth: int,
) -> tuple[str, ...]:
    """Who is asked after ``model`` (a cascade student) when its answer is unsure, before the
    teacher: the next models of ``ranked`` (:func:`ranked_models`) cheaper than the teacher, up to
    ``depth`` (``evidence.cascade_depth``) models in all. Each serves only an answer that clears its
    own threshold (none: every answer), where its record on such answers clears the floor, so a
    longer cascade serves no worse answers; each step costs a student call and its latency."""
    estimate = estimates.get(model)
    if estimate is None or estimate.threshold <= 0 or model == teacher:
        return ()
    after = [m for m, _ in ranked if m not in (model, teacher) and prices[m] < prices[teacher]]
    return tuple(after[: depth - 1])


def default_model(
    estimates: dict[str, Estimate], prices: dict[str, float], teacher: str, allowed: Collection[str]
) -> str:
    """Who answers when nothing cheaper is known to be good enough: the teacher, or where a tier
    forbids it, the allowed model with the highest estimated quality (unestimated ones last; ties go
    to the priciest, the most capable by its price)."""
    if teacher in allowed:
        return teacher
    return max(
        sorted(allowed),
        key=lambda m: (estimates[m].quality if m in estimates else -math.inf, prices.get(m, 0.0)),
    )


def posterior_of(estimate: Estimate) -> Posterior:
    """The evidence posterior behind an estimate (bounds present), for the exploration rule."""
    return Posterior(estimate.quality, estimate.evidence, estimate.lower or 0.0, estimate.upper or 1.0)


def pick_best(answers: Sequence[ModelAnswer]) -> ModelAnswer | None:
    """Highest judged score; ties go to the cheaper answer. None when nothing was judged."""
    judged = [a for a in answers if a.score is not None and not a.completion.error]
    if not judged:
        return None
    return max(judged, key=lambda a: (a.score, -(a.completion.cost or 0.0)))


def best_of_fanout(
    answers: list[ModelAnswer], estimates: dict[str, Estimate], teacher_model: str
) -> ModelAnswer | None:
    """The best judged answer; an unjudged teacher answer counts at the teacher's estimated
    quality here (1.0 without evidence), so a student wins only by matching it in the judge's
    eyes (one scored merely by agreeing with it wins nothing: the teacher's answer is the same
    and is paid for already)."""
    best = pick_best(answers)
    teacher = next(
        (a for a in answers if a.model == teacher_model and a.judgement is None and not a.completion.error),
        None,
    )
    if teacher is None:
        return best
    estimate = estimates.get(teacher_model)
    expected = estimate.quality if estimate is not None and estimate.evidence > 0 else 1.0
    beaten = best is not None and (best.score or 0.0) >= expected  # ties go to the cheaper answer
    agreed_only = best is not None and best.judgement is not None and best.judgement.judge == AGREEMENT_JUDGE
    if not beaten or agreed_only:
        return teacher
    return best


def unjudged_answer(answers: list[ModelAnswer], default: str, prices: dict[str, float]) -> ModelAnswer | None:
    """Nothing judged (the judge failed): the ``default`` model's answer, else the priciest answer."""
    ok = [a for a in answers if not a.completion.error]
    preferred = [a for a in ok if a.model == default]
    by_price = sorted(ok, key=lambda a: -prices.get(a.model, 0.0))
    return (preferred + by_price or [None])[0]


def estimate_of(cascade: Cascade) -> Estimate:
    """A model's routing estimate from its cascade estimate near the query."""
    post = cascade.posterior
    return Estimate(
        post.quality,
        post.evidence,
        post.lower,
        post.upper,
        cascade.prior_weight,
        cascade.threshold,
        post.observed,
        cascade.coverage,
    )


def unsure_reason(decision: Decision, steps: list[ModelAnswer]) -> str:
    """'student-1 was unsure (confidence 0.41 < 0.80), student-2 was unsure (...)'."""
    return ", ".join(
        f"{a.model} was unsure (confidence {a.completion.confidence or 0.0:.2f} < "
        f"{decision.estimates[a.model].threshold:.2f})"
        for a in steps
    )
