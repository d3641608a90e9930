"""One simulated day: the day's queries through a real router, and every model's answer to them.

The Academy router and the static (no evolution) router are the same ``Runtime`` the server
builds; only their homes differ. What a request cost is read back from the traffic store after the
router has drained, so shadowing, exploration and judge calls made after the response are counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from academy.config import AcademyConfig, JudgeConfig
from academy.evolution.snapshot import UNKNOWN_DOMAIN
from academy.judges import JudgeRequest
from academy.judges.reference import ReferenceJudge
from academy.route_batch import route_examples
from academy.routing import RouteResult
from academy.routing.recall import RECALL
from academy.runtime import Runtime
from academy.school import Example, TraceSource

# Requests in flight while a day is routed: a day is latency-bound (the simulated teacher waits 40 ms,
# students generate token by token), and a student's micro-batcher can only batch what is in flight.
# One student answers 8 prompts in ~110 ms but 64 in ~420 ms: 13.5 against 6.6 ms a query (bench/gen_batch.py), so routing
# day 7 of seed 0 took 45 s with 16 in flight, 24 s with 64 and 22 s with the whole day at once:
# 64 keeps most of the gain while the day's judged answers still reach later requests.
CONCURRENCY = 64


@dataclass
class Served:
    """What a user got for one query, and everything it cost (logged total, judge calls included)."""

    request_id: str
    domain: str
    route: str
    model: str
    role: str
    answer: str
    cost: float = 0.0
    judge_calls: int = 0
    judge_cost: float = 0.0
    quality: float = 0.0  # reference score of the returned answer (free: computed by the simulation)
    supervisor_calls: int = 0  # of judge_calls, those the supervisor made (the rest were delegated)


@dataclass
class Answers:
    """Every model's answer to the same queries (baselines): model -> texts, costs, reference scores."""

    texts: dict[str, list[str]] = field(default_factory=dict)
    costs: dict[str, list[float]] = field(default_factory=dict)
    quality: dict[str, list[float]] = field(default_factory=dict)


def served_record(example: Example, result: RouteResult) -> Served:
    """Who served: a model, or ``recall`` for an exact repeat served a logged answer (the report
    counts what recall served apart from what each model answered that day)."""
    served = next((a for a in result.answers if a.purpose == "serve" and a.model == result.model), None)
    recalled = result.route == RECALL
    return Served(
        request_id=result.request_id,
        domain=example.domain or UNKNOWN_DOMAIN,
        route=result.route,
        model=RECALL if recalled else result.model,
        role=RECALL if recalled else (served.role if served else "teacher"),
        answer=result.answer,
    )


def reference_quality(examples: Sequence[Example], texts: Sequence[str]) -> list[float]:
    """The reference score of each answer (the judge's formula, with the gold answer, at no cost)."""
    judge = ReferenceJudge(JudgeConfig(name="reference", cost_per_call=0.0), source=TraceSource(examples))
    requests = [JudgeRequest(e.query, t, reference=e.reference) for e, t in zip(examples, texts)]
    return [j.score or 0.0 for j in asyncio.run(judge.ajudge(requests))] if requests else []


def add_logged_costs(runtime: Runtime, served: list[Served], tenant: str) -> None:
    """Fill cost and judge calls from the store: the router's own ledger of every model and judge call."""
    ids = {s.request_id for s in served}
    queries = runtime.store.queries_frame(tenant)
    total = dict(zip(queries["id"], queries["total_cost"]))
    answers = runtime.store.answers_frame(tenant)
    judged = answers[answers["query_id"].isin(ids) & answers["judge_name"].notna()]
    calls = judged.groupby("query_id").size().to_dict()
    supervised = judged[judged["judge_name"] == runtime.judge.name].groupby("query_id").size().to_dict()
    judge_cost = judged.groupby("query_id")["judge_cost"].sum().to_dict()
    for s in served:
        s.cost = float(total.get(s.request_id, 0.0))
        s.judge_calls = int(calls.get(s.request_id, 0))
        s.supervisor_calls = int(supervised.get(s.request_id, 0))
        s.judge_cost = float(judge_cost.get(s.request_id, 0.0))


async def _route_and_answer(
    cfg: AcademyConfig,
    examples: list[Example],
    tenant: str,
    answer_all: bool,
    on_done: Callable[[], None] | None,
    embeddings: np.ndarray | None = None,
) -> tuple[list[Served], Answers]:
    runtime = Runtime.build(cfg)
    await runtime.start()  # replay a crashed day's traffic log; serve the registry's @production versions
    try:
        results = await route_examples(runtime, examples, tenant, CONCURRENCY, on_done, embeddings)
        await runtime.router.maintain_store()
        served = [served_record(e, r) for e, r in zip(examples, results)]
        add_logged_costs(runtime, served, tenant)
        answers = await every_answer(runtime, examples) if answer_all else Answers()
        return served, answers
    finally:
        await runtime.aclose()


async def every_answer(runtime: Runtime, examples: list[Example]) -> Answers:
    """Each active model (the teacher and every student the router serves now) on every query."""
    queries = [e.query for e in examples]
    answers = Answers()
    for name, backend in runtime.backends.items():
        completions = await backend.agenerate(queries)
        answers.texts[name] = [c.text for c in completions]
        answers.costs[name] = [c.cost or 0.0 for c in completions]
    return answers


def run_day(
    cfg: AcademyConfig,
    examples: list[Example],
    tenant: str,
    answer_all: bool = False,
    on_done: Callable[[], None] | None = None,
    embeddings: np.ndarray | None = None,
) -> tuple[list[Served], Answers]:
    """Route the day through ``cfg``'s router; with ``answer_all`` also every model's own answers.
    ``embeddings``: the day's query embeddings, computed once for both routers (else per request)."""
    served, answers = asyncio.run(_route_and_answer(cfg, examples, tenant, answer_all, on_done, embeddings))
    for s, quality in zip(served, reference_quality(examples, [s.answer for s in served])):
        s.quality = quality
    answers.quality = {m: reference_quality(examples, texts) for m, texts in answers.texts.items()}
    return served, answers
