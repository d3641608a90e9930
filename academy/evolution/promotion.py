"""The quality gate and the role ladder: pure decisions, recorded by the registry.

Gate (a candidate goes candidate -> staging -> production only if all hold):

* it beats the incumbent on the held-out gap set by ``margin``;
* it loses no regression domain by more than ``max_regression`` (epsilon), or by more than
  ``regression_z`` standard errors of the difference where a domain has few examples (on 25
  queries one answer is 0.04: a 2-answer wobble is noise, not forgetting);
* optionally it reaches ``min_teacher_ratio`` of the teacher's score on the gap set.

Roles climb student -> TA -> teacher when a model's win rate holds above the role's threshold for
``nights`` consecutive nights with enough contested answers, and step down the same way when it
falls below the threshold of the role it holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from academy.config import GateConfig, RolesConfig
from academy.evolution.evaluation import EvalResult

LADDER = ("student", "ta", "teacher")


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return ("passed: " if self.passed else "refused: ") + "; ".join(self.reasons)


def quality_gate(
    candidate: EvalResult, incumbent: EvalResult | None, teacher: EvalResult | None, config: GateConfig
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``incumbent`` (None: nothing serves there yet)."""
    reasons: list[str] = []
    ok = True
    gap = candidate.gap_score or 0.0
    base = (incumbent.gap_score or 0.0) if incumbent else 0.0
    if gap < base + config.margin:
        ok = False
        reasons.append(f"gap exact match {gap:.3f} < incumbent {base:.3f} + margin {config.margin}")
    else:
        reasons.append(f"gap exact match {gap:.3f} >= incumbent {base:.3f} + margin {config.margin}")
    for domain, before in sorted((incumbent.per_domain if incumbent else {}).items()):
        after = candidate.per_domain.get(domain, 0.0)
        allowed = allowed_drop(before, candidate.per_domain_n.get(domain, 0), config)
        if after < before - allowed:
            ok = False
            reasons.append(f"regressed on {domain}: {after:.3f} < {before:.3f} - {allowed:.3f}")
    if config.min_teacher_ratio and teacher and teacher.gap_score:
        needed = config.min_teacher_ratio * teacher.gap_score
        if gap < needed:
            ok = False
            reasons.append(
                f"gap exact match {gap:.3f} < {config.min_teacher_ratio:.0%} of teacher's {teacher.gap_score:.3f}"
            )
    if ok:
        reasons.append("no domain regressed beyond epsilon")
    return GateDecision(ok, reasons)


def allowed_drop(before: float, examples: int, config: GateConfig) -> float:
    """``max_regression``, widened to ``regression_z`` standard errors of a difference of two
    exact-match rates measured on ``examples`` queries each."""
    if examples <= 0 or config.regression_z <= 0:
        return config.max_regression
    p = min(max(before, 0.05), 0.95)  # a rate of 0 or 1 on a few queries still has uncertainty
    return max(config.max_regression, config.regression_z * math.sqrt(2 * p * (1 - p) / examples))


def next_role(role: str, win_rates: list[tuple[float, int]], config: RolesConfig) -> tuple[str, str | None]:
    """(new role, reason or None) from the latest nights' (win rate, contested answers), oldest first."""
    recent = [rate for rate, n in win_rates[-config.nights :] if n >= config.min_judged]
    if len(recent) < config.nights or role not in LADDER:
        return role, None
    thresholds = {"ta": config.ta_win_rate, "teacher": config.teacher_win_rate}
    rank = LADDER.index(role)
    if rank + 1 < len(LADDER):
        up = LADDER[rank + 1]
        if all(rate >= thresholds[up] for rate in recent):
            return up, f"win rate >= {thresholds[up]:.2f} for {config.nights} nights ({recent})"
    if role in thresholds and all(rate < thresholds[role] for rate in recent):
        down = LADDER[rank - 1]
        return down, f"win rate < {thresholds[role]:.2f} for {config.nights} nights ({recent}): demoted"
    return role, None
