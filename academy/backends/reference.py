"""``reference``: a SIMULATED expensive teacher for the embedded default.

It answers from a reference source (the school, which parses its own templates, or a JSONL trace),
is wrong on a configurable, deterministic share of queries, sleeps a configurable latency, and can
return a worked reasoning string. It stands in for a paid frontier model so that the whole system
runs offline; nothing about it is a real LLM.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path

from academy.backends.base import BACKEND_CLS, Backend, Completion, approx_tokens
from academy.config import ModelConfig
from academy.school import ReferenceSource, School, TraceSource, read_trace

UNKNOWN_ANSWER = "I don't know."


def load_reference_source(source: str, home: Path, seed: int = 0) -> ReferenceSource:
    """``school`` or a path to a JSONL trace (relative to the working directory or home)."""
    if source == "school":
        return School(seed=seed)
    path = Path(source)
    if not path.exists() and (home / path).exists():
        path = home / path
    return TraceSource(read_trace(path))


def unit_draw(*parts: object) -> float:
    """A uniform [0, 1) number fixed by its inputs, so simulated errors repeat run after run."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def corrupt(answer: str, salt: str) -> str:
    """A plausible wrong answer: shift the last number, else drop the last character or word."""
    numbers = list(re.finditer(r"\d+", answer))
    if numbers:
        last = numbers[-1]
        shift = 1 + int(unit_draw(salt, "shift") * 9)
        wrong = str(int(last.group()) + shift)
        return answer[: last.start()] + wrong + answer[last.end() :]
    if answer.lower() in {"yes", "no"}:
        return "no" if answer.lower() == "yes" else "yes"
    words = answer.split()
    return " ".join(words[:-1]) if len(words) > 1 else answer[:-1] or "?"


@BACKEND_CLS.register("reference")
class ReferenceBackend(Backend):
    """Simulated teacher. Options: source (school | trace.jsonl), error_rate, latency_ms, reasoning, seed."""

    def __init__(self, config: ModelConfig, home: Path | None = None, source: ReferenceSource | None = None):
        super().__init__(config, home)
        opts = config.options
        self.error_rate = float(opts.get("error_rate", 0.0))
        self.latency_s = float(opts.get("latency_ms", 0.0)) / 1000
        self.with_reasoning = bool(opts.get("reasoning", True))
        self.seed = int(opts.get("seed", 0))
        self.source = source or load_reference_source(str(opts.get("source", "school")), self.home, self.seed)

    def answer(self, prompt: str) -> tuple[str, str | None]:
        """The (possibly deliberately wrong) answer and its reasoning for one prompt."""
        example = self.source.lookup(prompt)
        if example is None:
            return UNKNOWN_ANSWER, None
        reasoning = example.reasoning if self.with_reasoning else None
        if unit_draw(self.seed, self.name, prompt) < self.error_rate:
            wrong = corrupt(example.reference, prompt)
            if reasoning and reasoning.endswith(example.reference):
                reasoning = reasoning[: -len(example.reference)] + wrong
            return wrong, reasoning
        return example.reference, reasoning

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        started = time.perf_counter()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        completions = []
        for prompt in prompts:
            text, reasoning = self.answer(prompt)
            out_tokens = approx_tokens(text) + approx_tokens(reasoning or "")
            completions.append(Completion(text, approx_tokens(prompt), out_tokens, 0.0, reasoning=reasoning))
        elapsed = (time.perf_counter() - started) * 1000
        for completion in completions:
            completion.latency_ms = elapsed
        return completions
