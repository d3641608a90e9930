"""The write-ahead traffic log's test traffic: records to append, and a runtime whose router logs
through the log to a store that already knows one judged request (tests/unit/test_wal.py,
tests/integration/test_wal.py and test_fallback.py; the crash test's child process imports
``familiar_runtime`` and ``ask`` from here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from academy.config import AcademyConfig
from academy.routing import RouteRequest
from academy.runtime import Runtime
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from tests.factories.vectors import unit

SLOW = {"log_interval_ms": 600_000.0, "log_batch": 100_000}  # the writer stores only when flushed


def query(id: str, seed: int = 0, **extra: object) -> QueryRecord:
    fields: dict = dict(route="novel", final_model="teacher", final_answer="4", text=f"text of {id}")
    return QueryRecord(id=id, tenant="acme", embedding=unit(seed), **(fields | extra))


def answer(purpose: str = "serve", model: str = "teacher", **extra: object) -> AnswerRecord:
    role = "teacher" if model == "teacher" else "student"
    return AnswerRecord(model=model, role=role, purpose=purpose, text="4", **extra)


def stored_ids(store: TrafficStore) -> list[str]:
    return sorted(store.queries_frame()["id"])


class NoEmbedder:
    """Every request here carries its embedding."""

    async def aembed_one(self, text: str) -> np.ndarray:
        raise AssertionError("embedding expected in the request")

    def close(self) -> None:
        pass


def wal_config(home: Path, student_latency_ms: float = 0, **store: object) -> AcademyConfig:
    """A teacher and a student (both simulated), every familiar request shadowed, no registry."""

    def model(name: str, role: str, price: float, latency_ms: float) -> dict:
        options = {"error_rate": 0.0, "latency_ms": latency_ms}
        return {
            "name": name,
            "backend": "reference",
            "role": role,
            "price_in": price,
            "price_out": price,
            "options": options,
        }

    return AcademyConfig.model_validate(
        {
            "paths": {"home": str(home)},
            "models": [
                model("teacher", "teacher", 10.0, 0),
                model("student", "student", 0.1, student_latency_ms),
            ],
            "router": {
                "novel_similarity": 0.9,
                "shadow_rate": 1.0,
                "explore_rate": 0.0,
                "min_evidence": 0.5,
                "learned": {"enabled": False},
            },
            "judge": {"name": "reference", "cost_per_call": 0.0002},
            "delegation": {"enabled": False},
            "store": store,
        }
    )


def familiar_runtime(home: Path, store: TrafficStore | None = None, **config: object) -> Runtime:
    """A runtime whose store already knows one judged request near ``unit(0)``, so requests with
    that embedding are familiar and go to the teacher (the student has no evidence there)."""
    runtime = Runtime.build(wal_config(home, **config), embedder=NoEmbedder(), store=store)
    if runtime.store.get_query("seed") is None:
        seed = query("seed", 0, judged_models=["teacher"], judged_scores=[1.0])
        TrafficStore.log_many(runtime.store, [(seed, [answer(judge_score=1.0)])])  # past a FlakyStore
    return runtime


def ask(i: int, seed: int = 0) -> RouteRequest:
    return RouteRequest(f"What is {10 + i} plus 35?", "acme", f"r-{i}", embedding=unit(seed))
