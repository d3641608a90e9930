"""Replay benchmark data made to order: two clusters of unit vectors, a two-model set where the weak
model is right in one cluster only, and a small RouteLLM-format folder on disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from academy.replay.sets import MIXTRAL, STRONG, ReplaySet

DIM = 384


def clustered(n: int, seed: int = 0, spread: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around two random centres; returns (vectors, cluster of each)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, DIM))
    cluster = rng.integers(0, 2, n)
    vectors = centres[cluster] + spread * rng.normal(size=(n, DIM)) * np.sqrt(1 / DIM) * 10
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), cluster


def two_model_set(n: int = 600, seed: int = 0) -> tuple[ReplaySet, np.ndarray]:
    """GPT-4 is always right; Mixtral is right in cluster 0 only: a router that learns where
    Mixtral is enough pays ~half of always-GPT-4 at GPT-4's quality."""
    vectors, cluster = clustered(n, seed)
    scores = np.stack([np.ones(n), (cluster == 0).astype(float)], axis=1)
    data = ReplaySet(
        "toy",
        [f"question {i} about {'history' if c == 0 else 'algebra'}" for i, c in enumerate(cluster)],
        [STRONG, MIXTRAL],
        scores,
        np.tile([1.0, 0.01], (n, 1)),
        [f"c{c}" for c in cluster],
        strong=STRONG,
        weak=MIXTRAL,
        cost_unit="GPT-4 calls",
    )
    return data, vectors


def write_routellm_fixture(root: Path) -> Path:
    folder = root / "routellm"
    (folder / "mmlu_responses").mkdir(parents=True)
    with open(folder / "gsm8k_responses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", MIXTRAL, STRONG])
        for i in range(30):
            writer.writerow([f"What is {i} plus {i}?", str(i % 3 == 0), "True"])
        writer.writerow(["What is 0 plus 0?", "True", "True"])  # a duplicate prompt
    (folder / "gsm8k_contaminated_prompts.jsonl").write_text(
        json.dumps({"eval_prompt": "What is 1 plus 1?"}) + "\n"
    )
    return root
