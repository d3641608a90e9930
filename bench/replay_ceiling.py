"""What the learned router's model family can reach offline, with every outcome known.

``python -m bench.replay_ceiling`` (after ``academy bench replay`` has cached the embeddings) prints:

* MMLU and GSM8K: cost saved at 95% of GPT-4's quality when the heads are trained on 5-fold splits of
  *all* outcomes (no exploration cost, full feedback), and on MMLU with 500 / 1,500 / 3,000 training
  queries; routing sends a query to GPT-4 when its predicted gain is among the largest.
* RouterBench: quality and cost share of the heads' argmax on the test split after fitting on the
  whole train split (the prior traffic), for l2 in {0.3, 1, 3}.

These bound what online learning can add: the replay's gap to them is the price of learning online.
"""

from __future__ import annotations

import sys

import numpy as np

from academy.config import load_config
from academy.replay import metrics as m
from academy.replay.sets import ReplaySet, load_set
from academy.routing.learned_router import JudgedMatrix, fit_learned_router
from bench.replay import CachedEmbeddings


def gain_curve(gain: np.ndarray, strong: np.ndarray, weak: np.ndarray, steps: int = 200) -> list[m.Point]:
    """Send the queries with the largest predicted gain to the strong model, k at a time."""
    order, n = np.argsort(-gain), len(gain)
    points = []
    for k in np.linspace(0, n, steps + 1).astype(int):
        chosen = np.zeros(n, bool)
        chosen[order[:k]] = True
        points.append(m.Point(k / n, float(np.where(chosen, strong, weak).mean())))
    return points


def predicted_gain(data: ReplaySet, vectors: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    model = fit_learned_router(JudgedMatrix(vectors[train], data.scores[train], data.models))
    predicted = model.predict(vectors[test])
    return predicted[:, model.models.index(data.strong)] - predicted[:, model.models.index(data.weak)]


def two_model_ceiling(data: ReplaySet, vectors: np.ndarray, seed: int = 0) -> None:
    strong, weak = data.scores[:, data.column(data.strong)], data.scores[:, data.column(data.weak)]
    folds = np.random.default_rng(seed).integers(0, 5, len(data))
    gain = np.zeros(len(data))
    for fold in range(5):
        gain[folds == fold] = predicted_gain(data, vectors, folds != fold, folds == fold)
    saved = m.saved_at(gain_curve(gain, strong, weak), 0.95, float(strong.mean()))
    print(f"{data.name}: 5-fold, all outcomes known: saved at 95% = {saved:.1%}")
    if len(data) < 5000:
        return
    order = np.random.default_rng(seed).permutation(len(data))
    for size in (500, 1500, 3000):
        train, test = order[:size], order[size:]
        curve = gain_curve(predicted_gain(data, vectors, train, test), strong[test], weak[test])
        print(
            f"{data.name}: {size} training queries: saved at 95% = {m.saved_at(curve, 0.95, float(strong[test].mean())):.1%}"
        )


def argmax_ceiling(data: ReplaySet, vectors: np.ndarray, prior_vectors: np.ndarray) -> None:
    prior = data.prior
    scores, costs = np.nan_to_num(data.scores), data.costs
    strong_cost = costs[:, data.column(data.strong)].sum()
    for l2 in (0.3, 1.0, 3.0):
        model = fit_learned_router(JudgedMatrix(prior_vectors, prior.scores, prior.models), l2=l2)
        predicted = model.predict(vectors)[:, [model.models.index(name) for name in data.models]]
        pick = predicted.argmax(axis=1)
        rows = np.arange(len(pick))
        print(
            f"{data.name}: argmax of heads fitted on the train split (l2 {l2}): quality "
            f"{scores[rows, pick].mean():.4f} at {costs[rows, pick].sum() / strong_cost:.1%} of "
            f"{data.strong}'s cost (its quality {data.mean_quality(data.strong):.4f})"
        )


def main() -> None:
    cfg = load_config(sys.argv[1] if len(sys.argv) > 1 else None)
    embeddings = CachedEmbeddings(cfg, cfg.replay.out / "cache")
    try:
        for name in ("mmlu", "gsm8k"):
            data = load_set(name, cfg.replay.data_dir)
            two_model_ceiling(data, embeddings(data))
        routerbench = load_set("routerbench", cfg.replay.data_dir)
        argmax_ceiling(routerbench, embeddings(routerbench), embeddings(routerbench.prior))
    finally:
        embeddings.close()


if __name__ == "__main__":
    main()
