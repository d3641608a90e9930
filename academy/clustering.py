"""k-means over query embeddings: the neighbourhoods that gap mining ranks.

Why k-means and not LanceDB's IVF partitions: IVF partitions exist only once the ANN index is
built (2,000+ rows) and are sized for search speed (~4,096 rows each), far coarser than a topic;
their count also changes whenever the index is retrained. A seeded k-means on the night's
snapshot gives topic-sized clusters every night, costs seconds, and is reproducible under DVC.

Distances use ``np.einsum`` without BLAS so results do not depend on the BLAS thread count:
``dvc repro`` must assign the same clusters on any machine.
"""

from __future__ import annotations

import math

import numpy as np

ITERATIONS = 25
CHUNK = 4096


def choose_k(n: int, requested: int, max_clusters: int) -> int:
    """``requested`` if set, else about sqrt(n / 2) (a rule of thumb for topic clusters); 1..n."""
    k = requested or round(math.sqrt(n / 2))
    return max(1, min(k, max_clusters, n))


def kmeans(
    vectors: np.ndarray, k: int, seed: int = 0, iterations: int = ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means++ then Lloyd iterations on unit vectors; returns (labels, centroids)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"kmeans needs a non-empty (n, d) array, got shape {x.shape}")
    k = max(1, min(k, len(x)))
    centroids = _kmeans_plus_plus(x, k, np.random.default_rng(seed))
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(iterations):
        labels = nearest(x, centroids)
        updated = centroids.copy()
        for c in range(k):
            members = x[labels == c]
            if len(members):
                updated[c] = members.mean(axis=0)
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return nearest(x, centroids), centroids


def nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the closest centroid (squared Euclidean) for each row, in chunks."""
    out = np.empty(len(x), dtype=np.int64)
    c_norm = np.einsum("kd,kd->k", centroids, centroids, optimize=False)
    for start in range(0, len(x), CHUNK):
        block = x[start : start + CHUNK]
        dots = np.einsum("nd,kd->nk", block, centroids, optimize=False)
        out[start : start + CHUNK] = np.argmin(c_norm[None, :] - 2 * dots, axis=1)
    return out


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centroids = [x[rng.integers(len(x))]]
    closest = _sq_dist(x, centroids[0])
    for _ in range(1, k):
        total = closest.sum()
        index = int(rng.integers(len(x))) if total <= 0 else int(rng.choice(len(x), p=closest / total))
        centroids.append(x[index])
        closest = np.minimum(closest, _sq_dist(x, x[index]))
    return np.stack(centroids)


def _sq_dist(x: np.ndarray, point: np.ndarray) -> np.ndarray:
    diff = x - point
    return np.einsum("nd,nd->n", diff, diff, optimize=False)
