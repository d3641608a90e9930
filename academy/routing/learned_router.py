"""The learned part of the router: per-model quality heads on the query embedding.

Why this model: the router already embeds every query (MiniLM, 384-d), and the judge scores it logs
are per (query, model). One L2-regularised logistic head per model, ``P(score | embedding)``,
is RouteLLM's matrix factorisation with the model embeddings fixed to one-hot: it trains in well
under a second on tens of thousands of judged answers (L-BFGS, CPU), is calibrated (a probability
is directly an expected score, comparable with the kNN estimates and the price term), generalises
across neighbourhoods where the kNN estimate has no evidence, and is a few kB to version in MLflow.
Graded scores (0-1) are soft labels of the same cross-entropy.

A model seen too rarely to fit a head (fewer than ``min_rows`` judged answers, or one label only)
gets a constant head at its mean score, so a prediction always exists for every known model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

WEIGHTS_FILE = "quality_model.npz"  # stored file names: kept, so registered versions still load
META_FILE = "quality_model.json"
EPS = 1e-6


class LearnedRouterError(ValueError):
    """A saved quality model is missing or does not match what the router serves."""


@dataclass
class LearnedRouter:
    """``predict(embeddings)[i, j]`` = expected judge score of ``models[j]`` on query ``i``."""

    models: list[str]
    weights: np.ndarray  # (n_models, dim + 1): the last column is the bias
    rows: dict[str, int] = field(default_factory=dict)  # judged answers each head was fitted on
    params: dict[str, float] = field(default_factory=dict)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
        if x.shape[1] + 1 != self.weights.shape[1]:
            raise LearnedRouterError(
                f"embedding has {x.shape[1]} dims, the model {self.weights.shape[1] - 1}"
            )
        return _sigmoid(x @ self.weights[:, :-1].T + self.weights[:, -1])

    def predict_one(self, embedding: np.ndarray) -> dict[str, float]:
        return dict(zip(self.models, self.predict(embedding)[0].tolist()))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / WEIGHTS_FILE, weights=self.weights)
        meta = {"models": self.models, "rows": self.rows, "params": self.params}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> LearnedRouter:
        try:
            meta = json.loads((directory / META_FILE).read_text())
            weights = np.load(directory / WEIGHTS_FILE)["weights"]
        except (OSError, KeyError, ValueError) as exc:
            raise LearnedRouterError(f"no quality model at {directory}: {exc}") from None
        if weights.shape[0] != len(meta["models"]):
            raise LearnedRouterError(
                f"{directory}: {weights.shape[0]} heads for {len(meta['models'])} models"
            )
        return cls(list(meta["models"]), weights, dict(meta.get("rows", {})), dict(meta.get("params", {})))


@dataclass
class JudgedMatrix:
    """Training data: one row per judged query, one column per model, NaN where not judged."""

    embeddings: np.ndarray  # (n, dim)
    scores: np.ndarray  # (n, n_models)
    models: list[str]

    def __len__(self) -> int:
        return len(self.embeddings)

    def take(self, rows: np.ndarray) -> JudgedMatrix:
        return JudgedMatrix(self.embeddings[rows], self.scores[rows], self.models)


def judged_matrix(
    rows: Iterable[tuple[np.ndarray, Iterable[str], Iterable[float]]], dim: int = 384
) -> JudgedMatrix:
    """From (embedding, judged model names, their scores) per query. Versions are pooled: the heads
    predict what a model *name* delivers; a new version's own evidence comes from the kNN estimate."""
    vectors: list[np.ndarray] = []
    judged: list[dict[str, float]] = []
    for embedding, models, scores in rows:
        pairs = {
            m.partition("@")[0]: float(s) for m, s in zip(models, scores) if s is not None and np.isfinite(s)
        }
        if pairs:
            vectors.append(np.asarray(embedding, dtype=np.float32))
            judged.append(pairs)
    models = sorted({m for pairs in judged for m in pairs})
    scores = np.full((len(judged), len(models)), np.nan)
    for i, pairs in enumerate(judged):
        for model, score in pairs.items():
            scores[i, models.index(model)] = score
    embeddings = np.vstack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    return JudgedMatrix(embeddings, scores, models)


def fit_learned_router(
    data: JudgedMatrix, l2: float = 1.0, min_rows: int = 20, previous: LearnedRouter | None = None
) -> LearnedRouter:
    """One head per model on the rows where that model was judged; warm-started from ``previous``."""
    dim = data.embeddings.shape[1]
    weights = np.zeros((len(data.models), dim + 1))
    rows: dict[str, int] = {}
    for j, model in enumerate(data.models):
        seen = ~np.isnan(data.scores[:, j])
        x, y = data.embeddings[seen].astype(np.float64), np.clip(data.scores[seen, j], 0.0, 1.0)
        rows[model] = int(seen.sum())
        start = _previous_head(previous, model, dim)
        weights[j] = fit_logistic_head(x, y, l2, start) if _fittable(y, min_rows) else _constant_head(y, dim)
    return LearnedRouter(data.models, weights, rows, {"l2": l2, "min_rows": min_rows})


def brier(model: LearnedRouter, data: JudgedMatrix) -> float:
    """Mean squared error of the predicted scores on the judged cells (lower is better): the gate's metric."""
    predicted = predictions_for(model, data)
    seen = ~np.isnan(data.scores) & ~np.isnan(predicted)
    if not seen.any():
        return float("nan")
    return float(np.mean((predicted[seen] - data.scores[seen]) ** 2))


def predictions_for(model: LearnedRouter, data: JudgedMatrix) -> np.ndarray:
    """``model``'s predictions aligned to ``data.models`` (NaN for a model it does not know)."""
    out = np.full(data.scores.shape, np.nan)
    if len(data) == 0:
        return out
    predicted = model.predict(data.embeddings)
    for j, name in enumerate(data.models):
        if name in model.models:
            out[:, j] = predicted[:, model.models.index(name)]
    return out


def _fittable(y: np.ndarray, min_rows: int) -> bool:
    return len(y) >= min_rows and float(y.min()) < float(y.max())


def _constant_head(y: np.ndarray, dim: int) -> np.ndarray:
    mean = float(np.clip(y.mean(), EPS, 1 - EPS)) if len(y) else 0.5
    head = np.zeros(dim + 1)
    head[-1] = np.log(mean / (1 - mean))
    return head


def _previous_head(previous: LearnedRouter | None, model: str, dim: int) -> np.ndarray:
    if previous is None or model not in previous.models or previous.weights.shape[1] != dim + 1:
        return np.zeros(dim + 1)
    return previous.weights[previous.models.index(model)].copy()


def fit_logistic_head(x: np.ndarray, y: np.ndarray, l2: float, start: np.ndarray) -> np.ndarray:
    """Minimise mean cross-entropy + l2/2 * ||w||^2 / n (bias unpenalised) with L-BFGS."""
    n = len(y)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w[:-1] + w[-1]
        p = _sigmoid(z)
        value = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.dot(w[:-1], w[:-1]) / n
        residual = (p - y) / n
        grad = np.append(x.T @ residual + l2 * w[:-1] / n, residual.sum())
        return float(value), grad

    return minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 200}).x


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class GateResult:
    """Whether a candidate quality model may replace the serving one, and the figures behind it."""

    passed: bool
    candidate_brier: float
    incumbent_brier: float
    held_out: int
    reason: str

    def metrics(self) -> dict[str, float]:
        return {
            "candidate_brier": self.candidate_brier,
            "incumbent_brier": self.incumbent_brier,
            "held_out_queries": float(self.held_out),
        }


def mean_model(data: JudgedMatrix, dim: int = 384) -> LearnedRouter:
    """The router without a learned model knows each model's mean judged score, nothing per query:
    the incumbent a first candidate must beat."""
    heads = [_constant_head(col[~np.isnan(col)], dim) for col in data.scores.T]
    return LearnedRouter(list(data.models), np.vstack(heads) if heads else np.zeros((0, dim + 1)))


def train_and_gate(
    data: JudgedMatrix,
    incumbent: LearnedRouter | None,
    *,
    holdout_fraction: float = 0.2,
    margin: float = 0.0,
    l2: float = 1.0,
    min_rows: int = 20,
) -> tuple[LearnedRouter, GateResult]:
    """Fit a candidate on all but the newest ``holdout_fraction`` of judged queries (``data`` is in
    logging order) and compare its Brier score there with the incumbent's (the mean-score model
    when nothing serves yet): the same held-out traffic, so the better predictor of tomorrow wins."""
    held = max(1, int(len(data) * holdout_fraction)) if len(data) > 1 else 0
    older, newest = np.arange(len(data) - held), np.arange(len(data) - held, len(data))
    candidate = fit_learned_router(data.take(older), l2=l2, min_rows=min_rows, previous=incumbent)
    baseline = incumbent if incumbent is not None else mean_model(data.take(older), data.embeddings.shape[1])
    held_out = data.take(newest)
    cand, inc = brier(candidate, held_out), brier(baseline, held_out)
    if not held or np.isnan(cand):
        return candidate, GateResult(False, cand, inc, held, "no held-out judged traffic")
    passed = bool(np.isnan(inc) or cand < inc - margin)
    verdict = "beats" if passed else "does not beat"
    reason = f"candidate Brier {cand:.4f} {verdict} incumbent {inc:.4f} - margin {margin} on {held} queries"
    return candidate, GateResult(passed, cand, inc, held, reason)
