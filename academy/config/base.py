"""The bottom of the config: the ``Section`` base every section model derives from, and the constants
sections share (role and aspect names, environment variable names, the school's domain names).

Nothing here imports the rest of Academy, so every module may import it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DEFAULT_CONFIG_FILE = "academy.yaml"
# How concurrent training processes on one machine split its cores (``models.threads``): a fixed
# thread count, or a directory where trainers register and share the cores (local Dask workers).
TRAIN_THREADS_ENV = "ACADEMY_TRAIN_THREADS"
TRAIN_SHARE_ENV = "ACADEMY_TRAIN_SHARE"
Role = Literal["teacher", "ta", "student"]
# What a candidate learns from (``DistillConfig.aspects``): the winning answer, the winner's worked
# reasoning then the answer, the judge's confidence as example weights, a promoted peer's logits.
Aspect = Literal["response", "reasoning", "metrics", "peer"]
TARGET_ASPECTS = ("response", "reasoning")
# The school's domains (``academy.school.DOMAINS`` is this tuple): defined here so sections can
# validate domain names without importing the school, which itself builds on the config.
SCHOOL_DOMAINS: tuple[str, ...] = ("arithmetic", "units", "reverse", "capitals", "sorting", "compare")


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")
