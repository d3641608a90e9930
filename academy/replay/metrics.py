"""Cost/quality metrics for routers, measured the way RouteLLM (arXiv 2406.18665) measures them.

A router is described by its *operating points*: each a (cost share, quality) pair, where the cost
share is the router's total cost (exploration and judging included, so it may exceed 1) divided by
the cost of always calling the strong (reference) model on the same queries, and quality is the
mean 0-1 quality of the answers it returned. Sweeping a threshold or price weight gives several.

Mixing two policies at random is always possible, so between two points of the upper envelope the
reachable quality is their linear interpolation. (Mixing non-adjacent points could do slightly
better where the envelope is not concave; like RouteLLM we interpolate adjacent points only.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GRID = 1001  # cost-share samples in [0, 1] for APGR


@dataclass(frozen=True)
class Point:
    """One operating point: cost relative to always-strong, and mean answer quality (0-1)."""

    cost_share: float
    quality: float
    label: str = ""


def envelope(points: Sequence[Point]) -> list[Point]:
    """The monotone upper envelope (Pareto front): sorted by cost, each point better than every
    cheaper one. A dominated point is never worth operating at: a cheaper one does at least as well."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.cost_share, -p.quality)):
        if not front or p.quality > front[-1].quality:
            front.append(p)
    return front


pareto_front = envelope


def _curve(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
    env = envelope(points)
    return np.array([p.cost_share for p in env]), np.array([p.quality for p in env])


def quality_at(points: Sequence[Point], cost_share: float) -> float | None:
    """Best quality reachable spending at most `cost_share`, interpolating along the envelope;
    None below the cheapest point, where the router cannot operate at all."""
    costs, quals = _curve(points)
    if not len(costs) or cost_share < costs[0]:
        return None
    return float(np.interp(cost_share, costs, quals))


def cost_at(points: Sequence[Point], quality: float) -> float | None:
    """The least cost share that reaches `quality` along the envelope; None if it is never reached."""
    costs, quals = _curve(points)
    if not len(costs) or quals[-1] < quality:
        return None
    j = int(np.argmax(quals >= quality))
    if j == 0:
        return float(costs[0])
    t = (quality - quals[j - 1]) / (quals[j] - quals[j - 1])
    return float(costs[j - 1] + t * (costs[j] - costs[j - 1]))


def pgr(quality: float, weak_quality: float, strong_quality: float) -> float:
    """Performance gap recovered: 0 at the weak model's quality, 1 at the strong model's."""
    if strong_quality == weak_quality:
        raise ValueError("PGR is undefined when the strong and weak models score the same")
    return (quality - weak_quality) / (strong_quality - weak_quality)


def apgr(points: Sequence[Point], weak_quality: float, strong_quality: float) -> float:
    """Average PGR over cost share in [0, 1]: RouteLLM's APGR, the area under the PGR vs
    strong-call-share curve (trapezoid on a fine grid). Below the cheapest point PGR counts as 0
    (the router cannot operate there); beyond the dearest the envelope's best quality holds."""
    costs, quals = _curve(points)
    if not len(costs):
        return 0.0
    x = np.linspace(0.0, 1.0, GRID)
    gain = pgr(np.interp(x, costs, quals), weak_quality, strong_quality)
    gain = np.where(x < costs[0], 0.0, gain)
    return float(np.trapezoid(gain, x))


def cpt(
    points: Sequence[Point], pgr_target: float, weak_quality: float, strong_quality: float
) -> float | None:
    """Call-performance threshold: the least cost share whose PGR reaches `pgr_target`
    (RouteLLM's CPT(50%), CPT(80%)); None if never reached. Assumes strong beats weak."""
    return cost_at(points, weak_quality + pgr_target * (strong_quality - weak_quality))


def saved_at(points: Sequence[Point], fraction: float, strong_quality: float) -> float | None:
    """Cost saved vs always-strong while keeping `fraction` of the strong model's quality
    (negative when the router spends more than always-strong); None if never reached."""
    cost = cost_at(points, fraction * strong_quality)
    return None if cost is None else 1.0 - cost


def two_model_summary(
    points: Sequence[Point], weak_quality: float | None, strong_quality: float
) -> dict[str, float | None]:
    """RouteLLM's headline numbers. APGR and CPT need a weak model; without one they are None."""
    has_weak = weak_quality is not None and weak_quality != strong_quality
    return {
        "apgr": apgr(points, weak_quality, strong_quality) if has_weak else None,
        "cpt50": cpt(points, 0.5, weak_quality, strong_quality) if has_weak else None,
        "cpt80": cpt(points, 0.8, weak_quality, strong_quality) if has_weak else None,
        "saved_at_95": saved_at(points, 0.95, strong_quality),
        "best_quality": max((p.quality for p in points), default=None),
        "min_cost": min((p.cost_share for p in points), default=None),
    }


def summary(
    points: Sequence[Point], weak_quality: float | None, strong_quality: float, best_single: Point
) -> dict[str, float | None]:
    """The two-model numbers plus the comparison with the best single model (the highest-quality
    one; for a two-model set, the strong model at (1, strong quality)): what quality the router
    gets for that model's cost, and what it pays for that model's quality. Nothing is rounded."""
    return {
        **two_model_summary(points, weak_quality, strong_quality),
        "quality_at_best_single_cost": quality_at(points, best_single.cost_share),
        "cost_at_best_single_quality": cost_at(points, best_single.quality),
    }


# -- baselines as operating points --------------------------------------------------------------


def random_points(weak_q: float, strong_q: float, weak_cost_share: float, n: int = 11) -> list[Point]:
    """Calling the strong model with probability p (else the weak one), p = 0..1: the line any
    router must beat."""
    return [
        Point((1 - p) * weak_cost_share + p, (1 - p) * weak_q + p * strong_q, f"random p={p:.2f}")
        for p in np.linspace(0.0, 1.0, n)
    ]


def single_model_points(scores: np.ndarray, costs: np.ndarray, models: list[str], strong: str) -> list[Point]:
    """One point per model answering everything: its cost relative to the strong model's, and its
    mean recorded score (queries it has no score for are left out)."""
    ref = float(np.sum(costs[:, models.index(strong)]))
    return [
        Point(float(np.sum(costs[:, j])) / ref, float(np.nanmean(scores[:, j])), m)
        for j, m in enumerate(models)
    ]


def oracle_points(
    scores: np.ndarray, costs: np.ndarray, strong_index: int, n: int = 21, seed: int = 0
) -> list[Point]:
    """The oracle router, which knows every outcome (NaN scores count as 0).

    Its full point sends each query to the cheapest model with that query's top score. The curve
    starts from the cheapest model (lowest total cost) answering everything and upgrades queries
    to their oracle model, most score gained per extra cost first (free or saving upgrades first,
    ties in seeded random order), with n points at fractions 0..1 of the upgradable queries. For
    RouteLLM's two-model sets this upgrades, in random order, exactly the queries where the strong
    model is right and the weak one wrong. The last point is the full oracle.
    """
    s = np.nan_to_num(scores, nan=0.0)
    rows = np.arange(len(s))
    # lexsort: last key is primary, so: highest score first, then cheapest
    choice = np.array([np.lexsort((costs[i], -s[i]))[0] for i in rows], dtype=int)
    base = int(np.argmin(costs.sum(axis=0)))
    gain = s[rows, choice] - s[:, base]
    extra = costs[rows, choice] - costs[:, base]
    todo = np.flatnonzero(choice != base)
    todo = todo[np.random.default_rng(seed).permutation(len(todo))]
    # free or saving upgrades first, then by gain per extra cost; stable sort keeps the random tie order
    rank = np.where(extra[todo] <= 0, np.inf, gain[todo] / np.where(extra[todo] > 0, extra[todo], 1.0))
    todo = todo[np.argsort(-rank, kind="stable")]
    ref = float(costs[:, strong_index].sum())
    points = []
    for f in np.linspace(0.0, 1.0, n):
        pick = np.full(len(s), base)
        up = todo[: int(round(f * len(todo)))]
        pick[up] = choice[up]
        label = "oracle" if f == 1.0 else f"oracle {f:.0%}"
        points.append(Point(float(costs[rows, pick].sum()) / ref, float(s[rows, pick].mean()), label))
    return points
