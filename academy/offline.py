"""The process environment Academy runs in: no hub access and no telemetry at run time.

``offline_env`` is called before any Hugging Face, Prefect or MLflow import (the ``academy``
CLI's callback runs it first); it only fills in variables the caller has not set.
"""

from __future__ import annotations

import os


def offline_env() -> None:
    """No hub access at run time, no telemetry: set before any Hugging Face or Prefect import."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }.items():
        os.environ.setdefault(key, value)
