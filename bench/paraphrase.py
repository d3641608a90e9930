"""Does paraphrase practice teach? The evidence behind academy/evolution/paraphrase.py.

From a finished demo home (its last night's distillation datasets), for each school domain (the
label is used here only to group and measure, never by the system):

* the practice rows the domain's logged training rows give, and how many of them carry the school's
  answer for their new query (the practice's precision: it repeats logged answers, teacher errors
  included);
* for ``--train`` domains: the home's day-0 student (``students/student-1``) trained ``--steps`` SFT
  steps on the logged rows alone, then on the logged rows plus their practice, each scored by exact
  match on the domain's held-out queries (all of them, and those answered with confidence >= 0.5).

Run: ``.venv/bin/python bench/paraphrase.py --home /tmp/d0 [--train capitals] [--steps 300]``
(about a minute per trained domain on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from academy.backends.reference import load_reference_source
from academy.config import load_config
from academy.evolution.paraphrase import Logged, paraphrases
from academy.evolution.students import hf_completions
from models.student import load_student
from models.train import sft_train


def precision(rows: list[Logged], practice: list[Logged], home: Path) -> tuple[int, int]:
    """(practice rows the school parses, of which carry its answer)."""
    source = load_reference_source("school", home)
    hits = [source.lookup(p.query) for p in practice]
    parsed = [(p, h) for p, h in zip(practice, hits) if h is not None]
    return len(parsed), sum(h.reference.strip() == p.answer.strip() for p, h in parsed)


def held_out_score(
    home: Path, rows: list[Logged], held_out: pd.DataFrame, steps: int, lr: float, max_length: int
) -> str:
    """Exact match on ``held_out`` after ``steps`` of SFT from the day-0 student on ``rows``."""
    model, tokenizer = load_student(home / "students" / "student-1")
    with tempfile.TemporaryDirectory() as scratch:
        sft_train(
            model,
            tokenizer,
            [(r.query, r.answer, r.reasoning) for r in rows],
            Path(scratch),
            steps,
            lr,
            64,
            max_length=max_length,
        )
        out = Path(scratch) / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        for meta in (home / "students" / "student-1").glob("*.json"):
            if not (out / meta.name).exists():
                shutil.copy(meta, out)
        completions = hf_completions(out, 88)(list(held_out["query"]))
    right = [c.text.strip() == a.strip() for c, a in zip(completions, held_out["answer"])]
    sure = [r for r, c in zip(right, completions) if (c.confidence or 0.0) >= 0.5]
    return f"{sum(right)}/{len(right)} right, {sum(sure)} of {len(sure)} at confidence >= 0.5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, help="a finished `academy demo --home` directory")
    parser.add_argument(
        "--train", action="append", default=[], help="a domain to train on, alone and with practice"
    )
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    home = Path(args.home)
    cfg = load_config(home / "academy.yaml")
    distill = home / "datasets" / "distill"
    train, held = pd.read_parquet(distill / "train.parquet"), pd.read_parquet(distill / "eval.parquet")
    exclude = set(held["query"]) | set(pd.read_parquet(distill / "regression.parquet")["query"])
    for domain, group in train.groupby("domain"):
        rows = [Logged(q, a, r) for q, a, r in zip(group["query"], group["answer"], group["reasoning"])]
        practice = paraphrases(
            rows, exclude=exclude, limit=int(cfg.evolution.distill.paraphrase_ratio * len(rows))
        )
        parsed, right = precision(rows, practice, home)
        line = f"{domain}: {len(rows)} logged rows, {len(practice)} practice rows ({right} of {parsed} carry the school's answer)"
        if domain in args.train:
            domain_held = held[held["domain"] == domain]
            lr, length = cfg.student.learning_rate, cfg.student.max_length
            line += f" | {args.steps} steps, logged only: {held_out_score(home, rows, domain_held, args.steps, lr, length)}"
            line += f"; with practice: {held_out_score(home, rows + practice, domain_held, args.steps, lr, length)}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
