"""``recorded``: the scores that were recorded with replayed outcomes (RouteLLM, RouterBench).

Used by the real-data benchmark: the judge "reveals" a model's recorded correctness, and the router
pays ``cost_per_call`` for it exactly as it would pay a live supervisor.
"""

from __future__ import annotations

from pathlib import Path

from academy.config import JudgeConfig
from academy.judges.base import JUDGE_CLS, Judge, Judgement, JudgeRequest
from academy.outcomes import RecordedOutcomes


@JUDGE_CLS.register("recorded")
class RecordedJudge(Judge):
    """Options: path (the outcomes JSONL the replay backends read)."""

    def __init__(self, config: JudgeConfig, home: Path | None = None) -> None:
        super().__init__(config, home)
        if "path" not in config.options:
            raise ValueError("recorded judge needs options.path (an outcomes JSONL)")
        self.outcomes = RecordedOutcomes.load(config.options["path"])

    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return [self._one(r) for r in requests]

    def _one(self, request: JudgeRequest) -> Judgement:
        outcome = self.outcomes.get(request.query, request.model)
        if outcome is None or outcome.score is None:
            return Judgement(None, 0.0, self.name, error=f"no recorded score for model {request.model!r}")
        return Judgement(float(outcome.score), self.config.cost_per_call, self.name)
