"""``academy bench replay``: real LLM outcomes (RouteLLM, RouterBench, LLMRouter) through the router.

For each data set: embed its queries (cached), write its outcomes file for the ``replay`` backends
and the ``recorded`` judge, stream it through the server's router once per price weight (learning
online, every exploration and judge call charged), and measure the curve as RouteLLM does, beside
the baselines: random, always-strong, always-weak (the cheapest model), best single model, the
oracle, and the same router without its learned model. Writes ``report.md``, one PNG per set and
``results.json`` to ``replay.out``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from academy.config import AcademyConfig
from academy.embedder import Embedder, default_model_path
from academy.replay import metrics as m
from academy.replay.harness import StreamResult, replay_stream
from academy.replay.report import write_report
from academy.replay.sets import ReplaySet, load_set

# RouteLLM's README: cost saved at 95% of GPT-4's quality by its best routers, trained on Chatbot
# Arena preference data (out of domain for these benchmarks).
PUBLISHED = {
    "mmlu": 0.45,
    "gsm8k": 0.35,
    "mt_bench": 0.85,
}
PUBLISHED_SOURCE = (
    "RouteLLM README (routers trained on Chatbot Arena data augmented with a GPT-4 judge: out of domain)"
)
KNN_ONLY_WEIGHT = 0.1  # the ablation's single operating point


class CachedEmbeddings:
    """MiniLM embeddings of a set's queries exactly as the server computes them, cached on disk by
    content (model, quantisation, texts): MMLU takes minutes to embed on 2 cores, once."""

    def __init__(self, cfg: AcademyConfig, cache_dir: Path) -> None:
        self.config = cfg.embedder.model_copy(update={"threads": os.cpu_count() or 1})
        self.cache_dir = cache_dir
        self._embedder: Embedder | None = None

    def path(self, data: ReplaySet) -> Path:
        content = json.dumps([default_model_path().name, self.config.quantize, data.queries])
        return self.cache_dir / f"{data.name}-{hashlib.sha256(content.encode()).hexdigest()[:16]}.npy"

    def __call__(self, data: ReplaySet) -> np.ndarray:
        path = self.path(data)
        if path.exists():
            return np.load(path)
        self._embedder = self._embedder or Embedder(self.config)
        vectors = self._embedder.embed(data.queries)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()


def baselines(data: ReplaySet, weak: str) -> dict[str, list[m.Point]]:
    """Every baseline as operating points on the same queries."""
    singles = m.single_model_points(data.scores, data.costs, data.models, data.strong)
    by_name = {p.label: p for p in singles}
    strong, cheap = by_name[data.strong], by_name[weak]
    mean_quality = float(np.mean([p.quality for p in singles]))
    mean_cost = float(np.mean([p.cost_share for p in singles]))
    random_from = (cheap.quality, cheap.cost_share) if data.weak else (mean_quality, mean_cost)
    best = max(singles, key=lambda p: (p.quality, -p.cost_share))
    return {
        "random": m.random_points(random_from[0], strong.quality, random_from[1]),
        "always_strong": [strong],
        "always_weak": [cheap],
        "best_single": [best],
        "oracle": m.oracle_points(data.scores, data.costs, data.column(data.strong)),
        "single_models": singles,
    }


def run_set(
    cfg: AcademyConfig, data: ReplaySet, embeddings: np.ndarray, prior: np.ndarray | None, work: Path
) -> dict[str, Any]:
    """The router's curve, its kNN-only ablation and every baseline for one data set; with prior
    traffic, also the curve of a cold start (no prior traffic)."""
    outcomes = data.write_outcomes(work / f"{data.name}-outcomes.jsonl")

    def curve(config: AcademyConfig, weights: list[float], prior: np.ndarray | None) -> list[StreamResult]:
        return [
            asyncio.run(replay_stream(config, data, embeddings, outcomes, w, prior_embeddings=prior))
            for w in weights
        ]

    runs = curve(cfg, cfg.replay.price_weights, prior)
    knn_cfg = cfg.model_copy(deep=True)
    knn_cfg.router.learned.enabled = False
    [knn_only] = curve(knn_cfg, [KNN_ONLY_WEIGHT], prior)
    cold = curve(cfg, cfg.replay.price_weights, None) if prior is not None else []
    weak = data.weak or min(data.models, key=data.mean_cost)
    points = baselines(data, weak)
    strong_q, weak_q = data.mean_quality(data.strong), data.mean_quality(weak)
    best_single = points["best_single"][0]

    def policy(pts: list[m.Point]) -> dict[str, Any]:
        return {"points": [vars(p) for p in pts], "summary": m.summary(pts, weak_q, strong_q, best_single)}

    result: dict[str, Any] = {
        "n_queries": len(data),
        "cost_unit": data.cost_unit,
        "strong": data.strong,
        "weak": weak,
        "strong_quality": strong_q,
        "weak_quality": weak_q,
        "router": _curve_policy(runs, policy),
        "baselines": {
            **{name: policy(pts) for name, pts in points.items() if name != "single_models"},
            "knn_only": _curve_policy([knn_only], policy, "kNN only"),
            **({"academy_cold_start": _curve_policy(cold, policy)} if cold else {}),
        },
        "single_models": [vars(p) for p in points["single_models"]],
        "notes": _notes(cfg, data, runs),
    }
    if data.name in PUBLISHED:
        result["published"] = {"saved_at_95": PUBLISHED[data.name], "source": PUBLISHED_SOURCE}
    return result


def _points(runs: list[StreamResult], label: str = "") -> list[m.Point]:
    return [m.Point(r.cost_share, r.quality, label or f"lambda={r.price_weight}") for r in runs]


def _curve_policy(runs: list[StreamResult], policy: Any, label: str = "") -> dict[str, Any]:
    return {**policy(_points(runs, label)), "runs": [_run_record(r) for r in runs]}


def _run_record(run: StreamResult) -> dict[str, Any]:
    promoted = sum(1 for r in run.retrains if r["promoted"])
    return {
        "price_weight": run.price_weight,
        "cost_share": run.cost_share,
        "quality": run.quality,
        "routes": run.routes,
        "served": run.served,
        "judge_calls": run.judge_calls,
        "nights": len(run.retrains),
        "router_models_promoted": promoted,
        "seconds": round(run.seconds, 2),
    }


def _notes(cfg: AcademyConfig, data: ReplaySet, runs: list[StreamResult]) -> list[str]:
    replay = cfg.replay
    dropped = ", ".join(f"{v} {k}" for k, v in data.dropped.items() if v) or "none"
    nights = max(len(r.retrains) for r in runs)
    prior = (
        [
            f"the router starts from {len(data.prior)} queries of prior traffic ({data.prior.name}: the set's train "
            f"split, fanned out to every model and judged, its cost paid before the stream and not counted); "
            f"academy_cold_start is the same router starting from an empty store"
        ]
        if data.prior is not None
        else ["cold start: the router starts from an empty store (no training data from this set)"]
    )
    return prior + [
        f"{len(data)} queries (dropped: {dropped}), one shuffled stream (seed {replay.seed}) per price weight "
        f"{replay.price_weights}; cost in {data.cost_unit}",
        f"judge call = {replay.judge_cost_ratio:g} x the strong model's mean call; every fan-out answer, "
        f"exploration answer and judge call is charged",
        f"learned router retrained up to {nights} times in the stream (first after {replay.warmup_queries} "
        f"queries), each time gated on the newest {cfg.evolution.learned_router.holdout_fraction:.0%} of judged traffic",
    ]


def json_view(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``--json``: per set the router's summary keys at the top, and per baseline the same keys."""
    return {
        name: {
            **r["router"]["summary"],
            "n_queries": r["n_queries"],
            "strong_quality": r["strong_quality"],
            "weak_quality": r["weak_quality"],
            "points": r["router"]["points"],
            "runs": r["router"]["runs"],
            "baselines": {b: p["summary"] for b, p in r["baselines"].items()},
            **({"published_saved_at_95": r["published"]["saved_at_95"]} if "published" in r else {}),
        }
        for name, r in results.items()
    }


def run_replay_bench(cfg: AcademyConfig, sets: list[str], progress: bool = True) -> dict[str, Any]:
    """Every requested set; writes the report and returns the results (see ``json_view``)."""
    started = time.perf_counter()
    out = cfg.replay.out
    loaded = {name: load_set(name, cfg.replay.data_dir) for name in sets}
    embeddings = CachedEmbeddings(cfg, out / "cache")
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, data in loaded.items():
            set_started = time.perf_counter()
            prior = embeddings(data.prior) if data.prior is not None else None
            results[name] = run_set(cfg, data, embeddings(data), prior, out / "work")
            results[name]["seconds"] = round(time.perf_counter() - set_started, 1)
            if progress:
                print(
                    f"replay {name}: {len(data)} queries in {results[name]['seconds']} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        embeddings.close()
    write_report(results, out)
    (out / "results.json").write_text(json.dumps(json_view(results), indent=2))
    return {"sets": results, "seconds": round(time.perf_counter() - started, 1), "out": str(out)}
