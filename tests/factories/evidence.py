"""The evidence estimator's test neighbourhoods: the quality floor and points near a base vector."""

from __future__ import annotations

import numpy as np

from tests.factories.vectors import unit

FLOOR = 0.9


def near(base: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    v = base + noise * unit(seed)
    return (v / np.linalg.norm(v)).astype(np.float32)
