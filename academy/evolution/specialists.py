"""Specialist students: a copy of a generalist, trained on one region of the traffic, night after night.

One small student shared by every kind of query learns little per night: its capacity and each
night's steps are spread over everything it must not forget, and its candidate is judged on all
its gaps at once (the demo's generalist was refused on every night of seeds 0 and 1). A copy of it
trained on one region (a gap and the gaps near it) starts at the generalist's level there and only
has to get better there; it may forget the rest, because the router serves it only where its own
judged record is good enough (academy/routing/evidence.py).

So every gap belongs to a region and every region to one specialist (:func:`night_plan`): the one
whose region centre is nearest, or a new one. A specialist keeps its region across nights (its
centre is recorded with each candidate), and a night it is refused is not thrown away: the next
night trains on from that candidate (academy/evolution/students.py ``carried_candidate``), so a
region's steps add up until the gate sees them. The night's candidates are the regions that save
the most (their biggest gap). Regions come from the traffic alone (cluster centroids of query embeddings). A
specialist's rehearsal data is the part of the generalist's warm-start set that falls in its
clusters (nearest centroid): what Academy paid for that is relevant there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from academy.evolution.gaps import GapReport


def centroids(queries: pd.DataFrame, clusters: pd.Series) -> dict[int, np.ndarray]:
    """cluster -> unit-length mean embedding of its queries."""
    frame = (
        queries[["id", "embedding"]].assign(cluster=queries["id"].map(clusters)).dropna(subset=["cluster"])
    )
    out = {}
    for cluster, group in frame.groupby("cluster"):
        mean = np.stack(group["embedding"].to_numpy()).astype(np.float64).mean(axis=0)
        out[int(cluster)] = mean / (np.linalg.norm(mean) or 1.0)
    return out


def region_centre(centres: dict[int, np.ndarray], clusters: Sequence[int]) -> np.ndarray | None:
    """The unit-length mean of these clusters' centroids (None when none has one)."""
    known = [centres[c] for c in clusters if c in centres]
    if not known:
        return None
    mean = np.mean(known, axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def nearest_specialist(
    centre: np.ndarray | None, specialists: dict[str, np.ndarray], similarity: float
) -> str | None:
    """The specialist whose region centre is closest to ``centre``, if its cosine >= ``similarity``."""
    if centre is None or not specialists:
        return None
    name, best = max(((n, float(c @ centre)) for n, c in specialists.items()), key=lambda x: (x[1], x[0]))
    return name if best >= similarity else None


def night_plan(
    report: GapReport,
    specialists: dict[str, np.ndarray],
    centres: dict[int, np.ndarray],
    similarity: float,
    max_students: int,
    new_names: Iterator[str],
) -> dict[str, list[int]]:
    """student -> the gap clusters it trains on tonight (pure).

    ``specialists``: the students spawned on earlier nights (promoted or not) -> their region's
    centre. Every gap joins a region: the top-savings gap left and the gaps left whose centroid
    has cosine >= ``similarity`` with it. A region goes to the specialist whose centre is nearest
    (cosine >= ``similarity``), else to a new student named from ``new_names``. Which student is
    "best" on a gap does not decide: where nobody knows anything, the best is whoever has a few
    judged answers there (seed 0's reversal specialist, right on 0% of sorting and capitals, was
    handed both). The ``max_students`` regions whose biggest gap saves the most train tonight; the
    rest wait (their gaps stay gaps, so they rank again tomorrow). The biggest gap, not the sum: a
    night's steps are split over a region's gaps, and ranked by sum, regions of many small gaps kept
    the week's biggest gap (seed 0's capitals, new on day 4) untrained for two nights.
    """
    regions: dict[str | int, list[int]] = {}  # a specialist's name, or a new region's number
    left = list(report.selected)  # ranked by savings
    while left:
        top = centres.get(left[0].cluster)
        region = [
            g
            for g in left
            if g is left[0]
            or (top is not None and g.cluster in centres and float(centres[g.cluster] @ top) >= similarity)
        ]
        left = [g for g in left if g not in region]
        clusters = [g.cluster for g in region]
        owner = nearest_specialist(region_centre(centres, clusters), specialists, similarity)
        regions.setdefault(owner if owner is not None else len(regions), []).extend(clusters)
    savings = {g.cluster: g.savings for g in report.selected}
    chosen = sorted(regions, key=lambda r: -max(savings[c] for c in regions[r]))[:max_students]
    # new specialists are named once chosen, so a region that waits uses up no name
    return {(r if isinstance(r, str) else next(new_names)): sorted(regions[r]) for r in chosen}


def nearest_cluster(embeddings: np.ndarray, centres: dict[int, np.ndarray]) -> np.ndarray:
    """The nearest centroid's cluster id for each row of ``embeddings``."""
    ids = np.array(sorted(centres))
    matrix = np.stack([centres[c] for c in ids])
    vectors = np.asarray(embeddings, dtype=np.float64)
    vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    return ids[np.argmax(vectors @ matrix.T, axis=1)]


def rehearsal_in_region(
    pairs: Sequence[tuple[str, str, str | None]],
    embeddings: np.ndarray,
    centres: dict[int, np.ndarray],
    region: Sequence[int],
) -> list[tuple[str, str, str | None]]:
    """The warm-start pairs whose query's nearest cluster is in ``region``."""
    if not len(pairs) or not centres:
        return []
    keep = set(region)
    return [p for p, c in zip(pairs, nearest_cluster(embeddings, centres)) if int(c) in keep]
