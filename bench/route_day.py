"""Re-route a finished demo's last day offline: how much would each evidence setting give the students?

A demo home (``academy demo --home H``) keeps the week's traffic store and its promoted students.
This rebuilds the router's evidence index from every judged answer logged *before* the last day
(`academy/routing/evidence.py:judged_answers`, as the router loads it),
asks each student (its last version that served that day, through the hf backend as the router
would) for its answer to each of the day's queries, and replays the router's choice per query with
the router's own functions: the best-ranked student whose cascade estimate clears the floor answers
if its confidence clears its threshold, else the next of its cascade, else the teacher. The
school's answers are used here only to measure whether a served answer was right, never to decide.

As the router does, a query the teacher serves adds free evidence: the cascade's unsure answers
and every student whose posterior straddles the floor, scored by exact match with the teacher's
logged answer, so later queries of the day see it (``--frozen``: the day's start only). A
known-short student is looked at on every 1/``rediscover_rate``-th such query instead of by chance.

Recall (academy/routing/recall.py) is not replayed: it serves the same exact repeats under every
setting, so every query is routed here as if it were new.

It prints, per setting: the students' share of the day, what a served student answer got right
per domain, and a cost proxy (the teacher's share plus 1% per student call, ignoring judging and
exploration, which the real day also pays). It ranks settings; it does not predict the day (seed 0
of a run before regions: 0.44 here with ``region_weight=0``, and the day itself gave the students 0.44).

Run: ``.venv/bin/python bench/route_day.py --home /tmp/d0 [--set region_weight=0] [--set floor=0.8,k=128]``
(each ``--set`` is one more setting: comma-separated ``router.evidence`` keys, ``floor``, ``budget`` (the
quality budget's target, or ``off``) and ``min_floor``; the budget starts empty at the day's start).
Seed 1 of the previous commit: its capitals specialist served 2% of the day's capitals here as on the
day itself (0% with ``--frozen``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from academy.backends.hf import HFBackend
from academy.backends.reference import load_reference_source
from academy.config import AcademyConfig, EvidenceConfig, ModelConfig, RouterConfig, load_config
from academy.judges.reference import reference_scores
from academy.routing.budget import QualityBudget
from academy.routing.decisions import cascade_after, estimate_of, posterior_of, ranked_models
from academy.routing.dispatch import unsure
from academy.routing.evidence import EvidenceIndex, Judged, judged_answers
from academy.routing.posteriors import agreement_chance
from academy.store import TrafficStore


def last_day(store: TrafficStore, queries_per_day: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """(the last day's queries, every answer, when that day began)."""
    queries = store.queries_frame(columns=["id", "text", "ts", "tenant", "embedding", "domain"])
    day = queries.sort_values("ts").tail(queries_per_day)
    answers = store.answers_frame(
        columns=[
            "id",
            "query_id",
            "ts",
            "tenant",
            "model",
            "version",
            "confidence",
            "judge_score",
            "error",
            "text",
        ]
    )
    return day, answers, day["ts"].min()


def student_answers(
    cfg: AcademyConfig, day: pd.DataFrame, answers: pd.DataFrame, start: pd.Timestamp
) -> dict:
    """student -> (version, answers, confidences) for the day's queries, from the version it served."""
    mlflow.set_tracking_uri(f"sqlite:///{cfg.paths.home}/mlflow.db")
    served = answers[(answers["ts"] >= start) & answers["version"].notna()].sort_values("ts")
    versions = served.groupby("model")["version"].last().to_dict()
    other = {m.name for m in cfg.models if m.backend != "hf"}  # the teacher: not re-asked
    template = next(
        m.options for m in cfg.models if m.backend == "hf"
    )  # spawned students are configured alike
    out = {}
    for name, version in sorted(versions.items()):
        if name in other:
            continue
        local = Path(cfg.paths.home) / "students" / name
        path = str(local) if local.is_dir() and str(version) == "1" else f"models:/{name}/{version}"
        config = ModelConfig(
            name=name,
            backend="hf",
            role="student",
            price_in=0,
            price_out=0,
            options={**template, "path": path},
        )
        backend = HFBackend(config, home=Path(cfg.paths.home))
        backend.load()
        completions = backend.generate(list(day["text"]))
        out[name] = (str(version), [c.text for c in completions], [c.confidence for c in completions])
    return out


def route(
    evidence: list[Judged],
    router: RouterConfig,
    budget: QualityBudget,
    day: pd.DataFrame,
    students: dict,
    gold: list,
    teacher: str,
    teacher_texts: list[str | None],
    learn: bool = True,
) -> pd.DataFrame:
    """Per query of the day: its domain, whether a student served it, whether that was right, and
    how many students were asked. The router's own decisions choose: the first model of
    :func:`ranked_models` (the teacher, unestimated here, stands last), then :func:`cascade_after`
    while each student is unsure. ``budget`` (empty at the day's start) sets each query's floor as
    in the router. With ``learn``, a query the teacher serves adds the day's free evidence as the
    router does (:func:`agreement_rows`), so later queries see it."""
    index = EvidenceIndex(router.evidence)
    index.add_many(evidence)
    prices = {name: 0.01 for name in students} | {teacher: 1.0}
    rows = []
    for i, r in enumerate(day.itertuples(index=False)):
        floor = budget.floor()
        estimates = {
            name: estimate_of(
                index.estimate_deferral(r.tenant, name, np.asarray(r.embedding), version, floor)
            )
            for name, (version, _, _) in students.items()
        }
        ranked = ranked_models(estimates, prices, teacher, router, floor=floor)
        first = ranked[0][0] if ranked else None
        depth = router.evidence.cascade_depth
        chain = [first, *cascade_after(first, ranked, estimates, prices, teacher, depth)] if first else []
        served, right, expected = None, None, None
        for name in chain:
            confidence = students[name][2][i]
            if unsure(confidence, estimates[name].threshold):
                continue
            served, right = name, students[name][1][i].strip() == (gold[i] or "").strip()
            expected = estimates[name].expected
            break
        budget.settle(index.mean_score(r.tenant, teacher), expected)
        asked = chain.index(served) + 1 if served else len(chain)
        if learn and served is None and teacher_texts[i]:
            index.add_many(agreement_rows(r, i, students, estimates, chain, teacher_texts[i], router, floor))
        rows.append((r.domain, served is not None, right, asked))
    return pd.DataFrame(rows, columns=["domain", "served", "right", "asked"])


def agreement_rows(
    r: Any,
    i: int,
    students: dict,
    estimates: dict,
    chain: list[str],
    teacher_text: str,
    router: RouterConfig,
    floor: float,
) -> list[Judged]:
    """What the router learns for free when the teacher serves query ``i``: the cascade's unsure
    answers, and each student whose posterior straddles the floor (``rediscover_rate`` of those
    known short: :func:`academy.routing.posteriors.agreement_chance`, as the router's ``_uncertain``), scored by exact match with the
    teacher's logged answer. Deterministic: a known-short student is looked at on every
    1/rediscover_rate-th query."""
    picked = set(chain)
    for name, est in estimates.items():
        chance = agreement_chance(posterior_of(est), floor, router.evidence)
        if chance >= 1.0 or (chance > 0 and i % round(1 / chance) == 0):
            picked.add(name)
    names = sorted(picked)
    texts = [students[n][1][i] for n in names]
    scores = reference_scores(texts, [teacher_text] * len(texts), 1.0)
    return [
        Judged(
            r.tenant,
            n,
            students[n][0],
            np.asarray(r.embedding, np.float32),
            s,
            float(i) + 1e9,
            students[n][2][i],
        )
        for n, s in zip(names, scores)
    ]


def summary(name: str, frame: pd.DataFrame) -> str:
    teacher = 1.0 - frame["served"].mean()
    per = []
    for domain, group in frame.groupby("domain"):
        hits = group[group["served"]]
        accuracy = f"{hits['right'].mean():.2f}" if len(hits) else "-"
        per.append(f"{domain} {group['served'].mean():.2f}/{accuracy}")
    return (
        f"{name}: student share {frame['served'].mean():.2f}, students asked per query {frame['asked'].mean():.2f},"
        f" cost proxy {teacher + 0.01 * frame['asked'].mean():.2f}"
        f" | per domain share/served accuracy: {', '.join(per)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, help="a finished `academy demo --home` directory")
    parser.add_argument("--set", action="append", default=[], help="key=value[,key=value]: one more setting")
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="route on the evidence of the day's start only (no free agreement)",
    )
    args = parser.parse_args()
    cfg = load_config(Path(args.home) / "academy.yaml")
    store = TrafficStore(cfg.paths.store, cfg.store)
    day, answers, start = last_day(store, cfg.demo.queries_per_day)
    evidence = judged_answers(store, before=start)
    students = student_answers(cfg, day, answers, start)
    source = load_reference_source("school", cfg.paths.home)
    gold = [(hit.reference if hit else None) for hit in map(source.lookup, day["text"])]
    settings = {"as configured": (cfg.router.evidence, cfg.router.quality_floor, cfg.router.budget)}
    for spec in args.set:
        config, floor, budget = cfg.router.evidence, cfg.router.quality_floor, cfg.router.budget
        for pair in spec.split(","):
            key, value = pair.split("=", 1)
            if key == "floor":
                floor = float(value)
            elif key == "budget":  # a target, or "off"
                update = {"enabled": False} if value == "off" else {"enabled": True, "target": float(value)}
                budget = budget.model_copy(update=update)
            elif key == "min_floor":
                budget = budget.model_copy(update={"min_floor": float(value)})
            else:
                config = EvidenceConfig.model_validate({**config.model_dump(), key: value})
        settings[spec] = (config, floor, budget)
    print(
        f"{len(day)} queries of the last day, {len(evidence)} judged answers before it, students {sorted(students)}"
    )
    teacher = next(m.name for m in cfg.models if m.role == "teacher")
    logged = (
        answers[(answers["model"] == teacher) & answers["error"].isna()].groupby("query_id")["text"].last()
    )
    teacher_texts = [logged.get(q) for q in day["id"]]
    for name, (config, floor, budget) in settings.items():
        router = cfg.router.model_copy(update={"evidence": config, "quality_floor": floor})
        frame = route(
            evidence,
            router,
            QualityBudget(budget, floor),
            day,
            students,
            gold,
            teacher,
            teacher_texts,
            not args.frozen,
        )
        print(summary(name, frame))


if __name__ == "__main__":
    main()
