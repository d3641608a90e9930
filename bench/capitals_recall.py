"""What does a capitals student know, against what its gate could see?

A memorised fact cannot be guessed: a student answers a capital only if the country was in its
training set. The promotion gate sees a few held-out queries of a young region, so it can refuse a
specialist that serves part of capitals at teacher quality through the cascade. This asks a
student every country of the school in every capitals phrasing and prints, for the countries in the
home's last distillation training set and for the others, how many it gets right. It also prints the
share of all questions answered at each confidence threshold and how precise those answers are.
The school's answers measure here; nothing decides with them.

Run: ``.venv/bin/python bench/capitals_recall.py --home /tmp/d0 --model /tmp/d0/nightly/candidates/student-5/model``
(a demo home and a student directory: a night's candidate, or ``<home>/students/student-1``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from academy.backends.hf import HFBackend
from academy.config import ModelConfig, load_config
from academy.school import _TEMPLATE_TABLE, CAPITALS
from academy.school.domains import _country_display

THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


def questions(trained: str) -> tuple[list[str], list[str], np.ndarray]:
    """Every (country, phrasing): the queries, their capitals, and whether the country appears in
    ``trained`` (the training set's query text)."""
    queries, capitals, seen = [], [], []
    for country, capital in CAPITALS.items():
        name = _country_display(country)
        for _, template in _TEMPLATE_TABLE["capitals"]:
            queries.append(template.format(country=name))
            capitals.append(capital)
            seen.append(name in trained)
    return queries, capitals, np.array(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, type=Path, help="a finished `academy demo --home` directory")
    parser.add_argument("--model", required=True, help="the student's directory")
    args = parser.parse_args()
    cfg = load_config(args.home / "academy.yaml")
    options = next(m.options for m in cfg.models if m.backend == "hf")
    student = HFBackend(
        ModelConfig(
            name="probe",
            backend="hf",
            role="student",
            price_in=0,
            price_out=0,
            options={**options, "path": args.model},
        ),
        home=args.home,
    )
    student.load()
    train = pd.read_parquet(args.home / "datasets" / "distill" / "train.parquet", columns=["query"])
    queries, capitals, seen = questions(" ".join(train["query"].astype(str)))
    completions = student.generate(queries)
    right = np.array([c.text.strip() == capital for c, capital in zip(completions, capitals)])
    confidence = np.array([c.confidence if c.confidence is not None else 0.0 for c in completions])
    print(
        f"{seen.sum() // len(_TEMPLATE_TABLE['capitals'])} of {len(CAPITALS)} countries in the training set"
    )
    for label, rows in (("in training", seen), ("not in training", ~seen)):
        print(f"{label}: {int(right[rows].sum())} of {int(rows.sum())} questions right")
    for threshold in THRESHOLDS:
        sure = confidence >= threshold
        precise = f"{right[sure].mean():.3f}" if sure.any() else "-"
        print(f"confidence >= {threshold}: {sure.mean():.1%} of all questions, precision {precise}")


if __name__ == "__main__":
    main()
