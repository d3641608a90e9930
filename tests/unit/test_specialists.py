"""Specialists: which region of the traffic a new specialist takes, and what it rehearses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from academy.evolution.gaps import ClusterStats, GapReport
from academy.evolution.specialists import centroids, nearest_cluster, night_plan, rehearsal_in_region


def stats(cluster: int, owner: str | None, kind: str | None, savings: float) -> ClusterStats:
    return ClusterStats(cluster, 50, "x", {}, 1.0, 0.001, savings, owner, 0.5, kind)


def unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float64)
    return a / np.linalg.norm(a)


CENTRES = {0: unit([1, 0, 0]), 1: unit([0.9, 0.3, 0]), 2: unit([0, 1, 0]), 3: unit([0, 0, 1])}


def names():
    return iter(f"new-{i}" for i in range(1, 100))


def test_every_gap_joins_a_region_around_the_top_saving_gap_left():
    report = GapReport(
        [],
        [
            stats(0, "student-1", "underperforming", 5.0),
            stats(2, "student-1", "underperforming", 4.0),
            stats(1, "student-1", "underperforming", 1.0),
            stats(3, None, "uncovered", 0.5),
        ],
        0.9,
    )
    plan = night_plan(report, {}, CENTRES, similarity=0.6, max_students=5, new_names=names())
    assert plan == {"new-1": [0, 1], "new-2": [2], "new-3": [3]}  # cluster 1 is close to 0, 2 and 3 are not
    assert night_plan(report, {}, CENTRES, 0.99, 5, names()) == {
        "new-1": [0],
        "new-2": [2],
        "new-3": [1],
        "new-4": [3],
    }


def test_a_region_goes_back_to_the_specialist_trained_there():
    report = GapReport(
        [], [stats(0, "student-1", "underperforming", 5.0), stats(2, None, "uncovered", 4.0)], 0.9
    )
    earlier = {"student-7": unit([1, 0.1, 0]), "student-8": unit([0, 0, 1])}
    plan = night_plan(report, earlier, CENTRES, 0.6, 5, names())
    assert plan == {"student-7": [0], "new-1": [2]}  # 0 is student-7's region; nobody owns 2's


def test_a_specialist_gets_no_gap_outside_its_region_for_being_best_there():
    report = GapReport(
        [],
        [stats(3, "student-7", "underperforming", 9.0), stats(0, "student-1", "underperforming", 1.0)],
        0.9,
    )
    plan = night_plan(report, {"student-7": unit([1, 0, 0])}, CENTRES, 0.6, 5, names())
    assert plan == {"new-1": [3], "student-7": [0]}  # 3 is far from student-7's region: a new specialist


def test_only_the_regions_with_the_biggest_gaps_train_tonight():
    report = GapReport(
        [],
        [
            stats(2, "student-1", "underperforming", 4.0),
            stats(3, None, "uncovered", 3.0),
            stats(0, "student-1", "underperforming", 2.5),
            stats(1, "student-1", "underperforming", 2.0),
        ],
        0.9,
    )
    plan = night_plan(report, {}, CENTRES, 0.6, max_students=2, new_names=names())
    # regions {2}, {3} and {0, 1}: biggest gaps 4, 3 and 2.5. {0, 1} saves 4.5 in all, but its
    # steps would be split over two gaps: it waits (unnamed), and the biggest single gaps train
    assert plan == {"new-1": [2], "new-2": [3]}


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
