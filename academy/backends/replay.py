"""``replay``: answers exactly what a model answered when the outcome was recorded.

The real-data benchmark streams RouteLLM/RouterBench outcomes through the live router with these
backends, so routing is measured on real model behaviour without calling any model. Recorded USD
cost wins over the declared price when the file has one.
"""

from __future__ import annotations

from pathlib import Path

from academy.backends.base import BACKEND_CLS, Backend, Completion, approx_tokens
from academy.config import ModelConfig
from academy.outcomes import RecordedOutcomes


@BACKEND_CLS.register("replay")
class ReplayBackend(Backend):
    """Options: path (outcomes JSONL), model (name in the file; defaults to this model's name)."""

    def __init__(self, config: ModelConfig, home: Path | None = None) -> None:
        super().__init__(config, home)
        if "path" not in config.options:
            raise ValueError(f"model {config.name!r}: replay backend needs options.path")
        self.outcomes = RecordedOutcomes.load(config.options["path"])
        self.recorded_model = str(config.options.get("model", config.name))

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        return [self._replay(prompt) for prompt in prompts]

    def _replay(self, prompt: str) -> Completion:
        outcome = self.outcomes.get(prompt, self.recorded_model)
        if outcome is None:
            return Completion("", approx_tokens(prompt), 0, 0.0, error="no recorded outcome for this query")
        tokens_in = outcome.tokens_in if outcome.tokens_in is not None else approx_tokens(prompt)
        tokens_out = outcome.tokens_out if outcome.tokens_out is not None else approx_tokens(outcome.answer)
        return Completion(outcome.answer, tokens_in, tokens_out, 0.0, cost=outcome.cost)
