"""The judge interface: score an answer 0-1, at a cost per call."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy.config import JudgeConfig
from academy.plugins import PluginRegistry


@dataclass
class JudgeRequest:
    """One answer to judge. ``reference`` is passed when the caller knows the gold answer."""

    query: str
    answer: str
    model: str = ""
    reference: str | None = None
    # Context for the cheap judges (academy/judges/cheap.py): the other answers to the same query
    # (model -> text) and each model's track record in the query's neighbourhood (model -> 0-1).
    peers: dict[str, str] = field(default_factory=dict)
    trust: dict[str, float] = field(default_factory=dict)


# A cheaper answer scored by exact match with the teacher's answer to the same query (the router's
# free evidence, academy/routing/academy_policy.py); never a label to train or gate on.
AGREEMENT_JUDGE = "agreement"


@dataclass
class Judgement:
    """``score`` is the judge's confidence (0-1) that the answer is right; None when it could not judge."""

    score: float | None
    cost: float
    judge: str
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Judge(abc.ABC):
    """Scores answers. Subclasses implement ``_ajudge``; billing per call is applied here."""

    registry_name: str = ""

    def __init__(self, config: JudgeConfig, home: Path | None = None) -> None:
        self.config = config
        self.home = home or Path(".")

    @property
    def name(self) -> str:
        return self.registry_name

    async def ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        """Judge a batch; a failure for one answer yields ``score=None`` with ``error`` set, never raises."""
        if not requests:
            return []
        return await self._ajudge(requests)

    @abc.abstractmethod
    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]: ...

    async def aclose(self) -> None:
        """Release clients."""


JUDGE_CLS: PluginRegistry[Judge] = PluginRegistry("judge")


def build_judge(config: JudgeConfig, home: Path | None = None, **kwargs: Any) -> Judge:
    return JUDGE_CLS.get(config.name)(config, home=home, **kwargs)
