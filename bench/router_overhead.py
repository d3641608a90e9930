"""Router overhead: how long the routing decision takes, and how many requests/s HTTP serves.

Decision time = embedding + vector search over the tenant's past traffic + policy, excluding model
generation, measured with the router's own ``decide`` (the code that serves) against stores of
10k and 1M rows. HTTP throughput = real requests through uvicorn and the official openai client,
with a tiny student answering. Run: ``academy bench overhead [--rows N ...] [--json]``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import openai

from academy.backends import build_backend
from academy.config import AcademyConfig, JudgeConfig, ModelConfig
from academy.embedder import Embedder
from academy.judges import build_judge
from academy.routing import ROUTER_CLS, Router, RouteRequest
from academy.school import School
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from bench.store_search import fill_store

BENCH_TENANT = "tenant-0"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_router(cfg: AcademyConfig, store: TrafficStore, embedder: Embedder) -> Router:
    """The configured policy over a reference teacher: decide() never calls a model."""
    teacher = ModelConfig(name="teacher", backend="reference", role="teacher", price_in=5, price_out=15)
    backends = {"teacher": build_backend(teacher)}
    judge = build_judge(JudgeConfig(name="reference"))
    return ROUTER_CLS.get(cfg.router.name)(cfg.router, backends, judge, store, embedder.aembed_one)


def time_decisions(router: Router, queries: list[str], warmup: int = 20) -> dict[str, float]:
    """p50/p99 of decide() over distinct queries, one at a time (the latency a lone user sees)."""

    async def run() -> list[float]:
        for text in queries[:warmup]:
            await router.decide(RouteRequest(text, BENCH_TENANT))
        timings = []
        for text in queries:
            started = time.perf_counter()
            await router.decide(RouteRequest(text, BENCH_TENANT))
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    timings = asyncio.run(run())
    return {
        "p50_ms": percentile(timings, 50),
        "p99_ms": percentile(timings, 99),
        "mean_ms": statistics.fmean(timings),
    }


def time_embedding(embedder: Embedder, queries: list[str]) -> float:
    started = time.perf_counter()
    for text in queries:
        embedder.embed_one(text)
    return (time.perf_counter() - started) * 1000 / len(queries)


def decision_at_size(
    cfg: AcademyConfig, embedder: Embedder, rows: int, queries: list[str], log
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="academy-bench-") as tmp:
        store = TrafficStore(Path(tmp) / "lancedb", cfg.store)
        started = time.perf_counter()
        fill_store(store, rows)
        log(f"filled and indexed {rows:,} rows in {time.perf_counter() - started:.0f} s")
        result = {"rows": rows, **time_decisions(bench_router(cfg, store, embedder), queries)}
        result["indexed"] = (
            store.has_index() if hasattr(store, "has_index") else rows >= cfg.store.index_min_rows
        )
        log(f"{rows:,} rows: decision p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
        return result


def http_throughput(cfg: AcademyConfig, embedder: Embedder, requests: int, log) -> dict[str, Any]:
    """Requests/s through HTTP where the past traffic makes a tiny student the chosen model."""
    from academy.bootstrap import init_student
    from academy.inprocess import BackgroundServer
    from academy.runtime import Runtime
    from academy.server import create_app

    queries = [e.query for e in School(seed=7).generate(requests)]
    with tempfile.TemporaryDirectory(prefix="academy-bench-http-") as tmp:
        http_cfg = throughput_config(cfg, Path(tmp))
        init_student(http_cfg, "student-1")
        runtime = Runtime.build(http_cfg, embedder=embedder)
        seed_familiar_traffic(runtime.store, embedder, queries)
        with BackgroundServer(create_app(http_cfg, runtime)) as server:
            elapsed, served_by = asyncio.run(send(server.url, queries))
        asyncio.run(runtime.aclose(close_embedder=False))
    rps = len(queries) / elapsed
    log(f"HTTP: {len(queries)} requests in {elapsed:.1f} s = {rps:.1f} req/s, served by {served_by}")
    return {"http_rps": rps, "http_requests": len(queries), "http_served_by": served_by}


def throughput_config(cfg: AcademyConfig, home: Path) -> AcademyConfig:
    """The user's config on a scratch home, with one untrained student (speed, not quality, is measured)."""
    data = cfg.model_dump(mode="json")
    data["paths"]["home"] = str(home)
    data["student"]["warm_start_steps"] = 0
    # quality_floor 0: the seeded student's one judged answer per query is enough to serve it here
    data["router"].update(shadow_rate=0.0, explore_rate=0.0, quality_floor=0.0)
    student = {
        "name": "student-1",
        "backend": "hf",
        "role": "student",
        "price_in": 0.05,
        "price_out": 0.1,
        "options": {"path": "students/student-1", "max_new_tokens": 8},
    }
    data["models"] = [m for m in data["models"] if m["role"] == "teacher"][:1] + [student]
    return AcademyConfig.model_validate(data)


def seed_familiar_traffic(store: TrafficStore, embedder: Embedder, queries: list[str]) -> None:
    """Past traffic on which the student scored perfectly, so every new query routes to it."""
    vectors = embedder.embed(queries)
    records = [
        (
            QueryRecord(
                id=f"seed-{i}",
                tenant="bench",
                text=q,
                embedding=v,
                route="novel",
                final_model="student-1",
                final_answer="",
                final_score=1.0,
                total_cost=0.0,
                latency_ms=0.0,
                judged_models=["teacher", "student-1"],
                judged_scores=[1.0, 1.0],
            ),
            [  # the judged answers: what the router's evidence is made of
                AnswerRecord(
                    model=m, role=r, purpose="fanout", text="", judge_score=1.0, judge_name="reference"
                )
                for m, r in (("teacher", "teacher"), ("student-1", "student"))
            ],
        )
        for i, (q, v) in enumerate(zip(queries, vectors))
    ]
    store.log_many(records)


async def send(url: str, queries: list[str], concurrency: int = 8) -> tuple[float, dict[str, int]]:
    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0, timeout=120)
    semaphore = asyncio.Semaphore(concurrency)
    served_by: dict[str, int] = {}

    async def one(text: str) -> None:
        async with semaphore:
            response = await client.chat.completions.create(
                model="academy",
                messages=[{"role": "user", "content": text}],
                extra_headers={"X-Academy-Tenant": "bench"},
            )
        model = response.model_extra["academy"]["model"]
        served_by[model] = served_by.get(model, 0) + 1

    await one(queries[0])  # warm-up: loads the student's weights
    started = time.perf_counter()
    await asyncio.gather(*(one(q) for q in queries))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, served_by


def run_overhead_bench(
    cfg: AcademyConfig, rows: list[int], queries: int = 300, http_requests: int = 200, quiet: bool = False
) -> dict[str, Any]:
    def log(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    embedder = Embedder(cfg.embedder)
    texts = [e.query for e in School(seed=11).generate(queries + 20)]
    try:
        report: dict[str, Any] = {
            "embed_ms_mean": time_embedding(embedder, texts[:100]),
            "sizes": [decision_at_size(cfg, embedder, n, texts, log) for n in rows],
        }
        if http_requests:
            report.update(http_throughput(cfg, embedder, http_requests, log))
    finally:
        embedder.close()
    report["threads"] = cfg.embedder.threads
    return report
