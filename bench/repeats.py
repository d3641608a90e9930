"""How much of a demo week repeats itself word for word: the traffic recall can serve.

Plans the same week ``academy demo`` runs (the school's, or a trace cut into days with
``--traffic``) and prints, per day, the share of queries whose normalised text (case and spaces
ignored, as academy/routing/recall.py compares) an earlier query of the week (that day's included)
already had, in all and per domain: what recall could serve at most. Domains label the report only.

Run: ``.venv/bin/python bench/repeats.py --seed 0 [--traffic T.jsonl]``
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from academy.config import load_config
from academy.routing.recall import normalise
from academy.simulation.workload import plan_week


def repeat_shares(plans) -> list[tuple[int, float, dict[str, tuple[int, int]]]]:
    """Per day: (day, share of repeats, domain -> (repeats, queries))."""
    seen: set[str] = set()
    rows = []
    for plan in plans:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for example in plan.examples:
            cell = counts[example.domain or "?"]
            key = normalise(example.query)
            cell[0] += key in seen
            cell[1] += 1
            seen.add(key)
        total = sum(c[1] for c in counts.values())
        share = sum(c[0] for c in counts.values()) / total if total else 0.0
        rows.append((plan.day, share, {d: (c[0], c[1]) for d, c in sorted(counts.items())}))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traffic", type=Path, default=None)
    parser.add_argument("--config", type=Path, default=Path("academy.yaml"))
    args = parser.parse_args()
    demo = load_config(args.config).demo.model_copy(update={"seed": args.seed})
    for day, share, domains in repeat_shares(plan_week(demo, list(demo.mix), args.traffic)):
        cells = ", ".join(f"{d} {r}/{n}" for d, (r, n) in domains.items())
        print(f"day {day}: {share:5.1%} repeats ({cells})")


if __name__ == "__main__":
    main()
