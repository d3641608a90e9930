"""Specialist students: a copy of a generalist, trained on one region of the traffic.

One small student shared by every kind of query learns little per night: its capacity and each
night's steps are spread over everything it must not forget. A copy of it trained on one region
(the traffic clusters of one gap and its neighbours) starts at the generalist's level there and only
has to get better there; it may forget the rest, because the router serves it only where its own
judged record is good enough (academy/routing/evidence.py). The region is chosen from the traffic
alone: the gap with the largest savings, plus the owner's other gaps whose cluster centroids are
close to it. Its rehearsal data is the part of the generalist's warm-start set that falls in those
clusters (nearest centroid), so it keeps learning from everything Academy paid for that is
relevant, not from all of it.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def specialist_region(
    report: GapReport,
    plan: dict[str, list[int]],
    generalists: set[str],
    centres: dict[int, np.ndarray],
    similarity: float,
) -> tuple[str, list[int]] | None:
    """(owner, gap clusters) for tonight's specialist, or None.

    The top-savings gap owned by a generalist, and that owner's other gaps whose centroid has
    cosine >= ``similarity`` with it. A gap a specialist already owns stays its own (it trains there)."""
    for gap in report.selected:  # ranked by savings
        owner = gap.best_student
        if gap.kind != "underperforming" or owner not in generalists or gap.cluster not in centres:
            continue
        top = centres[gap.cluster]
        region = [
            c
            for c in plan.get(owner, [])
            if c in centres and (c == gap.cluster or float(centres[c] @ top) >= similarity)
        ]
        return owner, sorted(region)
    return None


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
