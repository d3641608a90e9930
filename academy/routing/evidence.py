"""What each model version is known to get right near a query: judged evidence that does not dilute.

Why not the judge scores carried by the k nearest past *queries* (``router.estimator: knn``): most
queries are served by the teacher and never judged, so as traffic grows the nearest queries fill
with unjudged near-duplicates and a student's judged record thins out of the neighbourhood; the
router then falls back to the teacher although the student is right (docs/design-notes.md, "Each
model's own judged answers, not the nearest queries").

Here the evidence is indexed on its own: one row per *judged answer* (model, version, the query's
embedding, the score, when), from every judged source — fan-out, shadowing, exploration, online
monitoring, the nightly scorer's samples and the nightly evaluation of a promoted version. The
router asks, per model, for the ``k`` nearest judged answers *of that model*; unjudged traffic never
enters, so 10,000 teacher-served near-duplicates change nothing.

The estimate is a Beta posterior over the model's success rate near the query:

* each row weighs ``kernel(similarity) x recency x version`` — similarity ramps linearly from 0 at
  ``min_similarity`` to 1 at 1.0, and a row in the query's *region* weighs at least
  ``region_weight`` however far its cosine (below); recency halves every ``half_life`` of newer judged evidence
  nearby (kernel-weighted: far-away traffic does not age it), so a model that turns wrong loses its
  traffic after a bounded number of judged samples (:func:`samples_to_lose`); a row earned by
  another version of the model counts ``other_version_weight``;
* the prior is the learned router's prediction counted as ``prior_weight`` pseudo-observations
  (uniform Beta(1, 1) scaled when there is none);
* the router serves a cheaper model only when the posterior's lower bound (quantile
  ``1 - confidence``) clears the quality floor, and spends judged exploration where the posterior
  straddles the floor, with probability proportional to its spread times the saving
  (:func:`explore_probability`);
* a model that says how sure it is (an hf student's :attr:`Completion.confidence`) is also
  estimated on its *confident* answers only: one posterior per ``defer_thresholds`` entry, over
  the rows whose confidence cleared it. Where one clears the floor the router cascades: it asks
  the student, serves its answer if the answer's confidence clears that threshold, and otherwise
  defers to the next student of the cascade or the teacher (:func:`deferral_choice`; which student
  is asked first weighs the share of its answers here that clear the threshold, :func:`coverage`).
  A student right on 75% of a neighbourhood can so serve the 70% it is sure of at teacher quality
  instead of none of it. The prior of these
  posteriors is the model's success rate at that confidence over its ``k`` nearest judged answers,
  however far (:func:`calibration`), worth ``calibration_weight`` rows, or as many as the confident
  answers it rests on where the neighbourhood's own record does not prove the model short
  (:func:`confident_posterior`).

The posterior's arithmetic (these functions) lives in academy/routing/posteriors.py.

Regions: a sentence embedding does not keep one kind of query together by cosine. In the demo's
traffic, two queries of one kind with other operands ("Reverse the word bottle." and "... chicken.")
sit at a median cosine of 0.34-0.63 by kind (reversal 0.39: below the ramp's start), queries of
different kinds at 0.17-0.39. The
similarity ramp alone so left a student that was right on 132 of 132 confident reversal answers with
about two answers' worth of evidence near each new reversal query, and the router served it on a
lower bound that barely cleared the floor. k-means over the same embeddings separates the kinds
(clusters over 99% pure from 750 queries on), so the index clusters its own rows (every
``region_every`` new judged answers, on the newest ``region_sample``; learned from the traffic, not
from any label) and counts a model's judged answers in the query's region as neighbours. Unjudged
traffic still never enters, and recency still ages a region's rows as newer judged rows arrive there.

The index lives in memory (numpy, brute-force cosine over a model's judged rows): it is loaded from
the traffic store when the router starts and grows as the router judges.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from academy.clustering import choose_k, kmeans
from academy.config import EvidenceConfig
from academy.routing.posteriors import (
    Cascade,
    Posterior,
    calibration,
    confident_posterior,
    coverage,
    deferral_choice,
    evidence_weights,
    posterior,
)
from academy.store import TrafficStore


@dataclass
class _Rows:
    """One (tenant, model)'s judged rows, grown by doubling so appends are amortised O(1)."""

    dim: int
    size: int = 0
    embeddings: np.ndarray = field(default=None)  # type: ignore[assignment]
    scores: np.ndarray = field(default=None)  # type: ignore[assignment]
    seq: np.ndarray = field(default=None)  # type: ignore[assignment]
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]  # NaN: not given
    region: np.ndarray = field(default=None)  # type: ignore[assignment]  # -1: not clustered yet
    versions: list[str | None] = field(default_factory=list)
    total: float = 0.0  # sum of the scores: the mean without a scan (the quality budget asks per request)

    def __post_init__(self) -> None:
        self.embeddings = np.zeros((64, self.dim), np.float32)
        self.scores = np.zeros(64, np.float32)
        self.seq = np.zeros(64, np.int64)
        self.confidence = np.full(64, np.nan, np.float32)
        self.region = np.full(64, -1, np.int64)

    def append(
        self,
        embedding: np.ndarray,
        score: float,
        seq: int,
        version: str | None,
        confidence: float,
        region: int,
    ) -> None:
        if self.size == len(self.scores):
            grow = len(self.scores) * 2
            self.embeddings = np.resize(self.embeddings, (grow, self.dim))
            self.scores, self.seq = np.resize(self.scores, grow), np.resize(self.seq, grow)
            self.confidence, self.region = np.resize(self.confidence, grow), np.resize(self.region, grow)
        self.embeddings[self.size], self.scores[self.size], self.seq[self.size] = embedding, score, seq
        self.confidence[self.size], self.region[self.size] = confidence, region
        self.versions.append(version)
        self.total += score
        self.size += 1


@dataclass(frozen=True)
class Judged:
    """One judged answer, as the index stores it."""

    tenant: str
    model: str
    version: str | None
    embedding: np.ndarray
    score: float
    order: float = 0.0  # when it was judged (any increasing number: a timestamp); ties keep insertion order
    confidence: float | None = None  # the model's own confidence in the answer (None: not given)


class EvidenceIndex:
    """Judged answers by (tenant, model), searched by cosine similarity. Thread-safe appends."""

    def __init__(self, config: EvidenceConfig, dim: int = 384) -> None:
        self.config, self.dim = config, dim
        self._rows: dict[tuple[str, str], _Rows] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._centroids: np.ndarray | None = None  # (regions, dim), unit rows
        self._since_regions = 0  # judged answers added since the last clustering

    def __len__(self) -> int:
        return sum(r.size for r in self._rows.values())

    def add_many(self, items: Iterable[Judged]) -> int:
        """Append judged answers (oldest first within the call, ordered by ``order``)."""
        ordered = sorted(items, key=lambda j: j.order)
        with self._lock:
            for item in ordered:
                if item.score is None or not math.isfinite(item.score):
                    continue
                vector = np.asarray(item.embedding, np.float32).reshape(-1)
                norm = float(np.linalg.norm(vector))
                if norm == 0 or vector.shape[0] != self.dim:
                    continue
                rows = self._rows.setdefault((item.tenant, item.model), _Rows(self.dim))
                self._seq += 1
                self._since_regions += 1
                confidence = np.nan if item.confidence is None else float(item.confidence)
                vector = vector / norm
                rows.append(
                    vector, float(item.score), self._seq, item.version, confidence, self._region_of(vector)
                )
            if self.config.region_weight > 0 and self._since_regions >= self.config.region_every:
                self._recluster()
        return len(ordered)

    def mean_score(self, tenant: str, model: str) -> float | None:
        """The mean of every judged score of ``model`` for ``tenant`` (all versions, anywhere): its
        quality as the judge sees it overall; None without judged answers."""
        with self._lock:
            rows = self._rows.get((tenant, model))
            if rows is None or rows.size == 0:
                return None
            return rows.total / rows.size

    def region(self, embedding: np.ndarray) -> int:
        """The region a query falls in (-1: none yet, or unlike all judged traffic)."""
        query = np.asarray(embedding, np.float32).reshape(-1)
        with self._lock:
            return self._region_of(query / (float(np.linalg.norm(query)) or 1.0))

    def _region_of(self, vector: np.ndarray) -> int:
        """The nearest region centroid's index; -1 before the first clustering, or when even the
        nearest centroid is below ``min_similarity`` (a query unlike all judged traffic has no region)."""
        if self._centroids is None:
            return -1
        return int(self._regions_of(vector[None, :])[0])

    def _regions_of(self, vectors: np.ndarray) -> np.ndarray:
        sims = vectors @ self._centroids.T
        nearest = np.argmax(sims, axis=1)
        close = sims[np.arange(len(vectors)), nearest] >= self.config.min_similarity
        return np.where(close, nearest, -1)

    def _recluster(self) -> None:
        """k-means over the newest ``region_sample`` judged answers (all models; caller holds the
        lock), then every row's region. Seeded: the same rows give the same regions."""
        self._since_regions = 0
        live = [r for r in self._rows.values() if r.size]
        if not live:
            return
        vectors = np.concatenate([r.embeddings[: r.size] for r in live])
        order = np.argsort(-np.concatenate([r.seq[: r.size] for r in live]), kind="stable")
        sample = vectors[order[: self.config.region_sample]]
        k = choose_k(len(sample), 0, self.config.max_regions)
        if k < 2:
            return
        _, centroids = kmeans(sample, k)
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self._centroids = (centroids / np.clip(norms, 1e-12, None)).astype(np.float32)
        for r in live:
            r.region[: r.size] = self._regions_of(r.embeddings[: r.size])

    def add(
        self,
        tenant: str,
        model: str,
        version: str | None,
        embedding: np.ndarray,
        score: float,
        confidence: float | None = None,
    ) -> None:
        self.add_many([Judged(tenant, model, version, embedding, score, confidence=confidence)])

    def estimate(
        self,
        tenant: str,
        model: str,
        embedding: np.ndarray,
        version: str | None,
        prior: float | None = None,
        prior_weight: float = 0.0,
    ) -> Posterior:
        """The posterior of ``model`` (serving ``version``) near ``embedding`` for ``tenant``."""
        sims, scores, same, _ = self._nearest(tenant, model, embedding, version)
        return posterior(sims, scores, same, self.config, prior, prior_weight)

    def estimate_deferral(
        self,
        tenant: str,
        model: str,
        embedding: np.ndarray,
        version: str | None,
        floor: float,
        min_evidence: float = 1.0,
        prior: float | None = None,
        prior_weight: float = 0.0,
    ) -> Cascade:
        """The model's success rate near ``embedding`` on the answers whose confidence clears each
        of ``config.defer_thresholds`` (0: every answer), the threshold a cascade should use here
        (:func:`deferral_choice`) and the share of its answers expected to clear it
        (:func:`coverage`). Rows without a confidence count only at 0."""
        sims, scores, same, confidence = self._nearest(tenant, model, embedding, version)
        prior_weight = prior_weight if prior is not None else 0.0
        candidates = [(0.0, posterior(sims, scores, same, self.config, prior, prior_weight), prior_weight)]
        thresholds = sorted({t for t in self.config.defer_thresholds if t > 0})
        version_weight = np.where(same, 1.0, self.config.other_version_weight)
        for threshold, rate in calibration(scores, confidence, version_weight, thresholds).items():
            kept = confidence >= threshold  # NaN (not given) never clears a threshold
            post, weight = confident_posterior(
                sims[kept],
                scores[kept],
                same[kept],
                float(version_weight[kept].sum()),
                rate,
                self.config,
                floor,
            )
            candidates.append((threshold, post, weight))
        threshold, post, weight = deferral_choice(candidates, floor, min_evidence)
        share = coverage(evidence_weights(sims, same, self.config), confidence, threshold)
        return Cascade(threshold, post, weight, share)

    def _nearest(
        self, tenant: str, model: str, embedding: np.ndarray, version: str | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The model's ``k`` judged rows nearest ``embedding`` and its ``k`` newest rows in the
        query's region, newest first: similarities (a region row's raised to where the kernel gives
        ``region_weight``), scores, same-version flags and confidences (NaN: not given)."""
        rows = self._rows.get((tenant, model))
        if rows is None or rows.size == 0:
            empty = np.zeros(0)
            return empty, empty, empty.astype(bool), empty
        query = np.asarray(embedding, np.float32).reshape(-1)
        query = query / (float(np.linalg.norm(query)) or 1.0)
        with self._lock:
            n = rows.size
            embeddings, scores, seq = rows.embeddings[:n], rows.scores[:n], rows.seq[:n]
            confidence, versions, regions = rows.confidence[:n], rows.versions[:n], rows.region[:n]
            region = self._region_of(query) if self.config.region_weight > 0 else -1
        sims = embeddings @ query
        k = min(self.config.k, n)
        nearest = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
        if region >= 0:
            there = regions == region
            in_region = np.flatnonzero(there)
            newest_there = in_region[np.argsort(-seq[in_region], kind="stable")[:k]]
            nearest = np.union1d(nearest, newest_there)
            m = self.config.min_similarity
            raised = np.float32(m + self.config.region_weight * (1.0 - m))
            sims = np.where(there, np.maximum(sims, raised), sims)
        newest_first = nearest[np.argsort(-seq[nearest], kind="stable")]
        same = np.array([versions[i] == version for i in newest_first], dtype=bool)
        return sims[newest_first], scores[newest_first], same, confidence[newest_first].astype(np.float64)


def load_from_store(store: TrafficStore, index: EvidenceIndex) -> int:
    """Every judged answer the store holds into ``index`` (:func:`judged_answers`); returns how many rows were added."""
    return index.add_many(judged_answers(store))


def judged_answers(store: TrafficStore, before: pd.Timestamp | None = None) -> list[Judged]:
    """Every judged answer the store holds (online judgements, the nightly scorer's late scores,
    nightly evaluation rows), oldest first; only those logged before ``before`` when given (what
    the router knew at that moment: bench/route_day.py)."""
    answers = store.answers_frame(
        columns=["id", "query_id", "ts", "tenant", "model", "version", "confidence", "judge_score", "error"]
    )
    judged = answers[answers["judge_score"].notna() & answers["error"].isna()]
    late = store.scores_frame(columns=["id", "query_id", "ts", "tenant", "model", "judge_score", "error"])
    late = late[late["judge_score"].notna() & late["error"].isna()]
    if len(late):  # a late score is for an answer row: it carries that answer's version and confidence
        late = late.merge(answers[["id", "version", "confidence"]], on="id", how="left")
    rows = pd.concat([judged, late], ignore_index=True)
    if before is not None and len(rows):
        rows = rows[rows["ts"] < before]
    if rows.empty:
        return []
    queries = store.queries_frame(columns=["id", "embedding"])
    embedding = dict(zip(queries["id"], queries["embedding"]))
    rows = rows[rows["query_id"].isin(embedding)].sort_values("ts", kind="stable")
    return [
        Judged(
            r.tenant,
            r.model,
            None if pd.isna(r.version) else str(r.version),
            np.asarray(embedding[r.query_id], np.float32),
            float(r.judge_score),
            float(i),
            None if pd.isna(r.confidence) else float(r.confidence),
        )
        for i, r in enumerate(rows.itertuples(index=False))
    ]
