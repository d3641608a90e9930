"""The week's workload: which queries arrive on which day, and what changes during the week.

School traffic follows ``demo.mix``; ``new_domain`` is absent until ``new_domain_day`` (gap mining
and spawning must react to it) and from ``drift_day`` on ``drift_domain`` is phrased only with
templates its traffic never used (the router's neighbourhoods and the students' phrasing go stale).
A user's trace (``--traffic FILE.jsonl``) is cut into ``days`` consecutive slices instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from academy.config import DemoConfig
from academy.school import Example, School, read_trace


@dataclass(frozen=True)
class DayPlan:
    day: int  # 1-based
    examples: list[Example]
    events: list[str] = field(default_factory=list)


def initial_domains(demo: DemoConfig) -> list[str]:
    """The domains of day 1: what the day-0 student is warm-started on."""
    return [
        d for d, w in demo.mix.items() if w > 0 and not (d == demo.new_domain and demo.new_domain_day > 1)
    ]


def _mix(demo: DemoConfig, day: int) -> dict[str, float]:
    arrived = day >= demo.new_domain_day
    return {d: w for d, w in demo.mix.items() if w > 0 and (d != demo.new_domain or arrived)}


def drift_templates(school: School, domain: str) -> tuple[list[int], list[int]]:
    """(before, after): the first half of a domain's templates before the drift, the rest after."""
    count = len(school.templates(domain))
    cut = max(math.ceil(count / 2), 1)
    return list(range(cut)), list(range(cut, count)) or list(range(cut))


def school_week(demo: DemoConfig, domains: list[str]) -> list[DayPlan]:
    """``demo.days`` days of ``demo.queries_per_day`` school queries, seeded per day."""
    school = School(seed=demo.seed, domains=domains)
    before, after = drift_templates(school, demo.drift_domain) if demo.drift_domain else ([], [])
    plans = []
    for day in range(1, demo.days + 1):
        mix = _mix(demo, day)
        drifted = bool(demo.drift_domain) and day >= demo.drift_day
        phrasing = {demo.drift_domain: after if drifted else before} if demo.drift_domain in mix else None
        examples = school.generate(
            demo.queries_per_day, mix=mix, seed=demo.seed * 1000 + day, phrasing=phrasing
        )
        events = []
        if demo.new_domain and day == demo.new_domain_day > 1:
            events.append(f"new domain: {demo.new_domain}")
        if drifted and day == demo.drift_day:
            events.append(f"phrasing drift: {demo.drift_domain}")
        plans.append(DayPlan(day, examples, events))
    return plans


def trace_week(path: Path, days: int, queries_per_day: int) -> list[DayPlan]:
    """A user's trace in order, cut into ``days`` slices of at most ``queries_per_day`` queries."""
    examples = read_trace(path)
    if not examples:
        raise ValueError(f"{path} holds no queries")
    size = min(queries_per_day, math.ceil(len(examples) / days))
    slices = [examples[i * size : (i + 1) * size] for i in range(days)]
    return [
        DayPlan(i + 1, chunk, ["trace replay"] if i == 0 else []) for i, chunk in enumerate(slices) if chunk
    ]


def plan_week(demo: DemoConfig, domains: list[str], traffic: Path | None = None) -> list[DayPlan]:
    if traffic is not None:
        return trace_week(traffic, demo.days, demo.queries_per_day)
    return school_week(demo, domains)
