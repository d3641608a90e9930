"""The ModelConfig of a student served by the hf backend, for tests/unit/test_hf_backend.py and
tests/integration/test_hf_backend.py."""

from __future__ import annotations

from academy.config import ModelConfig


def model_config(path: str = "students/capitals", **options) -> ModelConfig:
    return ModelConfig(
        name="student-t",
        backend="hf",
        price_in=0.05,
        price_out=0.1,
        options={"path": path, **options},
    )
