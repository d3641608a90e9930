"""``llm``: an LLM-as-judge over any OpenAI-compatible endpoint, with a four-criterion rubric.

The judge model returns JSON scores (0-10) for relevance, correctness, completeness and clarity;
they are combined with configurable weights into one 0-1 confidence. Judge models misbehave, so
malformed output (no JSON, missing or out-of-range fields) is retried and then reported as
``score=None`` with the reason; the call is still billed, because the provider still charges.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import openai

from academy.backends.openai_compat import make_client
from academy.config import JudgeConfig
from academy.judges.base import JUDGE_CLS, Judge, Judgement, JudgeRequest

CRITERIA = ("relevance", "correctness", "completeness", "clarity")
DEFAULT_WEIGHTS = {"relevance": 0.15, "correctness": 0.6, "completeness": 0.15, "clarity": 0.1}
RUBRIC = (
    "You are a strict grader. Rate the ANSWER to the QUESTION on four criteria, each an integer "
    "from 0 (worst) to 10 (best): relevance, correctness, completeness, clarity. "
    'Reply with JSON only, for example {"relevance": 9, "correctness": 10, "completeness": 8, "clarity": 9}.'
)
JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


class MalformedJudgeOutput(ValueError):
    """The judge model's reply could not be read as the rubric's JSON."""


def judge_prompt(request: JudgeRequest) -> str:
    """The user message: question, answer and, when known, a reference answer."""
    parts = [f"QUESTION:\n{request.query}", f"ANSWER:\n{request.answer}"]
    if request.reference is not None:
        parts.append(f"REFERENCE ANSWER:\n{request.reference}")
    return "\n\n".join(parts)


def parse_rubric(text: str, scale: float = 10.0) -> dict[str, float]:
    """The four criterion scores from a reply, which may wrap the JSON in prose or code fences."""
    for candidate in JSON_OBJECT.findall(text or ""):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and all(c in data for c in CRITERIA):
            return {c: _criterion(data[c], c, scale) for c in CRITERIA}
    raise MalformedJudgeOutput(f"no rubric JSON with {list(CRITERIA)} in judge reply: {text[:200]!r}")


def _criterion(value: object, name: str, scale: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= scale:
        raise MalformedJudgeOutput(f"criterion {name!r} must be a number in [0, {scale}], got {value!r}")
    return float(value)


def combine(scores: dict[str, float], weights: dict[str, float], scale: float = 10.0) -> float:
    """Weighted mean of the criteria, mapped to 0-1."""
    total = sum(weights[c] for c in CRITERIA)
    return sum(scores[c] * weights[c] for c in CRITERIA) / (total * scale)


@JUDGE_CLS.register("llm")
class LLMJudge(Judge):
    """Options: base_url, model, api_key_env, timeout_s, max_retries, weights, parse_retries, max_concurrency."""

    def __init__(self, config: JudgeConfig, home: Path | None = None) -> None:
        super().__init__(config, home)
        opts = config.options
        self.model = str(opts.get("model", "judge"))
        self.weights = {**DEFAULT_WEIGHTS, **opts.get("weights", {})}
        self.parse_retries = int(opts.get("parse_retries", 1))
        self.client = make_client(opts)
        self.semaphore = asyncio.Semaphore(int(opts.get("max_concurrency", 8)))

    async def _ajudge(self, requests: list[JudgeRequest]) -> list[Judgement]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))

    async def _one(self, request: JudgeRequest) -> Judgement:
        calls, error = 0, "no attempt made"
        async with self.semaphore:
            for _ in range(1 + self.parse_retries):
                calls += 1
                try:
                    reply = await self._ask(request)
                    scores = parse_rubric(reply)
                except openai.OpenAIError as exc:
                    error = f"judge call failed: {type(exc).__name__}: {exc}"
                    break
                except MalformedJudgeOutput as exc:
                    error = f"malformed judge output: {exc}"
                    continue
                score = round(combine(scores, self.weights), 4)
                return Judgement(score, calls * self.config.cost_per_call, self.name, detail=scores)
        return Judgement(None, calls * self.config.cost_per_call, self.name, error=error)

    async def _ask(self, request: JudgeRequest) -> str:
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": RUBRIC},
                {"role": "user", "content": judge_prompt(request)},
            ],
            temperature=0.0,
            max_tokens=100,
        )
        return (response.choices[0].message.content or "") if response.choices else ""

    async def aclose(self) -> None:
        await self.client.close()
