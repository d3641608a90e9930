"""The Beta posterior of a model's success rate near a query, and the pure decisions built on it.

Split from the evidence index (academy/routing/evidence.py, which finds the judged rows near a
query): given those rows' similarities, scores, versions and confidences, these functions weigh
them (:func:`evidence_weights`), form the posterior (:func:`posterior`), choose a cascade's
confidence threshold (:func:`deferral_choice`, :func:`calibration`, :func:`confident_posterior`,
:func:`coverage`) and decide where exploration pays (:func:`known_short`,
:func:`explore_probability`). No state, no I/O: the router, the replay and the benchmarks call the
same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import betaincinv

from academy.config import EvidenceConfig


@dataclass(frozen=True)
class Posterior:
    """A model's success rate near a query: posterior mean, its (1 - confidence) and confidence
    quantiles, and the weight of evidence behind it (pseudo-counts of the prior excluded)."""

    quality: float
    evidence: float
    lower: float
    upper: float
    # the evidence-weighted mean score without the prior (None: no evidence). The posterior mean
    # shrinks a small record towards the prior: a student right on all of 20 weighted answers reads
    # 0.91; the quality budget spends on this instead (academy/routing/budget.py).
    observed: float | None = None

    @property
    def expected(self) -> float:
        """The expected score the quality budget spends on: the judged mean where there is
        evidence, else the posterior mean."""
        return self.quality if self.observed is None else self.observed

    @property
    def spread(self) -> float:
        return self.upper - self.lower


def posterior(
    similarities: np.ndarray,
    scores: np.ndarray,
    same_version: np.ndarray,
    config: EvidenceConfig,
    prior: float | None = None,
    prior_weight: float = 0.0,
) -> Posterior:
    """The Beta posterior of one model's success rate from its judged rows near a query (pure).

    Rows come newest first; ``prior``: the learned router's predicted score (None: no learned
    model), worth ``prior_weight`` rows.
    """
    weights = evidence_weights(similarities, same_version, config)
    successes = float(np.dot(weights, np.clip(scores, 0.0, 1.0)))
    total = float(weights.sum())
    if prior is not None and prior_weight > 0:
        a0 = 0.5 + prior_weight * float(np.clip(prior, 0.0, 1.0))
        b0 = 0.5 + prior_weight * (1.0 - float(np.clip(prior, 0.0, 1.0)))
    else:
        a0 = b0 = config.prior_strength / 2
    a, b = a0 + successes, b0 + (total - successes)
    q = 1.0 - config.confidence
    lower, upper = betaincinv(
        a, b, np.array([q, 1.0 - q])
    )  # the Beta quantiles (scipy.stats' ppf, minus its overhead)
    observed = successes / total if total > 0 else None
    return Posterior(a / (a + b), total, float(lower), float(upper), observed)


def evidence_weights(
    similarities: np.ndarray, same_version: np.ndarray, config: EvidenceConfig
) -> np.ndarray:
    """kernel(similarity) x 2^(-newer / half_life) x (1 or other_version_weight), per row (newest
    first), where ``newer`` is the kernel weight of the rows newer than it: a row ages only as
    relevant evidence arrives after it, not as far-away traffic does."""
    sims = np.asarray(similarities, dtype=np.float64)
    kernel = np.clip((sims - config.min_similarity) / (1.0 - config.min_similarity), 0.0, 1.0)
    recency = np.power(0.5, (np.cumsum(kernel) - kernel) / config.half_life)
    version = np.where(np.asarray(same_version, dtype=bool), 1.0, config.other_version_weight)
    return kernel * recency * version


def samples_to_lose(config: EvidenceConfig, floor: float, prior_rows: int = 1000) -> int:
    """How many consecutive wrong judged answers, right next to the query, take a model that was
    right on ``prior_rows`` judged answers there below ``floor`` (lower bound): the stated bound
    on how fast a student that turns wrong loses its traffic."""
    for wrong in range(1, prior_rows + 1):
        n = min(prior_rows + wrong, config.k)
        scores = np.array([0.0] * min(wrong, n) + [1.0] * (n - min(wrong, n)))
        post = posterior(np.ones(n), scores, np.ones(n, bool), config)
        if post.lower < floor:
            return wrong
    return prior_rows


def deferral_choice(
    candidates: Sequence[tuple[float, Posterior, float]], floor: float, min_evidence: float
) -> tuple[float, Posterior, float]:
    """Which confidence threshold a cascade uses here (pure): ``candidates`` are (threshold,
    posterior of the model's answers whose confidence cleared it, the judged answers its prior is
    worth), threshold 0 (every answer) first.

    Only thresholds resting on at least ``min_evidence`` judged answers, near here or in the prior,
    count (threshold 0 always does). The smallest whose posterior's lower bound clears ``floor``
    wins: it defers the fewest answers. Else the most promising one, the highest lower bound:
    exploration then looks where serving could become possible.
    """
    ordered = sorted(candidates, key=lambda c: c[0])
    usable = [c for c in ordered if c[0] <= 0 or c[1].evidence + c[2] >= min_evidence]
    for candidate in usable:
        if candidate[1].lower >= floor:
            return candidate
    return max(usable, key=lambda c: (c[1].lower, -c[0]))


def coverage(weights: np.ndarray, confidence: np.ndarray, threshold: float) -> float:
    """The share of a model's answers near a query that a cascade at ``threshold`` would serve
    (pure): the evidence-weighted share of its rows whose confidence cleared it, smoothed by one
    of each (0.5 with nothing to go on); 1 at threshold 0. Rows without a confidence say nothing.

    Why the router needs it: two students can both clear the floor on their confident answers,
    yet one is sure of most queries here and the other of almost none (a specialist outside its
    region: seed 0's day 7 asked the compare specialist first on unit conversions, where it was
    sure of almost none and every answer went on to the teacher). The lower bound alone cannot
    tell them apart."""
    if threshold <= 0:
        return 1.0
    given = ~np.isnan(confidence)
    w = np.asarray(weights, dtype=np.float64)[given]
    hits = float(np.dot(w, confidence[given] >= threshold))
    return (hits + 1.0) / (float(w.sum()) + 2.0)


class Cascade(NamedTuple):
    """A model's cascade estimate near a query (:meth:`EvidenceIndex.estimate_deferral`): the
    confidence ``threshold`` its answers must clear (0: every answer is served), the ``posterior``
    of the answers that clear it, the judged answers its prior is worth, and the ``coverage``: the
    share of its answers here expected to clear the threshold (:func:`coverage`)."""

    threshold: float
    posterior: Posterior
    prior_weight: float
    coverage: float = 1.0


def calibration(
    scores: np.ndarray, confidence: np.ndarray, weights: np.ndarray, thresholds: Sequence[float]
) -> dict[float, float | None]:
    """Per threshold, the success rate of the answers whose confidence cleared it (weighted, smoothed
    by one success and one failure); None where none did. Given the model's ``k`` nearest judged
    answers, whatever their similarity, it is the prior of the neighbourhood's cascade estimate: a
    student's confidence means much the same across its region (AUC 0.95 over five domains,
    docs/design-notes.md), so a neighbourhood with few judged confident answers of its own leans
    on the region's, and one where confident answers are wrong pulls its own estimate down. The
    ``k`` nearest and not all of a model's answers: a specialist is sure and wrong outside its
    region, which says nothing about its region."""
    out: dict[float, float | None] = {}
    for threshold in thresholds:
        kept = confidence >= threshold  # NaN (not given) never clears a threshold
        total = float(weights[kept].sum())
        out[threshold] = (float(np.dot(weights[kept], scores[kept])) + 1.0) / (total + 2.0) if total else None
    return out


def confident_posterior(
    similarities: np.ndarray,
    scores: np.ndarray,
    same_version: np.ndarray,
    confident: float,
    rate: float | None,
    config: EvidenceConfig,
    floor: float,
) -> tuple[Posterior, float]:
    """The posterior of a model's confident answers near a query, and what its calibration prior
    (``rate``, from ``confident`` judged answers of its region) was worth (pure).

    The prior is worth ``calibration_weight`` answers, or ``calibration_transfer`` x the confident
    answers it rests on (less the weight those near the query carry already: none counts twice),
    where that is more. Why: a young specialist's confident answers are right all over its region
    (seed 1's capitals specialist, 0.96 precise at confidence >= 0.7 on every country it was taught),
    but each new country is far from the others in MiniLM, so a fixed prior of 8 answers held its
    lower bound at 0.73-0.76 against the floor however many it got right. The strong prior is
    only lent where the neighbourhood's own record does not prove the model short
    (:func:`known_short` under the fixed prior): a place where confident answers turn out wrong
    loses its traffic as fast as before, whatever the region says."""
    fixed = config.calibration_weight if rate is not None else 0.0
    local = posterior(similarities, scores, same_version, config, rate, fixed)
    if rate is None or config.calibration_transfer <= 0 or known_short(local, floor):
        return local, fixed
    strong = config.calibration_transfer * max(0.0, confident - local.evidence)  # near weight, counted once
    if strong <= fixed:
        return local, fixed
    return posterior(similarities, scores, same_version, config, rate, strong), strong


def known_short(post: Posterior, floor: float) -> bool:
    """The model is confidently below the floor here: its upper bound is, on at least one judged
    answer's worth of evidence (a prior alone proves nothing)."""
    return post.upper < floor and post.evidence >= 1.0


def agreement_chance(post: Posterior, floor: float, config: EvidenceConfig) -> float:
    """Chance of asking a cheaper model beside a teacher's answer, where agreement scores it for
    free: none where it already serves (lower bound at the floor), ``rediscover_rate`` where it is
    :func:`known_short` (it may have improved), else every time."""
    if post.lower >= floor:
        return 0.0
    return config.rediscover_rate if known_short(post, floor) else 1.0


def explore_probability(post: Posterior, floor: float, saving: float, config: EvidenceConfig) -> float:
    """Chance of paying a judge call to learn more about a cheaper model here: zero when the
    posterior is clearly on one side of the floor (serving it already, or :func:`known_short`),
    else ``explore_gain x spread x saving`` capped at ``max_explore``."""
    if post.lower >= floor or known_short(post, floor) or saving <= 0:
        return 0.0
    return min(config.max_explore, config.explore_gain * post.spread * saving)
