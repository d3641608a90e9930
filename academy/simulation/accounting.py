"""Cost and quality per day for Academy and the baselines, on the same queries.

Academy pays for everything it did: every model answer and judge call the router logged (fan-out,
shadowing, exploration), the nightly scorer's sampled monitoring of that day's traffic, and what made
the models serving the day: the previous night's training compute (its measured CPU seconds, user +
system of the process and its children, x ``cpu_hour_price`` / 3600; the warm start for day 1) and
the practice queries that night bought from the teacher to train on. Quality is the mean reference
score of the answers actually returned. Baselines:

- ``always_teacher``: the teacher answers every query (no judge);
- ``static``: the same router with the day-0 students and no nightly evolution (its own store);
- ``best_single_student``: the one student that scored best that day, answering everything;
- ``oracle``: per query, the cheapest active model whose answer was right (else the teacher).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from academy.routing.recall import RECALL
from academy.simulation.day import Answers, Served

RIGHT = 0.999  # reference score of an exact answer (1.0); partial credit is not "right"
POLICIES = ("academy", "always_teacher", "static", "best_single_student", "oracle")


@dataclass(frozen=True)
class NightCosts:
    """What the nights cost a day: its traffic's sampled monitoring (night d) and the training and
    practice queries before it (night d - 1; the warm start for day 1)."""

    judge_calls: int = 0
    judge_cost: float = 0.0
    training_seconds: float = 0.0  # wall time of that training (reported, not charged)
    training_cost: float = 0.0
    supervisor_calls: int = 0  # of judge_calls, those the supervisor made (the rest were delegated)
    training_cpu_seconds: float = 0.0  # measured CPU time of that training: what training_cost charges
    practice_cost: float = 0.0  # USD of the teacher answers that night bought to train on


def training_cost(cpu_seconds: float, cpu_hour_price: float) -> float:
    """USD for ``cpu_seconds`` of measured CPU time at ``cpu_hour_price`` per CPU-hour."""
    return cpu_seconds * cpu_hour_price / 3600


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def policy(cost: float, quality: float | None) -> dict[str, float | None]:
    return {"cost": cost, "quality": quality}


def best_single_student(answers: Answers, teacher: str) -> tuple[str | None, dict[str, float | None]]:
    """The student with the best mean quality on the day's queries (ties: the cheaper one)."""
    students = [m for m in answers.texts if m != teacher]
    if not students:
        return None, policy(float("nan"), None)
    best = max(students, key=lambda m: (_mean(answers.quality[m]) or 0.0, -sum(answers.costs[m])))
    return best, policy(sum(answers.costs[best]), _mean(answers.quality[best]))


def oracle(answers: Answers, teacher: str) -> dict[str, float | None]:
    """Per query the cheapest model that was right; the teacher's answer when none was."""
    cost, quality = 0.0, []
    for i in range(len(answers.texts[teacher])):
        right = [m for m in answers.texts if answers.quality[m][i] >= RIGHT]
        pick = min(right, key=lambda m: answers.costs[m][i]) if right else teacher
        cost += answers.costs[pick][i]
        quality.append(answers.quality[pick][i])
    return policy(cost, _mean(quality))


def with_ratios(policies: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """Each policy's cost and quality relative to always-teacher's."""
    base = policies["always_teacher"]
    for figures in policies.values():
        figures["cost_ratio"] = figures["cost"] / base["cost"] if base["cost"] else None
        q, bq = figures["quality"], base["quality"]
        figures["quality_ratio"] = q / bq if q is not None and bq else None
    return policies


def academy_details(served: list[Served], night: NightCosts) -> dict[str, Any]:
    """Routes, who served, per-domain quality, supervisor calls and the cost breakdown."""
    by_domain: dict[str, list[float]] = defaultdict(list)
    for s in served:
        by_domain[s.domain].append(s.quality)
    judge_online = sum(s.judge_cost for s in served)
    return {
        "routes": dict(Counter(s.route for s in served)),
        "served_by_model": dict(Counter(s.model for s in served)),
        "served_by_role": dict(Counter(s.role for s in served)),
        "domain_quality": {d: _mean(q) for d, q in sorted(by_domain.items())},
        "judge_calls": {
            "online": sum(s.judge_calls for s in served),
            "nightly": night.judge_calls,
            "supervisor": sum(s.supervisor_calls for s in served) + night.supervisor_calls,
            "delegated": sum(s.judge_calls - s.supervisor_calls for s in served)
            + night.judge_calls
            - night.supervisor_calls,
        },
        "cost": {
            "answers": sum(s.cost for s in served) - judge_online,
            "judge": judge_online + night.judge_cost,
            "training": night.training_cost,
            "practice": night.practice_cost,
        },
        "training_seconds": night.training_seconds,
        "training_cpu_seconds": night.training_cpu_seconds,
    }


def knowledge_and_share(served: list[Served], answers: Answers, teacher: str) -> dict[str, dict[str, Any]]:
    """Per domain and student: how often its own answer was right that day (``accuracy``, from
    every model answering every query) next to the share of the domain's queries the router gave
    it (``served``; ``recall`` too, where exact repeats were served logged answers). The gap between
    the two is what routing leaves on the table."""
    by_domain: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(served):
        by_domain[s.domain].append(i)
    students = [m for m in answers.quality if m != teacher]
    out: dict[str, dict[str, Any]] = {}
    for domain, rows in sorted(by_domain.items()):
        shares = {m: sum(served[i].model == m for i in rows) / len(rows) for m in [*students, RECALL]}
        if not shares[RECALL]:
            del shares[RECALL]
        out[domain] = {
            "queries": len(rows),
            "accuracy": {
                m: sum(answers.quality[m][i] >= RIGHT for i in rows) / len(rows)
                for m in students
                if len(answers.quality[m]) == len(served)
            },
            "served": shares,
        }
    return out


def account_day(
    day: int,
    events: list[str],
    academy: list[Served],
    static: list[Served],
    answers: Answers,
    teacher: str,
    night: NightCosts,
) -> dict[str, Any]:
    """One day's row of the report: every policy's cost and quality, and Academy's details."""
    best_name, best = best_single_student(answers, teacher)
    policies = {
        "academy": policy(
            sum(s.cost for s in academy) + night.judge_cost + night.training_cost + night.practice_cost,
            _mean([s.quality for s in academy]),
        ),
        "always_teacher": policy(sum(answers.costs[teacher]), _mean(answers.quality[teacher])),
        "static": policy(sum(s.cost for s in static), _mean([s.quality for s in static])),
        "best_single_student": best,
        "oracle": oracle(answers, teacher),
    }
    return {
        "day": day,
        "queries": len(academy),
        "events": events,
        "domains": dict(Counter(s.domain for s in academy)),
        "best_single_student": best_name,
        "policies": with_ratios(policies),
        "academy": academy_details(academy, night)
        | {"students": knowledge_and_share(academy, answers, teacher)},
    }


def overall(days: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Whole-run cost (sum) and quality (query-weighted mean) per policy, with ratios."""
    totals = {}
    for name in POLICIES:
        rows = [(d["policies"][name], d["queries"]) for d in days if d["policies"].get(name)]
        judged = [(p["quality"], n) for p, n in rows if p["quality"] is not None]
        quality = sum(q * n for q, n in judged) / sum(n for _, n in judged) if judged else None
        totals[name] = policy(sum(p["cost"] for p, _ in rows), quality)
    return with_ratios(totals)


def summary(days: list[dict[str, Any]], totals: dict[str, dict[str, float | None]]) -> dict[str, Any]:
    """Academy vs always-teacher: last day and overall (the figures the targets are about)."""
    last = days[-1]["policies"]["academy"]
    return {
        "cost_ratio": {"last_day": last["cost_ratio"], "overall": totals["academy"]["cost_ratio"]},
        "quality_ratio": {"last_day": last["quality_ratio"], "overall": totals["academy"]["quality_ratio"]},
    }


def timeline(nights: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Promotions, rejections and role changes per night (night d follows day d)."""
    events = []
    for day, night in sorted(nights.items()):
        for student in night.get("students", []):
            events.append(
                {
                    "day": day,
                    "model": student["student"],
                    "version": student["version"],
                    "event": student["stage"],
                }
            )
        for model, change in night.get("roles", {}).get("changes", {}).items():
            events.append({"day": day, "model": model, "version": None, "event": f"role:{change['role']}"})
    return events
