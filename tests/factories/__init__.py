"""Builders the tests share: the repository root, the tiny student's settings and a config on a
temporary home. Helpers for one subject live in this package's modules (``tests.factories.wal``,
``tests.factories.night`` ...), so test files never import each other."""

from __future__ import annotations

from pathlib import Path

from academy.config import AcademyConfig
from models.student import TINY_STUDENT

__all__ = ["REPO", "TINY_STUDENT", "make_config"]

REPO = Path(__file__).resolve().parents[2]


def make_config(home: Path, student_dir: Path | None = None, **router: object) -> AcademyConfig:
    """A config on a temporary home: reference teacher, optional hf student, reference judge."""
    models: list[dict] = [
        {
            "name": "teacher",
            "backend": "reference",
            "role": "teacher",
            "price_in": 5.0,
            "price_out": 15.0,
            "options": {"error_rate": 0.0, "latency_ms": 0},
        },
    ]
    if student_dir is not None:
        models.append(
            {
                "name": "student-1",
                "backend": "hf",
                "role": "student",
                "price_in": 0.05,
                "price_out": 0.1,
                "options": {"path": str(student_dir), "max_new_tokens": 12},
            }
        )
    return AcademyConfig.model_validate(
        {
            "paths": {"home": str(home)},
            "models": models,
            "router": {"seed": 0, **router},
            "student": TINY_STUDENT.model_dump(),
            "judge": {"name": "reference", "cost_per_call": 0.0002},
        }
    )
