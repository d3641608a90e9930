"""Specialists: which region of the traffic a new specialist takes, and what it rehearses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from academy.evolution.gaps import ClusterStats, GapReport
from academy.evolution.specialists import centroids, nearest_cluster, rehearsal_in_region, specialist_region


def stats(cluster: int, owner: str | None, kind: str | None, savings: float) -> ClusterStats:
    return ClusterStats(cluster, 50, "x", {}, 1.0, 0.001, savings, owner, 0.5, kind)


def unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float64)
    return a / np.linalg.norm(a)


CENTRES = {0: unit([1, 0, 0]), 1: unit([0.9, 0.3, 0]), 2: unit([0, 1, 0]), 3: unit([0, 0, 1])}


def test_the_top_saving_gap_of_a_generalist_and_its_close_gaps_make_the_region():
    report = GapReport(
        [],
        [
            stats(3, "student-2", "underperforming", 9.0),  # a specialist's own gap: it keeps it
            stats(0, "student-1", "underperforming", 5.0),
            stats(2, "student-1", "underperforming", 4.0),
            stats(1, "student-1", "underperforming", 1.0),
        ],
        0.9,
    )
    plan = {"student-1": [0, 1, 2], "student-2": [3]}
    owner, region = specialist_region(report, plan, {"student-1"}, CENTRES, similarity=0.6)
    assert owner == "student-1" and region == [0, 1]  # cluster 2 is far from cluster 0
    assert specialist_region(report, plan, {"student-1"}, CENTRES, similarity=0.99)[1] == [0]
    assert specialist_region(report, plan, set(), CENTRES, 0.6) is None  # no generalist, no specialist


def test_uncovered_gaps_are_never_a_specialist_region():
    report = GapReport([], [stats(0, None, "uncovered", 9.0)], 0.9)
    assert specialist_region(report, {"": [0]}, {"student-1"}, CENTRES, 0.6) is None


def test_rehearsal_keeps_the_pairs_whose_query_falls_in_the_region():
    pairs = [("a", "1", None), ("b", "2", None), ("c", "3", None)]
    embeddings = np.array([[1, 0.05, 0], [0, 1, 0.1], [0.1, 0, 1]])
    assert list(nearest_cluster(embeddings, CENTRES)) == [0, 2, 3]
    assert rehearsal_in_region(pairs, embeddings, CENTRES, [0, 3]) == [pairs[0], pairs[2]]
    assert rehearsal_in_region([], np.zeros((0, 3)), CENTRES, [0]) == []


def test_centroids_are_unit_means_of_their_queries():
    queries = pd.DataFrame({"id": ["q1", "q2", "q3"], "embedding": [[2.0, 0.0], [0.0, 2.0], [0.0, 5.0]]})
    centres = centroids(queries, pd.Series({"q1": 0, "q2": 0, "q3": 1}))
    assert np.allclose(centres[0], unit([1, 1])) and np.allclose(centres[1], [0, 1])
