"""How many steps does a night's candidate need? The evidence behind academy/evolution/step_budget.py.

From a finished demo home, one candidate of its last night is trained again with each ``--steps``,
from the weights it started from that night (its ``carried`` copy when it had one, else its base),
on the same datasets and gaps, through the night's own functions (``steps.distill`` and
``steps.evaluate``) in a copy of the home. For each it prints the training seconds, the held-out
exact match on its gaps, and how many held-out answers it was sure of (lowest token probability
>= each of the router's cascade thresholds) and how many of those were right: what the gate's
selective check reads.

Run: ``.venv/bin/python bench/night_steps.py --home /tmp/d0 --student student-5 --steps 100,300``
(about half a minute per 100 steps on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from academy.config import load_config
from academy.evolution import steps as night
from academy.evolution.layout import NightLayout
from academy.evolution.steps import MODEL_DIR


def retrain(home: Path, student: str, step_counts: list[int]) -> list[dict[str, object]]:
    """One row per step count: seconds, held-out exact match, and (sure, right) per threshold."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="academy-night-steps-") as scratch:
        copy = Path(scratch) / "home"
        shutil.copytree(home, copy, symlinks=True)
        cfg = load_config(
            copy / "academy.yaml", {"paths": {"home": str(copy), "data": str(copy / "datasets")}}
        )
        work = NightLayout.of(cfg).candidate(student)
        record = json.loads((work / "train.json").read_text())
        start = work / "carried" if record.get("carried") else Path(record["base"])
        if not (start / "config.json").is_file():
            raise SystemExit(f"{start} holds no weights: is {home} a finished demo home?")
        thresholds = cfg.router.evidence.defer_thresholds
        for count in step_counts:
            # distill carries on from a refused candidate it finds in work/model: leave there the
            # weights the night started from (its carried copy), or nothing, so no count trains on
            # top of the night's candidate or of the previous count's
            shutil.rmtree(work / MODEL_DIR, ignore_errors=True)
            if record.get("carried"):
                shutil.copytree(start, work / MODEL_DIR)
            trained = night.distill(cfg, student, record["gaps"], spawn=record["spawn"], steps=count)
            night.evaluate(cfg, student)
            result = json.loads((work / "eval.json").read_text())["candidate"]
            held_out = list(night.held_out(cfg, record["gaps"])[0]["query_id"])
            sure = {
                t: [result["scores"][q] for q in held_out if result["confidences"].get(q, 0.0) >= t]
                for t in thresholds
            }
            rows.append(
                {
                    "steps": count,
                    "train_seconds": round(trained["train_seconds"], 1),
                    "gap_exact_match": result["gap_score"],
                    "sure_right": {t: (len(v), int(sum(v))) for t, v in sure.items()},
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True, help="a finished demo home")
    parser.add_argument(
        "--student", required=True, help="a candidate of its last night (nightly/candidates/)"
    )
    parser.add_argument("--steps", default="100,300", help="comma-separated step counts")
    args = parser.parse_args()
    counts = [int(x) for x in args.steps.split(",")]
    for row in retrain(args.home, args.student, counts):
        sure = "; ".join(f">={t}: {k} sure, {r} right" for t, (k, r) in row["sure_right"].items())
        print(
            f"{args.student} {row['steps']} steps: {row['train_seconds']} s, held-out exact match "
            f"{row['gap_exact_match']:.3f} ({sure})"
        )


if __name__ == "__main__":
    main()
