"""``reference``: the embedded supervisor. Scores answers against a gold reference.

Metrics are local ``evaluate`` modules (academy/metrics/), loaded by path so nothing touches the hub:
score = w * normalised exact match + (1 - w) * token F1, a 0-1 confidence that the answer is right.
The gold answer is the request's ``reference`` when given, else looked up in the reference source
(the school parses its own templates; a JSONL trace matches by text).
"""

from __future__ import annotations

import asyncio
import threading
from functools import cache
from pathlib import Path

import evaluate

from academy.backends.reference import load_reference_source
from academy.config import JudgeConfig
from academy.judges.base import JUDGE_CLS, Judge, Judgement, JudgeRequest
from academy.school import ReferenceSource

METRICS_DIR = Path(__file__).resolve().parent.parent / "metrics"
# evaluate modules keep per-instance state between add() and compute(): one caller at a time.
_METRIC_LOCK = threading.Lock()


@cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    """A local evaluate module by folder name (``normalized_exact_match``, ``token_f1``)."""
    return evaluate.load(str(METRICS_DIR / name), keep_in_memory=True)


def reference_scores(answers: list[str], references: list[str], em_weight: float) -> list[float]:
    """Blend of normalised exact match and token F1 for aligned lists.

    Calls the modules' ``_compute`` (the metric itself, written in academy/metrics/) rather than
    ``compute``: ``compute`` first writes the inputs to an Arrow dataset and hashes them with dill
    for a fingerprint, about 10 ms a call, and the router judges one request at a time (two calls
    per judged request were ~6 s of a demo day's 250 queries in a profile). Same scores."""
    if not answers:
        return []
    with _METRIC_LOCK:
        em = load_metric("normalized_exact_match")._compute(predictions=answers, references=references)[
            "scores"
        ]
        f1 = load_metric("token_f1")._compute(predictions=answers, references=references)["scores"]
    return [em_weight * e + (1 - em_weight) * f for e, f in zip(em, f1)]


@JUDGE_CLS.register("reference")
class ReferenceJudge(Judge):
    """Options: exact_match_weight (0-1), source (school | trace.jsonl), seed."""

    def __init__(self, config: JudgeConfig, home: Path | None = None, source: ReferenceSource | None = None):
        super().__init__(config, home)
        opts = config.options
        self.em_weight = float(opts.get("exact_match_weight", 0.7))
        self.source = source or load_reference_source(str(opts.get("source", "school")), self.home)

    def _reference(self, request: JudgeRequest) -> str | None:
        if request.reference is not None:
            return request.reference
        example = self.source.lookup(request.query)
        return example.reference if example else None

    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return await asyncio.to_thread(self._judge_batch, requests)

    def _judge_batch(self, requests: list[JudgeRequest]) -> list[Judgement]:
        references = [self._reference(r) for r in requests]
        known = [i for i, ref in enumerate(references) if ref is not None]
        scores = reference_scores(
            [requests[i].answer for i in known], [references[i] for i in known], self.em_weight
        )
        by_index = dict(zip(known, scores))
        cost = self.config.cost_per_call
        return [
            Judgement(round(by_index[i], 4), cost, self.name)
            if i in by_index
            else Judgement(None, 0.0, self.name, error="no reference known for this query")
            for i in range(len(requests))
        ]
