"""Two embedding clusters for routing and delegation tests: their unit-vector centres, noisy points
near a centre, and an embedder that places every query at the first centre."""

from __future__ import annotations

import numpy as np

DIM = 384


def direction(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


CENTERS = (direction(1), direction(2))


def near(center: np.ndarray, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """One point (float32) near ``center``, or ``n`` of them as rows."""
    v = center + 0.04 * rng.normal(size=(n or 1, DIM))
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32) if n else v[0].astype(np.float32)


class StubEmbedder:
    """Every query embeds at ``CENTERS[0]``."""

    async def aembed_one(self, text: str) -> np.ndarray:
        return CENTERS[0].astype(np.float32)

    def close(self) -> None:
        pass
