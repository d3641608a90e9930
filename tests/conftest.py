"""Shared fixtures. Heavy things (the MiniLM embedder, a tiny trained student) are built once per session."""

from __future__ import annotations

import os

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from academy.config import AcademyConfig  # noqa: E402
from academy.school import School  # noqa: E402
from models.student import TINY_STUDENT  # noqa: E402  (tests import it from here too)


@pytest.fixture(scope="session")
def embedder():
    from academy.embedder import Embedder

    emb = Embedder()
    yield emb
    emb.close()


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory) -> Path:
    """A tiny student created by the real factory and warm-started for a few steps."""
    from models.student import create_student

    path = tmp_path_factory.mktemp("students") / "student-1"
    examples = School(seed=1).generate(200)
    corpus = [t for e in examples for t in (e.query, e.reference, e.reasoning or "")]
    create_student(path, TINY_STUDENT, corpus, warm_start=[(e.query, e.reference) for e in examples])
    return path


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


@pytest.fixture(scope="session")
def prefect_harness():
    """One ephemeral Prefect API for the whole session (its database migrations cost ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
