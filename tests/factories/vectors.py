"""Embeddings made to order: a seeded random unit vector stands in for the embedder's output."""

from __future__ import annotations

import numpy as np

from academy.store import EMBEDDING_DIM


def unit(seed: int, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """A float32 unit vector drawn from ``seed``: the same seed always gives the same vector."""
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)
