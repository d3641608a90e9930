"""The backend interface: anything that turns prompts into answers at a price."""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy.config import ModelConfig
from academy.registry import Registry


@dataclass
class Completion:
    """One model answer with everything the router logs and bills."""

    text: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    cost: float | None = None  # None: billed from the declared prices; a recorded cost wins
    reasoning: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def approx_tokens(text: str) -> int:
    """Token count for backends without a tokenizer: ~4 characters per token, as OpenAI documents."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


class Backend(abc.ABC):
    """A model that answers prompts. Subclasses implement ``agenerate`` for a batch of prompts.

    The price is declared in config (USD per 1M input/output tokens) and applied here, so every
    backend is billed the same way.
    """

    registry_name: str = ""

    def __init__(self, config: ModelConfig, home: Path | None = None) -> None:
        self.config = config
        self.home = home or Path(".")

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def role(self) -> str:
        return self.config.role

    def price(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.config.price_in + tokens_out * self.config.price_out) / 1e6

    def _billed(self, completion: Completion) -> Completion:
        if completion.cost is None:
            completion.cost = self.price(completion.tokens_in, completion.tokens_out)
        return completion

    async def agenerate(self, prompts: list[str]) -> list[Completion]:
        """Answer each prompt; a failed call returns a Completion with ``error`` set, never raises."""
        completions = await self._agenerate(prompts)
        return [self._billed(c) for c in completions]

    @abc.abstractmethod
    async def _agenerate(self, prompts: list[str]) -> list[Completion]: ...

    async def aclose(self) -> None:
        """Release clients, threads or model weights."""


BACKEND_CLS: Registry[Backend] = Registry("backend", "academy.backends")


def build_backend(config: ModelConfig, home: Path | None = None, **kwargs: Any) -> Backend:
    """Instantiate the backend class named in ``config.backend``."""
    return BACKEND_CLS.get(config.backend)(config, home=home, **kwargs)
