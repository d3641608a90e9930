"""Evaluating a candidate: held-out gap queries plus the regression set, with the project's
``evaluate`` metric (normalised exact match against the winning answer).

The teacher is scored from its logged answers to the same queries (no new paid calls). Labels are
the judged winners, which are mostly the teacher's own answers, so the teacher's figure is an upper
reference, not an independent measurement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import datasets
import pandas as pd

from academy.judges.reference import reference_scores

Generate = Callable[[list[str]], list[str]]


def metric_safe(name: str) -> str:
    """MLflow metric names allow letters, digits, ``_ - . / `` and spaces only."""
    return re.sub(r"[^0-9A-Za-z_\-./ ]", "_", str(name)) or "_"


# The held-out exact match on the night's gaps: what a candidate is registered with (and gated on).
GAP_METRIC = "gap_exact_match"


@dataclass
class EvalResult:
    """Exact match of one model: on the gap eval set (overall and per gap) and per regression domain."""

    model: str
    version: str | None
    gap_score: float | None
    per_gap: dict[str, float]
    per_domain: dict[str, float]
    examples: int
    per_domain_n: dict[str, int] = field(default_factory=dict)  # regression examples per domain
    predictions: dict[str, str] = field(default_factory=dict, repr=False)  # query id -> answer
    scores: dict[str, float] = field(default_factory=dict, repr=False)  # query id -> exact match
    # query id -> the model's confidence in its answer (hf students), so evaluation evidence feeds
    # the router's cascade estimate as online evidence does
    confidences: dict[str, float] = field(default_factory=dict, repr=False)

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat metric names MLflow accepts (domain names come from users: unsafe characters become _)."""
        out = {f"{prefix}{GAP_METRIC}": self.gap_score} if self.gap_score is not None else {}
        out.update({f"{prefix}exact_match.{metric_safe(d)}": v for d, v in self.per_domain.items()})
        out.update({f"{prefix}gap_exact_match.{g}": v for g, v in self.per_gap.items()})
        return out

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("predictions")
        data.pop("scores")
        data.pop("confidences")
        return data


def score_predictions(
    model: str,
    version: str | None,
    predictions: dict[str, str],
    eval_set: datasets.Dataset,
    regression: datasets.Dataset,
    confidences: dict[str, float] | None = None,
) -> EvalResult:
    gap_frame = _scored(eval_set, predictions, "gap")
    domain_frame = _scored(regression, predictions, "domain")
    return EvalResult(
        model=model,
        version=version,
        gap_score=round(float(gap_frame["em"].mean()), 6) if len(gap_frame) else None,
        per_gap=_means(gap_frame, "gap"),
        per_domain=_means(domain_frame, "domain"),
        examples=len(gap_frame) + len(domain_frame),
        per_domain_n={str(k): int(v) for k, v in domain_frame.groupby("domain").size().items()},
        predictions=predictions,
        scores={
            **dict(zip(gap_frame["query_id"], gap_frame["em"])),
            **dict(zip(domain_frame["query_id"], domain_frame["em"])),
        },
        confidences=dict(confidences or {}),
    )


def _scored(data: datasets.Dataset, predictions: dict[str, str], key: str) -> pd.DataFrame:
    frame = pd.DataFrame({"query_id": data["query_id"], "answer": data["answer"], key: data[key]})
    frame = frame[frame["query_id"].isin(predictions)]
    answers = [predictions[q] for q in frame["query_id"]]
    frame["em"] = reference_scores(answers, list(frame["answer"]), em_weight=1.0)
    return frame


def _means(frame: pd.DataFrame, key: str) -> dict[str, float]:
    if frame.empty:
        return {}
    return {str(k): round(float(v), 6) for k, v in frame.groupby(key)["em"].mean().items()}


def logged_predictions(answers: pd.DataFrame, models: set[str]) -> dict[str, str]:
    """query id -> the logged answer of any of ``models`` (the teacher's, for its reference score)."""
    rows = answers[answers["model"].isin(models) & answers["error"].isna()].sort_values("id")
    return dict(zip(rows["query_id"], rows["text"]))
