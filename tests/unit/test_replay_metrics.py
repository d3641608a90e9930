"""The replay benchmark's metrics (RouteLLM's APGR, CPT, cost saved at 95%) and its report."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from academy.replay.metrics import (
    Point,
    apgr,
    cost_at,
    cpt,
    envelope,
    oracle_points,
    pgr,
    quality_at,
    random_points,
    saved_at,
    single_model_points,
    summary,
)
from academy.replay.report import format_table, write_report

S, W = 0.8, 0.5  # strong and weak quality

POINTS = [
    Point(0.5, 0.6),
    Point(0.2, 0.5),
    Point(0.3, 0.4),  # dearer and worse than (0.2, 0.5)
    Point(0.8, 0.6),  # no better than (0.5, 0.6)
    Point(1.0, 0.9),
    Point(0.2, 0.45),  # same cost, worse
]


def test_envelope_drops_dominated_points():
    assert [(p.cost_share, p.quality) for p in envelope(POINTS)] == [(0.2, 0.5), (0.5, 0.6), (1.0, 0.9)]


def test_quality_and_cost_interpolate_along_the_envelope():
    assert quality_at(POINTS, 0.1) is None
    assert quality_at(POINTS, 0.35) == pytest.approx(0.55)
    assert quality_at(POINTS, 0.75) == pytest.approx(0.75)
    assert quality_at(POINTS, 2.0) == pytest.approx(0.9)
    assert cost_at(POINTS, 0.3) == pytest.approx(0.2)
    assert cost_at(POINTS, 0.55) == pytest.approx(0.35)
    assert cost_at(POINTS, 0.75) == pytest.approx(0.75)
    assert cost_at(POINTS, 0.9) == pytest.approx(1.0)
    assert cost_at(POINTS, 0.95) is None


def test_pgr():
    assert pgr(0.65, W, S) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pgr(0.5, 0.5, 0.5)


def test_random_baseline_recovers_the_gap_linearly():
    pts = random_points(W, S, 0.0)
    assert len(pts) == 11 and pts[0] == Point(0.0, W, pts[0].label) and pts[-1].cost_share == 1.0
    assert apgr(pts, W, S) == pytest.approx(0.5, abs=1e-6)
    assert cpt(pts, 0.5, W, S) == pytest.approx(0.5)
    assert cpt(pts, 0.8, W, S) == pytest.approx(0.8)
    assert saved_at(pts, 0.95, S) == pytest.approx(1 - (0.95 * S - W) / (S - W))


def test_apgr_counts_nothing_below_the_cheapest_point():
    # weak calls cost 0.1: PGR rises from 0 at x=0.1 to 1 at x=1, so the area is 0.9 / 2
    assert apgr(random_points(W, S, 0.1), W, S) == pytest.approx(0.45, abs=1e-4)
    # a router that starts at PGR 0.5 for cost 0.2: nothing below 0.2, then 0.8 * mean(0.5, 1)
    assert apgr([Point(0.2, 0.65), Point(1.0, S)], W, S) == pytest.approx(0.6, abs=1e-3)


def test_perfect_router():
    pts = [Point(0.0, W), Point(0.2, S), Point(1.0, S)]
    assert apgr(pts, W, S) == pytest.approx(0.1 + 0.8, abs=1e-4)
    assert saved_at(pts, 0.95, S) == pytest.approx(1 - 0.2 * (0.95 * S - W) / (S - W))
    assert saved_at(pts, 0.95, S) > 0.8


def test_none_when_never_reached():
    pts = [Point(0.1, 0.6), Point(0.5, 0.7)]
    out = summary(pts, W, S, best_single=Point(1.0, S))
    assert out["saved_at_95"] is None and out["cpt80"] is None and out["cost_at_best_single_quality"] is None
    assert out["cpt50"] == pytest.approx(0.3)
    assert out["quality_at_best_single_cost"] == pytest.approx(0.7)
    assert out["best_quality"] == 0.7 and out["min_cost"] == 0.1
    no_weak = summary(pts, None, S, best_single=Point(1.0, S))
    assert no_weak["apgr"] is None and no_weak["cpt50"] is None and no_weak["min_cost"] == 0.1


def test_saved_can_be_negative():
    assert saved_at([Point(1.2, S)], 0.95, S) == pytest.approx(-0.2)


def test_oracle_multi_model():
    # models A (cost 1), B (cost 2), C (strong, cost 10)
    scores = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, np.nan, 0]], dtype=float)
    costs = np.tile([1.0, 2.0, 10.0], (4, 1))
    pts = oracle_points(scores, costs, strong_index=2, n=3)
    # full oracle: A, B, C, A (nobody right on q3: cheapest) = 14 of always-C's 40
    assert (pts[-1].cost_share, pts[-1].quality, pts[-1].label) == (pytest.approx(0.35), 0.75, "oracle")
    assert (pts[0].cost_share, pts[0].quality) == (pytest.approx(0.1), 0.25)  # all A
    # the cheap upgrade (q1 to B: gain 1 for 1) comes before the dear one (q2 to C: gain 1 for 9)
    assert (pts[1].cost_share, pts[1].quality) == (pytest.approx(5 / 40), 0.5)


def test_oracle_two_models():
    scores = np.array([[1, 1], [1, 0], [1, 0], [0, 1], [0, 0]], dtype=float)  # strong, weak
    costs = np.tile([1.0, 0.01], (5, 1))
    pts = oracle_points(scores, costs, strong_index=0, n=3)
    assert [p.quality for p in pts] == pytest.approx([0.4, 0.6, 0.8])
    assert [p.cost_share for p in pts] == pytest.approx([0.05 / 5, 1.04 / 5, 2.03 / 5])


def test_single_model_points():
    scores = np.array([[1, np.nan], [0, 1], [1, 0]], dtype=float)
    costs = np.array([[1, 0.5], [1, 0.5], [2, 0.5]])
    s, w = single_model_points(scores, costs, ["s", "w"], strong="s")
    assert (s.label, s.cost_share, s.quality) == ("s", 1.0, pytest.approx(2 / 3))
    assert (w.label, w.cost_share, w.quality) == ("w", 0.375, 0.5)


def _policy(points: list[Point], weak: float | None, best: Point) -> dict:
    return {"points": [asdict(p) for p in points], "summary": summary(points, weak, S, best)}


def test_report(tmp_path):
    strong, weak = Point(1.0, S, "gpt-4"), Point(0.01, W, "mixtral")
    router = [Point(0.05, 0.55, "t=0.9"), Point(0.3, 0.74, "t=0.5"), Point(0.7, 0.79, "t=0.1")]
    two = {
        "n_queries": 100,
        "cost_unit": "GPT-4 calls",
        "strong": "gpt-4",
        "weak": "mixtral",
        "strong_quality": S,
        "weak_quality": W,
        "router": _policy(router, W, strong),
        "baselines": {
            "random": _policy(random_points(W, S, 0.01), W, strong),
            "always_strong": _policy([strong], W, strong),
            "always_weak": _policy([weak], W, strong),
            "oracle": _policy([Point(0.01, W), Point(0.3, 0.9, "oracle")], W, strong),
        },
        "published": {"saved_at_95": 0.45, "source": "RouteLLM README"},
        "notes": ["a note"],
    }
    multi = {**two, "weak": None, "weak_quality": None, "published": None, "notes": []}
    multi["router"] = _policy(router, None, strong)
    multi["baselines"] = {"best_single": _policy([strong], None, strong)}
    results = {"mtbench": two, "routerbench": multi}

    md = write_report(results, tmp_path / "out")
    text = md.read_text()
    assert md == tmp_path / "out" / "report.md"
    assert "| policy | APGR | CPT(50%) | CPT(80%) | saved at 95%" in text
    assert "—" in text  # always_weak never reaches 95% of strong; routerbench has no APGR
    assert "RouteLLM published: 45% saved at 95%" in text and "- a note" in text
    assert "![mtbench](mtbench.png)" in text and "## routerbench" in text
    for name in results:
        png = tmp_path / "out" / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 1000

    table = format_table(results)
    for policy in ["router", "random", "always_strong", "always_weak", "oracle", "best_single"]:
        assert policy in table
    assert "mtbench" in table and "routerbench" in table and "—" in table
