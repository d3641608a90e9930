"""Cheaper judges that can stand in for the supervisor where they agree with it (delegation).

All three score an answer from evidence the router already paid for, so they cost (almost) nothing:

- ``ensemble``: a confidence-weighted vote of the answers given to the same query. Each model votes
  for its own answer with weight log(p / (1 - p)), p its track record in the query's neighbourhood
  (mean supervisor score), so one reliable model outweighs two weak ones that agree; the score is
  the share of the vote the answer's side gets. A lone answer scores its model's track record.
- ``model``: a promoted teacher/TA as judge. Its own answer to the query is the reference (taken
  from the fan-out when it answered; else asked, and billed); the score is the reference judge's
  exact-match/F1 blend against it.
- ``verifier``: a small learned verifier: logistic regression on four features of the answer in
  its context (the model's track record, the ensemble vote, agreement with the most trusted other
  answer, whether there was any other answer), trained nightly on (query, answer, supervisor
  score) triples. Why so small: a night yields a few hundred triples, the features are what decides
  agreement, and a logistic model is calibrated by construction, fits in milliseconds and cannot
  memorise the night; a text cross-encoder would need far more labels and CPU than a night has.

Context comes in ``JudgeRequest.peers`` (the other answers, model -> text) and ``trust`` (model ->
track record), filled by ``academy.judges.delegation.JudgePanel``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from academy.backends.base import Backend, BackendOverloaded, BackendTimeout
from academy.config import JudgeConfig
from academy.judges.base import JUDGE_CLS, Judge, Judgement, JudgeRequest
from academy.judges.reference import reference_scores

DEFAULT_TRUST = 0.5  # a model with no track record in the neighbourhood: an uninformative vote
TRUST_CLIP = (0.05, 0.99)
VERIFIER_FEATURES = ("trust", "vote", "agrees_with_best", "has_peers")


def agreements(pairs: list[tuple[str, str]]) -> list[bool]:
    """Whether each (answer, other answer) pair says the same thing (normalised exact match)."""
    if not pairs:
        return []
    scores = reference_scores([a for a, _ in pairs], [b for _, b in pairs], em_weight=1.0)
    return [s >= 1.0 for s in scores]


def _weight(trust: float) -> float:
    p = min(max(trust, TRUST_CLIP[0]), TRUST_CLIP[1])
    return max(math.log(p / (1 - p)), 0.0)  # worse than a coin flip: no vote


def vote_features(request: JudgeRequest, same: dict[str, bool]) -> dict[str, float]:
    """The verifier's features (the ensemble's vote among them) for one answer, given which of the
    other answers agree with it (``same``: model -> agrees)."""
    trust = request.trust.get(request.model, DEFAULT_TRUST)
    weights = {m: _weight(request.trust.get(m, DEFAULT_TRUST)) for m in same}
    own = _weight(trust)
    total = own + sum(weights.values())
    vote = (own + sum(w for m, w in weights.items() if same[m])) / total if total > 0 and same else trust
    best = max(same, key=lambda m: (request.trust.get(m, DEFAULT_TRUST), m), default=None)
    return {
        "trust": trust,
        "vote": vote,
        "agrees_with_best": float(same[best]) if best else 0.5,
        "has_peers": float(bool(same)),
    }


def batch_features(requests: list[JudgeRequest]) -> list[dict[str, float]]:
    """``vote_features`` for a batch, with one metric call for every answer/peer pair."""
    pairs = [(r.answer, text) for r in requests for text in r.peers.values()]
    flags = iter(agreements(pairs))
    return [vote_features(r, {m: next(flags) for m in r.peers}) for r in requests]


@JUDGE_CLS.register("ensemble")
class EnsembleJudge(Judge):
    """Confidence-weighted agreement of the query's answers (no options; ``cost_per_call`` usually 0)."""

    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return [
            Judgement(round(f["vote"], 4), self.config.cost_per_call, self.name, detail=f)
            for f in batch_features(requests)
        ]


@JUDGE_CLS.register("verifier")
class VerifierJudge(Judge):
    """Logistic regression over ``VERIFIER_FEATURES``. Options: ``weights`` (len(features) + 1, bias
    last), set nightly from the delegation state; without weights it scores like ``ensemble``."""

    def __init__(self, config: JudgeConfig, home: Path | None = None, **_: Any) -> None:
        super().__init__(config, home)
        weights = config.options.get("weights")
        self.weights = np.asarray(weights, dtype=np.float64) if weights is not None else None

    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        features = batch_features(requests)
        scores = verifier_scores(self.weights, features)
        return [
            Judgement(round(s, 4), self.config.cost_per_call, self.name, detail=f)
            for s, f in zip(scores, features, strict=True)
        ]


def verifier_scores(weights: np.ndarray | None, features: list[dict[str, float]]) -> list[float]:
    if weights is None:
        return [f["vote"] for f in features]
    x = np.array([[f[k] for k in VERIFIER_FEATURES] for f in features], dtype=np.float64).reshape(
        -1, len(VERIFIER_FEATURES)
    )
    z = x @ weights[:-1] + weights[-1]
    return (1.0 / (1.0 + np.exp(-z))).tolist()


@JUDGE_CLS.register("model")
class ModelJudge(Judge):
    """A promoted teacher/TA as judge. Options: ``model`` (a configured model's name),
    ``exact_match_weight`` (0.7). Its answer from ``peers`` costs nothing; else it is asked and
    billed its answer's cost (``backends`` passed by the panel)."""

    def __init__(
        self, config: JudgeConfig, home: Path | None = None, backends: dict[str, Backend] | None = None
    ) -> None:
        super().__init__(config, home)
        if not config.options.get("model"):
            raise ValueError("the model judge needs options.model (the teacher or TA that judges)")
        self.model = str(config.options["model"])
        self.em_weight = float(config.options.get("exact_match_weight", 0.7))
        self.backends = backends or {}

    @property
    def name(self) -> str:
        return f"model:{self.model}"

    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        references: list[str | None] = []
        costs: list[float] = []
        for request in requests:
            reference, cost = await self._reference(request)
            references.append(reference)
            costs.append(cost)
        known = [i for i, ref in enumerate(references) if ref is not None]
        scores = dict(
            zip(
                known,
                reference_scores(
                    [requests[i].answer for i in known], [references[i] for i in known], self.em_weight
                ),
            )
        )
        return [
            Judgement(round(scores[i], 4), costs[i], self.name)
            if i in scores
            else Judgement(None, costs[i], self.name, error=f"{self.model} gave no answer to judge against")
            for i in range(len(requests))
        ]

    async def _reference(self, request: JudgeRequest) -> tuple[str | None, float]:
        if request.model == self.model:
            return None, 0.0  # a model never judges its own answer
        if self.model in request.peers:
            return request.peers[self.model], 0.0
        backend = self.backends.get(self.model)
        if backend is None:
            return None, 0.0
        try:
            [completion] = await backend.agenerate([request.query])
        except (BackendOverloaded, BackendTimeout):  # back-pressure: no reference, so no score
            return None, 0.0
        return (None if completion.error else completion.text), float(completion.cost or 0.0)
