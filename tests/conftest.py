"""Shared fixtures, and the ``unit`` / ``integration`` / ``e2e`` marker of each test, taken from its
folder (``pytest -m unit`` equals ``pytest tests/unit``). Heavy things (the MiniLM embedder, a tiny
trained student, the Prefect test API) are built once per session; plain builders are in
tests/factories."""

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

from academy.school import School  # noqa: E402
from tests.factories import TINY_STUDENT, make_config  # noqa: E402, F401  (make_config: re-exported)

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/unit, tests/integration or tests/e2e with that folder's name."""
    for item in items:
        try:
            folder = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # collected from outside tests/
            continue
        if folder in KINDS:
            item.add_marker(folder)


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


@pytest.fixture(scope="session")
def prefect_harness():
    """One ephemeral Prefect API for the whole session (its database migrations cost ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
