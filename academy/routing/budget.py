"""The quality budget: the router spends the quality its target leaves, instead of a fixed floor.

Why: a fixed floor on a cheaper model's lower bound (``router.quality_floor``) guarantees each
served answer on its own and leaves every point of quality above the target unspent. The demo
served at 99.4%-101.9% of always-teacher quality against a target of 97%, while students right on
90%-98% of a region waited for enough judged answers to clear 0.85 with confidence
(docs/design-notes.md "The quality budget").

The quality target is an average over traffic, so it is accounted as one: a token bucket of
*expected* quality, relative to the teacher.

* Every served query deposits ``(1 - target) x Q_T``, where ``Q_T`` is the teacher's mean judged
  score (its quality, as the judge sees it): what the target allows a query to lose.
* A query served by a cheaper model spends its expected loss ``max(0, Q_T - q)``, where ``q`` is
  that model's posterior mean near the query (the router's own estimate; the cascade's estimate
  of its confident answers where it cascades). A teacher-served or deferred query spends nothing.
* While the bucket holds tokens, the floor a cheaper model's lower bound must clear is
  ``min_floor``; when it is empty, ``router.quality_floor`` as without a budget. A query may
  overdraw it once; the next ones then pay it back at the base floor.
* The bucket holds at most ``window`` queries' deposits, so a quiet stretch of teacher service
  does not license a later burst of poor answers.

What it guarantees: summed over every query served since the bucket was created, the expected
loss exceeds ``(1 - target) x Q_T`` per query by at most one query's overdraft. It is an
expectation under the router's estimates, not a bound on realised quality: a model whose estimate
is too high spends too little (the estimates shrink towards their prior, and judged monitoring
corrects them). The base floor and the price weight still apply.

The bucket is per router process; the runtime saves it in ``home`` on shutdown and loads it on
start (:meth:`QualityBudget.save`, :meth:`QualityBudget.load`), so a restart neither forgets a
deficit nor starts with a burst.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from academy.config import QualityBudgetConfig

log = logging.getLogger(__name__)


@dataclass
class QualityBudget:
    """A token bucket of expected quality loss (module docstring)."""

    config: QualityBudgetConfig
    base_floor: float  # router.quality_floor: the floor when the bucket is empty
    tokens: float = 0.0
    served: int = 0  # queries settled since creation (deposits)
    spent: float = 0.0  # expected loss spent since creation

    def floor(self) -> float:
        """The lower bound a cheaper model must clear now."""
        if self.config.enabled and self.tokens > 0:
            return min(self.config.min_floor, self.base_floor)
        return self.base_floor

    def settle(self, teacher_quality: float | None, served_quality: float | None) -> float:
        """One served query: deposit its allowance, spend the served answer's expected loss
        (``served_quality`` None: the teacher served, or a model at least as good). An unknown
        ``teacher_quality`` (None: nothing judged yet) counts as 1.0, so a cheaper answer spends the
        most it could lose. Returns the loss spent."""
        teacher_quality = 1.0 if teacher_quality is None else min(max(teacher_quality, 0.0), 1.0)
        allowance = (1.0 - self.config.target) * teacher_quality
        loss = 0.0 if served_quality is None else max(0.0, teacher_quality - served_quality)
        self.tokens = min(self.tokens + allowance, self.config.window * allowance) - loss
        self.served += 1
        self.spent += loss
        return loss

    def save(self, path: Path) -> None:
        """Write the bucket atomically (a crash mid-write keeps the previous state)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tokens": self.tokens, "served": self.served, "spent": self.spent}))
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        """Restore a saved bucket; a missing or unreadable file starts empty (the base floor)."""
        if not path.exists():
            return
        try:
            state = json.loads(path.read_text())
            self.tokens = float(state["tokens"])
            self.served = int(state["served"])
            self.spent = float(state["spent"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable quality budget %s: starting empty", path)
