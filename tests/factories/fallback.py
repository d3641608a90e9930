"""Model entries and router settings for the fallback tests (tests/integration/test_fallback.py,
tests/e2e/test_fallback.py): simulated models on a temporary home, no shadowing or exploration."""

from __future__ import annotations

from pathlib import Path

from academy.config import AcademyConfig


def model(name: str, role: str, price: float, backend: str = "reference", **extra: object) -> dict:
    options = {"error_rate": 0.0, "latency_ms": 0} | extra.pop("options", {})
    return {"name": name, "backend": backend, "role": role, "price_in": price, "price_out": price} | {
        "options": options,
        **extra,
    }


def config(home: Path, models: list[dict], **router: object) -> AcademyConfig:
    return AcademyConfig.model_validate(
        {
            "paths": {"home": str(home)},
            "models": models,
            "router": {
                "novel_similarity": 0.9,
                "shadow_rate": 0.0,
                "explore_rate": 0.0,
                "min_evidence": 0.5,
                "estimator": "knn",  # fallback mechanics: one judged neighbour picks the student
                "learned": {"enabled": False},
            }
            | router,
            "judge": {"name": "reference", "cost_per_call": 0.0002},
            "delegation": {"enabled": False},
        }
    )
