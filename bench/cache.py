"""Cache latency: what an exact or semantic cache hit saves against a routed answer, over real HTTP.

One lone client (the latency a user sees), the same distinct school queries three ways:
  - routed: a tenant with caches off; past traffic makes each query familiar and a tiny student
    answers (the cheapest routed path there is, so the gain is a lower bound);
  - exact hit: a tenant with caches on asks a query it asked before;
  - semantic hit: the same tenant asks a paraphrase (``{query}?``), found by embedding similarity.
The semantic threshold is lowered to ``similarity`` (default 0.9) for this run: the point is the cost
of a hit, not the threshold (docs/gateway.md says why the semantic cache is off by default).
Run: ``academy bench cache [--queries N] [--json]``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from academy.config import AcademyConfig
from academy.embedder import Embedder
from academy.school import School
from bench.router_overhead import percentile, seed_familiar_traffic, throughput_config

ROUTED, CACHED = "bench", "bench-cached"  # seed_familiar_traffic's tenant is "bench"


def timed(client: httpx.Client, tenant: str, text: str) -> tuple[float, str]:
    body = {"model": "academy", "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body, headers={"X-Academy-Tenant": tenant})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()["academy"]["route"]


def summary(timings: list[tuple[float, str]], route: str) -> dict[str, Any]:
    values = [ms for ms, _ in timings]
    hits = sum(r == route for _, r in timings)
    return {
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        f"{route}_share": hits / len(values),
    }


def measure(url: str, queries: list[str]) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=120) as client:
        for text in queries:  # warm-up: loads the student, fills the cached tenant's caches
            timed(client, ROUTED, text)
            timed(client, CACHED, text)
        routed = [timed(client, ROUTED, q) for q in queries]
        exact = [timed(client, CACHED, q) for q in queries]
        semantic = [timed(client, CACHED, f"{q}?") for q in queries]
    return {
        "routed": summary(routed, "familiar"),
        "exact_hit": summary(exact, "cache"),
        "semantic_hit": summary(semantic, "cache"),
    }


def run_cache_bench(cfg: AcademyConfig, queries: int = 100, similarity: float = 0.9) -> dict[str, Any]:
    from academy.bootstrap import init_student
    from academy.gateway.service import Gateway
    from academy.inprocess import BackgroundServer
    from academy.runtime import Runtime
    from academy.server import create_app

    texts = list(dict.fromkeys(e.query for e in School(seed=13).generate(queries * 2)))[:queries]
    embedder = Embedder(cfg.embedder)
    with tempfile.TemporaryDirectory(prefix="academy-bench-cache-") as tmp:
        bench_cfg = cache_config(throughput_config(cfg, Path(tmp)), similarity)
        init_student(bench_cfg, "student-1")
        runtime = Runtime.build(bench_cfg, embedder=embedder)
        seed_familiar_traffic(runtime.store, embedder, texts)
        gateway = Gateway.from_config(bench_cfg)
        gateway.db.create_tenant(
            ROUTED, bench_cfg.gateway.default_tier, cache_exact=False, cache_semantic=False
        )
        gateway.db.create_tenant(
            CACHED, bench_cfg.gateway.default_tier, cache_exact=True, cache_semantic=True
        )
        try:
            with BackgroundServer(create_app(bench_cfg, runtime, gateway)) as server:
                report = measure(server.url.removesuffix("/v1"), texts)
        finally:
            asyncio.run(runtime.aclose())
            gateway.close()
    routed = report["routed"]["p50_ms"]
    for hit in ("exact_hit", "semantic_hit"):
        report[hit]["speedup_p50"] = routed / report[hit]["p50_ms"]
    return report | {"queries": len(texts), "similarity": similarity}


def cache_config(cfg: AcademyConfig, similarity: float) -> AcademyConfig:
    data = cfg.model_dump(mode="json")
    data["gateway"]["cache"]["similarity"] = similarity
    data["router"]["judge_rate"] = 0.0
    return AcademyConfig.model_validate(data)


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['queries']} distinct queries, one client; semantic threshold {report['similarity']}"]
    lines.append(f"{'path':<14}{'p50 ms':>9}{'p99 ms':>9}{'hit/route share':>17}{'speed-up':>10}")
    for path in ("routed", "exact_hit", "semantic_hit"):
        row = report[path]
        share = next(v for k, v in row.items() if k.endswith("_share"))
        gain = f"{row['speedup_p50']:.1f}x" if "speedup_p50" in row else ""
        lines.append(f"{path:<14}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{share:>17.0%}{gain:>10}")
    return "\n".join(lines)
