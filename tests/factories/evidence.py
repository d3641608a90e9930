"""The evidence estimator's test neighbourhoods: the quality floor, points near a base vector, and
queries of one kind that are far apart (templated)."""

from __future__ import annotations

import numpy as np

from tests.factories.vectors import unit

FLOOR = 0.9


def near(base: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    v = base + noise * unit(seed)
    return (v / np.linalg.norm(v)).astype(np.float32)


def templated(kind: np.ndarray, seed: int, share: float = 0.65) -> np.ndarray:
    """A query of one kind with its own operands: cosine ~0.65 to the kind, ~0.42 to another
    query of the kind (as MiniLM places the school's templated queries), ~0 to other kinds."""
    v = share * kind + np.sqrt(1 - share**2) * unit(10_000 + seed)
    return (v / np.linalg.norm(v)).astype(np.float32)
