"""``openai``: any OpenAI-compatible chat endpoint (OpenAI, vLLM, TGI, llama.cpp, Academy itself).

Uses the official ``openai`` client, which brings timeouts and retries with backoff. A failed call
becomes a Completion with ``error`` set, so one broken provider never fails a whole fan-out.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import openai

from academy.backends.base import BACKEND_CLS, Backend, Completion, approx_tokens
from academy.config import ModelConfig


def make_client(options: dict, default_key_env: str = "OPENAI_API_KEY") -> openai.AsyncOpenAI:
    """An AsyncOpenAI client from backend/judge options: base_url, api_key_env, timeout_s, max_retries."""
    key_env = str(options.get("api_key_env", default_key_env))
    return openai.AsyncOpenAI(
        base_url=options.get("base_url"),
        api_key=os.environ.get(key_env) or "not-set",
        timeout=float(options.get("timeout_s", 30.0)),
        max_retries=int(options.get("max_retries", 2)),
    )


@BACKEND_CLS.register("openai")
class OpenAIBackend(Backend):
    """Options: base_url, model (remote id, default this model's name), api_key_env, timeout_s,
    max_retries, max_tokens, system (prompt)."""

    def __init__(self, config: ModelConfig, home: Path | None = None) -> None:
        super().__init__(config, home)
        self.options = config.options
        self.remote_model = str(self.options.get("model", config.name))
        self.client = make_client(self.options)
        # the registry version behind the endpoint, when a registered student is served remotely
        # (set by the registry watcher from the academy.served_at tag), so logged answers carry it
        self.version: str | None = None

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        return list(await asyncio.gather(*(self._one(prompt) for prompt in prompts)))

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        system = self.options.get("system")
        messages = [{"role": "system", "content": str(system)}] if system else []
        return messages + [{"role": "user", "content": prompt}]

    async def _one(self, prompt: str) -> Completion:
        started = time.perf_counter()
        try:
            response = await self.client.chat.completions.create(
                model=self.remote_model,
                messages=self._messages(prompt),
                max_tokens=int(self.options.get("max_tokens", 256)),
                temperature=0.0,
            )
        except openai.OpenAIError as exc:
            latency = (time.perf_counter() - started) * 1000
            return Completion(
                "", approx_tokens(prompt), 0, latency, cost=0.0, error=f"{type(exc).__name__}: {exc}"
            )
        latency = (time.perf_counter() - started) * 1000
        message = response.choices[0].message if response.choices else None
        text = (message.content or "") if message else ""
        reasoning = getattr(message, "reasoning_content", None) if message else None
        usage = response.usage
        tokens_in = usage.prompt_tokens if usage else approx_tokens(prompt)
        tokens_out = usage.completion_tokens if usage else approx_tokens(text)
        return Completion(text.strip(), tokens_in, tokens_out, latency, reasoning=reasoning)

    async def aclose(self) -> None:
        await self.client.close()
