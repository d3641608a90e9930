"""Does a student know when it is right? The evidence behind the router's cascade.

A student directory answers fresh school queries through the hf backend, exactly as the router
serves them, and each answer's :attr:`Completion.confidence` (its lowest token probability) is set
against whether the answer is right (exact match with the school's answer; the school's answer is
used here only to measure, never by the router). Per domain and over all, this prints:

* accuracy, and the AUC of confidence as a right/wrong separator (1 = perfect, 0.5 = none);
* for each of the router's ``defer_thresholds``: the share of answers at or above it, and their accuracy.

Run: ``.venv/bin/python bench/confidence.py --student <home>/students/student-1 [--per-domain 120]``
(the demo's day-0 student is ``<demo home>/students/student-1`` before the first promotion).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from academy.config import EvidenceConfig
from academy.evolution.students import hf_completions
from academy.judges.reference import reference_scores
from academy.school import School

DOMAINS = ("units", "compare", "reverse", "arithmetic", "sorting", "capitals")


def auc(right: np.ndarray, confidence: np.ndarray) -> float:
    """Probability that a right answer is more confident than a wrong one (ties count half)."""
    pos, neg = confidence[right], confidence[~right]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def calibration_row(right: np.ndarray, confidence: np.ndarray, thresholds: list[float]) -> dict:
    """Accuracy, AUC, and (share kept, accuracy of those kept) at each threshold."""
    kept = {}
    for t in thresholds:
        mask = confidence >= t
        kept[str(t)] = {
            "share": round(float(mask.mean()), 3),
            "accuracy": round(float(right[mask].mean()), 3) if mask.any() else None,
        }
    return {
        "n": int(len(right)),
        "accuracy": round(float(right.mean()), 3),
        "auc": round(auc(right, confidence), 3),
        "kept": kept,
    }


def run(student: Path, per_domain: int, seed: int, domains: list[str], max_new_tokens: int) -> dict:
    complete = hf_completions(student, max_new_tokens)
    thresholds = EvidenceConfig().defer_thresholds
    school, table, pooled = School(seed=seed), {}, ([], [])
    for domain in domains:
        examples = school.generate_domain(domain, per_domain)
        answers = complete([e.query for e in examples])
        scores = reference_scores([a.text for a in answers], [e.reference for e in examples], 1.0)
        right = np.array([s >= 0.999 for s in scores])
        confidence = np.array([a.confidence if a.confidence is not None else 0.0 for a in answers])
        table[domain] = calibration_row(right, confidence, thresholds)
        pooled[0].append(right)
        pooled[1].append(confidence)
    table["all"] = calibration_row(np.concatenate(pooled[0]), np.concatenate(pooled[1]), thresholds)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", type=Path, required=True)
    parser.add_argument("--per-domain", type=int, default=120)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--max-new-tokens", type=int, default=88)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    table = run(args.student, args.per_domain, args.seed, args.domains.split(","), args.max_new_tokens)
    if args.json:
        print(json.dumps(table, indent=2))
        return
    for domain, row in table.items():
        kept = "  ".join(
            f">={t}: {k['share']:.2f} at {k['accuracy'] if k['accuracy'] is not None else float('nan'):.2f}"
            for t, k in row["kept"].items()
        )
        print(f"{domain:<11} n={row['n']:<4} accuracy {row['accuracy']:.2f}  AUC {row['auc']:.2f}  {kept}")


if __name__ == "__main__":
    main()
