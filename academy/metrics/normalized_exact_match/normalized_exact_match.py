"""Normalised exact match: 1.0 when prediction and reference agree after SQuAD-style normalisation.

A local `evaluate` module (loaded by path, no hub access). Normalisation lowercases, drops
punctuation and articles and collapses whitespace, so "Paris." and "paris" match; digits are kept.
"""

import re
import string

import datasets
import evaluate

_DESCRIPTION = "Share of predictions equal to their reference after normalisation."
_KWARGS_DESCRIPTION = (
    "predictions: list of str; references: list of str. Returns exact_match (mean) and scores."
)


def normalize_answer(text):
    """Lowercase, strip punctuation and English articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class NormalizedExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        scores = [float(normalize_answer(p) == normalize_answer(r)) for p, r in zip(predictions, references)]
        return {"exact_match": sum(scores) / len(scores) if scores else 0.0, "scores": scores}
