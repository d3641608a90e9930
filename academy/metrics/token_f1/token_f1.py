"""Token F1: harmonic mean of token precision and recall after normalisation (SQuAD's F1).

A local `evaluate` module (loaded by path, no hub access). It gives partial credit where exact
match gives none, e.g. a sorted list with one element out of place.
"""

import collections
import re
import string

import datasets
import evaluate

_DESCRIPTION = "Mean token-level F1 between predictions and references."
_KWARGS_DESCRIPTION = "predictions: list of str; references: list of str. Returns f1 (mean) and scores."


def normalize_tokens(text):
    """Lowercase, strip punctuation and English articles, split on whitespace."""
    text = text.lower()
    text = "".join(ch if ch not in set(string.punctuation) else " " for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction, reference):
    pred, ref = normalize_tokens(prediction), normalize_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TokenF1(evaluate.Metric):
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
        scores = [token_f1(p, r) for p, r in zip(predictions, references)]
        return {"f1": sum(scores) / len(scores) if scores else 0.0, "scores": scores}
