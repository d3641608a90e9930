"""The evidence estimator's pieces on known numbers: the posterior, where exploration goes, and the
index's separation of tenants, models and versions (academy/routing/evidence.py). The router on a
real store: tests/integration/test_evidence_routing.py."""

from __future__ import annotations

import numpy as np
import pytest

from academy.config import EvidenceConfig
from academy.routing.evidence import EvidenceIndex, Posterior, explore_probability, posterior
from tests.factories.evidence import FLOOR, near
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
