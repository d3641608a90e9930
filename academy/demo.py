"""``academy demo`` / ``make demo``: one simulated day of traffic through the real router over HTTP.

The router runs in-process under uvicorn on a free loopback port; queries go through the official
``openai`` client, exactly as a user's would. Afterwards the day is measured against the
always-teacher counterfactual on the same queries: cost per query and reference quality.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from academy.bootstrap import ensure_students
from academy.config import AcademyConfig, JudgeConfig
from academy.inprocess import BackgroundServer
from academy.judges import JudgeRequest
from academy.judges.reference import ReferenceJudge
from academy.runtime import Runtime
from academy.school import Example, School, TraceSource, read_trace
from academy.server import TENANT_HEADER, create_app

CONCURRENCY = 4


@dataclass
class DemoReport:
    """Per-query figures in traffic order; totals and thirds of the day are derived from them."""

    tenant: str
    queries: int
    routes: list[str] = field(default_factory=list)
    served_by: list[str] = field(default_factory=list)
    academy_costs: list[float] = field(default_factory=list)
    teacher_costs: list[float] = field(default_factory=list)
    mean_judge_score: float = 0.0
    academy_quality: float = 0.0
    teacher_quality: float = 0.0
    seconds: float = 0.0

    @property
    def academy_cost(self) -> float:
        return sum(self.academy_costs)

    @property
    def teacher_cost(self) -> float:
        return sum(self.teacher_costs)

    @property
    def cost_ratio(self) -> float:
        return self.academy_cost / self.teacher_cost if self.teacher_cost else float("nan")

    def thirds(self) -> list[dict[str, float]]:
        """Novel share and cost vs always-teacher in each third of the day: the router learning."""
        bounds = [round(i * self.queries / 3) for i in range(4)]
        rows = []
        for start, end in zip(bounds, bounds[1:]):
            teacher = sum(self.teacher_costs[start:end])
            rows.append(
                {
                    "queries": end - start,
                    "novel_share": self.routes[start:end].count("novel") / max(end - start, 1),
                    "cost_ratio": sum(self.academy_costs[start:end]) / teacher if teacher else float("nan"),
                }
            )
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "queries": self.queries,
            "routes": dict(Counter(self.routes)),
            "served_by": dict(Counter(self.served_by)),
            "cost_per_query": self.academy_cost / self.queries,
            "teacher_cost_per_query": self.teacher_cost / self.queries,
            "cost_ratio": self.cost_ratio,
            "mean_judge_score": self.mean_judge_score,
            "quality": self.academy_quality,
            "teacher_quality": self.teacher_quality,
            "thirds": self.thirds(),
            "seconds": self.seconds,
        }


def load_traffic(cfg: AcademyConfig, traffic: Path | None) -> list[Example]:
    if traffic is None:
        return School(seed=cfg.school.seed, domains=cfg.school.domains).generate(cfg.demo.queries)
    examples = read_trace(traffic)[: cfg.demo.queries]
    if not examples:
        raise ValueError(f"{traffic} holds no queries")
    return examples


def with_trace_as_reference(cfg: AcademyConfig, traffic: Path | None) -> AcademyConfig:
    """A replayed trace is also what the simulated teacher and the reference judge know."""
    if traffic is None:
        return cfg
    cfg = cfg.model_copy(deep=True)
    for model in cfg.models:
        if model.backend == "reference":
            model.options["source"] = str(traffic)
    if cfg.judge.name == "reference":
        cfg.judge.options["source"] = str(traffic)
    return cfg


async def send_all(
    url: str, tenant: str, examples: list[Example], progress: Progress
) -> list[dict[str, Any]]:
    """Send the day's queries with bounded concurrency, in order, through the openai client."""
    client = openai.AsyncOpenAI(base_url=url, api_key="demo", max_retries=0, timeout=120)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    task = progress.add_task("routing the day's traffic", total=len(examples))

    async def one(example: Example) -> dict[str, Any]:
        async with semaphore:
            response = await client.chat.completions.create(
                model="academy",
                messages=[{"role": "user", "content": example.query}],
                extra_headers={TENANT_HEADER: tenant},
            )
        progress.advance(task)
        return response.model_dump()

    try:
        return list(await asyncio.gather(*(one(e) for e in examples)))
    finally:
        await client.close()


async def counterfactual(
    runtime: Runtime, examples: list[Example], answers: list[str]
) -> tuple[list[float], float, float]:
    """Always-teacher cost per query and quality on the same queries, and the quality Academy returned."""
    teacher = runtime.backends[runtime.config.teacher.name]
    teacher_answers = await teacher.agenerate([e.query for e in examples])
    source = TraceSource(examples)
    judge = ReferenceJudge(JudgeConfig(name="reference", cost_per_call=0.0), source=source)

    async def quality(texts: list[str]) -> float:
        judged = await judge.ajudge(
            [JudgeRequest(e.query, t, reference=e.reference) for e, t in zip(examples, texts)]
        )
        return sum(j.score or 0.0 for j in judged) / len(judged)

    costs = [c.cost or 0.0 for c in teacher_answers]
    return costs, await quality([c.text for c in teacher_answers]), await quality(answers)


def run_demo(cfg: AcademyConfig, traffic: Path | None = None, console: Console | None = None) -> DemoReport:
    console = console or Console()
    cfg = with_trace_as_reference(cfg, traffic)
    examples = load_traffic(cfg, traffic)
    for path in ensure_students(cfg, console.print):
        console.print(f"student saved at {path}")
    tenant = f"{cfg.demo.tenant}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    runtime = Runtime.build(cfg)
    try:
        with BackgroundServer(create_app(cfg, runtime)) as server, Progress(console=console) as progress:
            responses = asyncio.run(send_all(server.url, tenant, examples, progress))
        report = summarise(runtime, tenant, examples, responses)
        answers = [r["choices"][0]["message"]["content"] for r in responses]
        report.teacher_costs, report.teacher_quality, report.academy_quality = asyncio.run(
            counterfactual(runtime, examples, answers)
        )
    finally:
        asyncio.run(runtime.aclose())
    report.seconds = time.perf_counter() - started
    print_report(console, report)
    return report


def summarise(runtime: Runtime, tenant: str, examples: list[Example], responses: list[dict]) -> DemoReport:
    """Routes and models from the responses; cost (background shadowing included) from the store."""
    report = DemoReport(tenant=tenant, queries=len(examples))
    report.routes = [r["academy"]["route"] for r in responses]
    report.served_by = [r["academy"]["model"] for r in responses]
    frame = runtime.store.queries_frame(tenant)
    logged_cost = dict(zip(frame["id"], frame["total_cost"]))
    report.academy_costs = [float(logged_cost[r["academy"]["request_id"]]) for r in responses]
    scores = frame["final_score"].dropna()
    report.mean_judge_score = float(scores.mean()) if len(scores) else float("nan")
    return report


def print_report(console: Console, report: DemoReport) -> None:
    table = Table(title=f"Academy demo: one day, {report.queries} queries (tenant {report.tenant})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for route, count in sorted(Counter(report.routes).items()):
        table.add_row(f"route {route}", str(count))
    for model, count in sorted(Counter(report.served_by).items()):
        table.add_row(f"served by {model}", str(count))
    table.add_row(
        "cost per query (Academy, judge and shadowing included)",
        f"${report.academy_cost / report.queries:.6f}",
    )
    table.add_row("cost per query (always-teacher)", f"${report.teacher_cost / report.queries:.6f}")
    table.add_row("cost vs always-teacher", f"{report.cost_ratio:.1%}")
    table.add_row("mean judge score of served answers (judged ones)", f"{report.mean_judge_score:.3f}")
    table.add_row(
        "reference quality: Academy / always-teacher",
        f"{report.academy_quality:.3f} / {report.teacher_quality:.3f}",
    )
    for i, third in enumerate(report.thirds(), 1):
        table.add_row(
            f"third {i} of the day: novel share, cost vs always-teacher",
            f"{third['novel_share']:.0%}, {third['cost_ratio']:.0%}",
        )
    table.add_row("wall time", f"{report.seconds:.1f} s")
    console.print(table)
