"""The quality gate and the role ladder: pure decisions, recorded by the registry.

Gate: a candidate goes candidate -> staging -> production only if all hold.

* **It beats the incumbent on the held-out gap queries, with confidence.** Both models answer the
  same queries, so the comparison is paired: of the ``n`` queries, ``b`` the candidate gets right
  and the incumbent wrong, ``c`` the reverse (the concordant ones say nothing about which is
  better). The gate promotes only when the one-sided exact sign test (McNemar's exact test:
  ``b ~ Binomial(b + c, 1/2)`` when neither is better) gives ``p < alpha`` *and* the lower
  confidence bound of the difference in accuracy (Newcombe's score interval for paired
  proportions, one-sided level ``alpha``) is at least ``margin``. Whatever ``margin``, a candidate
  no better than its incumbent is promoted with probability at most ``alpha`` (the exact test is
  valid given the number of discordant pairs, hence overall); one whose gain is below ``margin``
  is promoted with probability about ``alpha`` (the interval's level is approximate).
* **With no incumbent** (a spawned student), the candidate's gap exact match must clear
  ``min_spawn_score`` with confidence: its one-sided Clopper-Pearson lower bound at level
  ``alpha`` is at least the bar (equivalently, the exact binomial test against the bar rejects).
  Or, where its answers carry a confidence and ``thresholds`` are given (the router's cascade),
  its accuracy on the answers whose confidence clears one threshold reaches
  ``min_selective_score`` with confidence, each threshold tested at ``alpha / len(thresholds)``
  so that the error rate stays ``alpha`` (Bonferroni). The router serves a student only where it
  is confident, so a capitals student that knows 40% of the countries, and knows which, pays.
* **No group regressed, with confidence.** Per group of regression queries (today the regression
  set's traffic clusters; any grouping works) the gate refuses when the one-sided
  upper confidence bound (level ``alpha``) of the paired difference is below ``-max_regression``:
  a drop is refused only when the data show it is larger than ``max_regression``. A group of 8
  queries cannot show that, so noise there does not block; a real forgetting on 100 queries does.
  Each group is a separate test at about ``alpha``: a candidate whose drops are at most
  ``max_regression`` in every one of ``G`` groups is refused with probability at most about
  ``G * alpha``. A larger drop is refused with the power its group's size allows, so a small
  group can hide a real drop (tests/unit/test_gate.py measures both rates).
* Optionally the candidate reaches ``min_teacher_ratio`` of the teacher's gap score (a point
  comparison: the teacher is an upper reference, not an opponent).

Error rate across nights. Each night's gate is one decision per candidate, at level ``alpha``
(``alpha_spending: constant``): whatever the night, a candidate that is no better than its
incumbent is promoted with probability at most ``alpha``. Over ``N`` nights (and ``S`` students
per night) the probability that *any* no-gain candidate is ever promoted is at most
``N * S * alpha`` by the union bound (Bonferroni), whether or not the nights reuse held-out
queries, and the expected number of such promotions is at most ``N * S * alpha``. With
``alpha_spending: bonferroni_nights`` each night tests at ``alpha / alpha_nights``, so over a
horizon of ``alpha_nights`` nights the probability of ever promoting a no-gain candidate of one
student is at most ``alpha``, at the price of power on each night.

Roles climb student -> TA -> teacher when a model's win rate holds above the role's threshold for
``nights`` consecutive nights with enough contested answers, and step down the same way when it
falls below the threshold of the role it holds.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from academy.config import GateConfig, RolesConfig
from academy.evolution.evaluation import EvalResult
from academy.roles import LADDER


@dataclass(frozen=True)
class PairedTest:
    """Candidate vs incumbent on the same ``n`` queries (exact match 0/1 each)."""

    n: int
    b: int  # candidate right, incumbent wrong
    c: int  # candidate wrong, incumbent right
    difference: float  # (b - c) / n: candidate accuracy minus the incumbent's
    low: float  # one-sided lower confidence bound of the difference at level alpha
    high: float  # one-sided upper confidence bound at level alpha ([low, high]: a 1 - 2 alpha interval)
    p_value: float  # one-sided exact sign test of "the candidate is no better"


def one_sided_z(alpha: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha))


def wilson(k: float, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` with critical value ``z`` per side."""
    if n <= 0:
        return 0.0, 1.0
    p, z2 = k / n, z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, center - half), min(1.0, center + half)


def sign_test_p(b: int, c: int) -> float:
    """One-sided exact McNemar (sign) test: P(B >= b) for B ~ Binomial(b + c, 1/2)."""
    if b + c == 0:
        return 1.0
    return float(stats.binom.sf(b - 1, b + c, 0.5))


def paired_test(candidate: np.ndarray, incumbent: np.ndarray, alpha: float) -> PairedTest:
    """The sign test and Newcombe's (1998, method 10) score interval of the paired difference.

    ``candidate[i]`` and ``incumbent[i]`` are the two models' exact match on the same query. The
    interval combines the Wilson intervals of both accuracies with their correlation, so it stays
    inside [-1, 1] and keeps its level near the edges (accuracies near 0 or 1, few discordant
    pairs) where the Wald interval does not.
    """
    x, y = np.asarray(candidate, dtype=bool), np.asarray(incumbent, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in shape: {x.shape} vs {y.shape}")
    n = int(x.size)
    if n == 0:
        return PairedTest(0, 0, 0, 0.0, -1.0, 1.0, 1.0)
    both, b, c = int(np.sum(x & y)), int(np.sum(x & ~y)), int(np.sum(~x & y))
    neither = n - both - b - c
    p1, p2 = (both + b) / n, (both + c) / n
    z = one_sided_z(alpha)
    (l1, u1), (l2, u2) = wilson(both + b, n, z), wilson(both + c, n, z)
    denominator = (both + b) * (c + neither) * (both + c) * (b + neither)
    phi = (both * neither - b * c) / math.sqrt(denominator) if denominator > 0 else 0.0
    difference = p1 - p2
    down = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    up = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    low = max(-1.0, difference - math.sqrt(max(down, 0.0)))
    high = min(1.0, difference + math.sqrt(max(up, 0.0)))
    return PairedTest(n, b, c, difference, low, high, sign_test_p(b, c))


def promotes(test: PairedTest, alpha: float, margin: float) -> bool:
    """The gap rule: a significant gain (``p < alpha``) whose lower bound reaches ``margin``."""
    return test.n > 0 and test.p_value < alpha and test.low >= margin


def regresses(test: PairedTest, max_regression: float) -> bool:
    """The group rule: the drop exceeds ``max_regression`` with confidence (upper bound below it)."""
    return test.high < -max_regression


@dataclass(frozen=True)
class GroupCheck:
    """The paired difference on one group of regression queries, and whether it is a regression."""

    group: str
    n: int
    b: int
    c: int
    difference: float
    high: float  # one-sided upper confidence bound at level alpha
    regressed: bool  # high < -max_regression: the drop exceeds max_regression with confidence


def group_regressions(
    candidate: Mapping[str, float],
    incumbent: Mapping[str, float],
    groups: Mapping[str, Any],
    alpha: float,
    max_regression: float,
) -> list[GroupCheck]:
    """Per group of queries (query id -> group key; domains, clusters, ...), the paired difference
    of the queries both models were scored on, and whether it is a confident regression: its
    one-sided upper bound at level ``alpha`` is below ``-max_regression``."""
    members: dict[str, list[str]] = {}
    for query, group in groups.items():
        if query in candidate and query in incumbent:
            members.setdefault(str(group), []).append(query)
    checks = []
    for group, queries in sorted(members.items()):
        test = paired_test(
            np.array([candidate[q] for q in queries]) >= 0.5,
            np.array([incumbent[q] for q in queries]) >= 0.5,
            alpha,
        )
        regressed = regresses(test, max_regression)
        checks.append(GroupCheck(group, test.n, test.b, test.c, test.difference, test.high, regressed))
    return checks


@dataclass
class GateDecision:
    """The gate's verdict, the reasons in words and the evidence in numbers (all JSON-able).

    ``tested`` names the quantity ``difference`` estimates, ``[low, high]`` bounds (one-sided
    level ``alpha`` each side) and ``margin`` is the bar for: ``difference``, the candidate's gap
    accuracy minus the incumbent's on ``n`` paired queries with discordant counts ``b`` and ``c``
    (bar: ``margin``), or with no incumbent ``accuracy``, the candidate's own gap accuracy on
    ``n`` queries (bar: ``min_spawn_score``), or ``selective accuracy``, its accuracy on the ``n``
    held-out answers it was confident about (bar: ``min_selective_score``). ``p_value`` is the
    one-sided exact test's.
    """

    passed: bool
    reasons: list[str] = field(default_factory=list)
    tested: str = "difference"
    n: int = 0
    b: int | None = None
    c: int | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    margin: float | None = None
    groups: list[dict[str, Any]] = field(default_factory=list)  # GroupCheck of each regression group

    @property
    def summary(self) -> str:
        return ("passed: " if self.passed else "refused: ") + "; ".join(self.reasons)

    def evidence(self) -> dict[str, Any]:
        """Everything but the reasons, for the night summary."""
        data = asdict(self)
        data.pop("reasons")
        return data

    def metrics(self) -> dict[str, float]:
        """The numeric evidence as flat MLflow metrics (``gate.*``)."""
        keys = ("n", "b", "c", "difference", "low", "high", "p_value", "alpha")
        out = {f"gate.{k}": float(getattr(self, k)) for k in keys if getattr(self, k) is not None}
        out["gate.regressed_groups"] = float(sum(g["regressed"] for g in self.groups))
        return out


def night_alpha(config: GateConfig) -> float:
    """The level of one night's gate: ``alpha``, or ``alpha / alpha_nights`` when the error rate is
    spent over a horizon of nights (see the module docstring)."""
    if config.alpha_spending == "bonferroni_nights":
        return config.alpha / config.alpha_nights
    return config.alpha


def quality_gate(
    candidate: EvalResult,
    incumbent: EvalResult | None,
    teacher: EvalResult | None,
    config: GateConfig,
    gap_ids: Collection[str] | None = None,
    groups: Mapping[str, Any] | None = None,
    thresholds: Sequence[float] = (),
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``incumbent`` (None: nothing serves there yet).
    ``thresholds``: the router's cascade confidences, for a spawned student's selective check.

    ``gap_ids`` are the held-out gap queries (None: every scored query not in ``groups``);
    ``groups`` maps each regression query id to its group (None: no regression check). Scores
    are the per-query exact match in ``EvalResult.scores``; only queries both models were scored
    on are compared.
    """
    alpha = night_alpha(config)
    groups = groups or {}
    ids = [q for q in (candidate.scores if gap_ids is None else gap_ids) if q in candidate.scores]
    if gap_ids is None:
        ids = [q for q in ids if q not in groups]
    if incumbent is None:
        decision = _spawn_check(candidate, ids, alpha, config)
        if not decision.passed and thresholds and candidate.confidences:
            selective = _selective_check(candidate, ids, alpha, config, thresholds)
            if selective.passed:
                decision = selective
            else:
                decision.reasons += selective.reasons
    else:
        decision = _paired_check(candidate, incumbent, ids, alpha, config)
        checks = group_regressions(candidate.scores, incumbent.scores, groups, alpha, config.max_regression)
        decision.groups = [asdict(check) for check in checks]
        for check in checks:
            if check.regressed:
                decision.passed = False
                decision.reasons.append(
                    f"regressed on {check.group}: {check.difference:+.3f} (upper bound {check.high:+.3f}"
                    f" < -{config.max_regression}) on {check.n} paired"
                )
        if not groups:
            decision.reasons.append("no regression groups given: regression not checked")
        elif decision.passed:
            decision.reasons.append(
                f"no group regressed beyond {config.max_regression} with confidence ({len(checks)} groups)"
            )
    gap = candidate.gap_score or 0.0
    needed = config.min_teacher_ratio * (teacher.gap_score or 0.0) if teacher else 0.0
    if config.min_teacher_ratio and teacher and gap < needed:
        decision.passed = False
        decision.reasons.append(
            f"gap exact match {gap:.3f} < {config.min_teacher_ratio:.0%} of teacher's {teacher.gap_score:.3f}"
        )
    return decision


def _paired_check(
    candidate: EvalResult, incumbent: EvalResult, ids: list[str], alpha: float, config: GateConfig
) -> GateDecision:
    ids = [q for q in ids if q in incumbent.scores]
    test = paired_test(
        np.array([candidate.scores[q] for q in ids]) >= 0.5,
        np.array([incumbent.scores[q] for q in ids]) >= 0.5,
        alpha,
    )
    significant, clears = test.p_value < alpha, test.low >= config.margin
    passed = promotes(test, alpha, config.margin)
    evidence = (
        f"gap {test.difference:+.3f} [{test.low:.3f}, {test.high:.3f}] ({1 - 2 * alpha:.0%} CI) on {test.n} paired"
        f" (b={test.b}, c={test.c}), p={test.p_value:.3g} {'<' if significant else '>='} {alpha:.3g}"
        f", lower bound {'>=' if clears else '<'} margin {config.margin}"
    )
    return GateDecision(
        passed,
        [evidence],
        tested="difference",
        n=test.n,
        b=test.b,
        c=test.c,
        difference=test.difference,
        low=test.low,
        high=test.high,
        p_value=test.p_value,
        alpha=alpha,
        margin=config.margin,
    )


def _spawn_check(candidate: EvalResult, ids: list[str], alpha: float, config: GateConfig) -> GateDecision:
    """No incumbent: the exact binomial test of the candidate's accuracy against ``min_spawn_score``."""
    n = len(ids)
    k = int(sum(candidate.scores[q] >= 0.5 for q in ids))
    bar = config.min_spawn_score
    accuracy = k / n if n else 0.0
    low, high = clopper_pearson(k, n, alpha) if n else (0.0, 1.0)
    p_value = float(stats.binom.sf(k - 1, n, bar)) if n else 1.0  # P(K >= k) at accuracy = bar
    passed = n > 0 and low >= bar
    reason = (
        f"spawned student: gap exact match {accuracy:.3f} [{low:.3f}, {high:.3f}] on {n} queries"
        f", lower bound {'>=' if passed else '<'} min_spawn_score {bar} (p={p_value:.3g}, alpha {alpha:.3g})"
    )
    return GateDecision(
        passed,
        [reason],
        tested="accuracy",
        n=n,
        difference=accuracy,
        low=low,
        high=high,
        p_value=p_value,
        alpha=alpha,
        margin=bar,
    )


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """One-sided exact bounds at level ``alpha`` of a success rate seen as ``k`` of ``n``."""
    low = float(stats.beta.ppf(alpha, k, n - k + 1)) if k > 0 else 0.0
    high = float(stats.beta.ppf(1 - alpha, k + 1, n - k)) if k < n else 1.0
    return low, high


def _selective_check(
    candidate: EvalResult, ids: list[str], alpha: float, config: GateConfig, thresholds: Sequence[float]
) -> GateDecision:
    """No incumbent, answers with a confidence: the lowest threshold whose confident answers'
    accuracy has a lower bound >= ``min_selective_score``, at ``alpha`` / the number of distinct
    non-empty sets of confident answers the thresholds pick (Bonferroni over the tests actually made).

    Why distinct: the sets depend only on the candidate's confidences, never on whether it was
    right, so given them there are that many binomial tests, and the family-wise error stays
    ``alpha``. Thresholds that keep the same answers are one test, and one that keeps none is no
    test. Seed 1's night-6 capitals specialist was sure of the same 16 held-out answers at 0.6 to 0.9
    and right on 13: a lower bound of 0.497 at ``alpha / 5``, refused against the bar of 0.5, while
    two distinct sets make it ``alpha / 2``."""
    bar = config.min_selective_score
    subsets = {
        threshold: tuple(q for q in ids if candidate.confidences.get(q, -1.0) >= threshold)
        for threshold in sorted(thresholds)
    }
    level = alpha / max(1, len({sure for sure in subsets.values() if sure}))
    tried = []
    for threshold, sure in subsets.items():
        k = int(sum(candidate.scores[q] >= 0.5 for q in sure))
        low, high = clopper_pearson(k, len(sure), level) if sure else (0.0, 1.0)
        tried.append(f">= {threshold}: {k}/{len(sure)} [{low:.3f}, {high:.3f}]")
        if sure and low >= bar:
            reason = (
                f"spawned student, selective: {k} of its {len(sure)} held-out answers with confidence "
                f">= {threshold} right ({len(sure) / len(ids):.0%} of {len(ids)}), lower bound {low:.3f} "
                f">= min_selective_score {bar} (level {level:.3g})"
            )
            return GateDecision(
                True, [reason], tested="selective accuracy", n=len(sure), difference=k / len(sure),
                low=low, high=high, alpha=level, margin=bar,
            )  # fmt: skip
    reason = f"spawned student, selective: no confidence threshold reaches {bar} ({'; '.join(tried)})"
    return GateDecision(False, [reason], tested="selective accuracy", alpha=level, margin=bar)


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
