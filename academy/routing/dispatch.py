"""Calling models for the ``academy`` router: in parallel, in a fallback chain, never raising.

Guarantees:

* A backend that raises never fails the request: :func:`safe_generate` turns the exception into a
  :class:`~academy.backends.base.Completion` with ``error`` set (logged like any answer), and an
  overload refusal keeps its ``Retry-After`` under :data:`RETRY_AFTER` in ``Completion.extra``.
* :func:`ask_all` asks models concurrently, at most ``max_concurrency`` at once, and returns
  their answers in the order the names were given.
* :func:`serve_chain` asks one model after another until one answers; every failed attempt stays
  in the returned list with purpose ``failed``, so failures reach the traffic store.
* :func:`below_threshold`: a cascade's answer whose confidence is below the threshold is deferred
  (purpose ``deferred``, logged and billed) and the next model of the chain serves.
* :func:`failure` is :class:`~academy.routing.base.OverloadedError` (503, retry later) when every
  failure was an overload, else :class:`NoAnswerError` (502).
"""

from __future__ import annotations

import asyncio
import time

from academy.backends.base import Backend, BackendOverloaded, Completion
from academy.routing.base import ModelAnswer, OverloadedError

RETRY_AFTER = "retry_after"  # Completion.extra key: the backend refused the call as overloaded
DEFERRED = "deferred"  # purpose of a cascade's answer not confident enough to serve (the next model served)


class NoAnswerError(RuntimeError):
    """No model produced an answer (every backend failed); the server answers 502."""


def overload_of(answer: ModelAnswer) -> float | None:
    """Seconds until the answer's model expects a free slot, if it refused the call as overloaded."""
    return answer.completion.extra.get(RETRY_AFTER)


async def ask_all(
    backends: dict[str, Backend], query: str, names: list[str], purpose: str, max_concurrency: int
) -> list[ModelAnswer]:
    """Ask models in parallel, at most ``max_concurrency`` at once."""
    semaphore = asyncio.Semaphore(max_concurrency)

    async def ask(backend: Backend) -> ModelAnswer:
        async with semaphore:
            version = getattr(backend, "version", None)  # the version that actually answers
            completion = await safe_generate(backend, query)
        return ModelAnswer(backend.name, backend.role, purpose, completion, version=version)

    return list(await asyncio.gather(*(ask(backends[n]) for n in names)))


async def safe_generate(backend: Backend, query: str) -> Completion:
    """One completion of ``query``; a failure comes back as a completion with ``error`` set."""
    started = time.perf_counter()
    try:
        [completion] = await backend.agenerate([query])
    except Exception as exc:  # a broken backend must not fail the request: it is logged instead
        latency_ms = (time.perf_counter() - started) * 1000
        completion = Completion("", 0, 0, latency_ms, cost=0.0, error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, BackendOverloaded):
            completion.extra[RETRY_AFTER] = exc.retry_after
    return completion


async def serve_chain(
    backends: dict[str, Backend], query: str, chain: list[str], max_concurrency: int
) -> tuple[ModelAnswer | None, list[ModelAnswer]]:
    """Ask each model in turn until one answers; a failed attempt stays, as purpose ``failed``
    (logged, so failures show up in the traffic store)."""
    attempts: list[ModelAnswer] = []
    for model in chain:
        [answer] = await ask_all(backends, query, [model], "serve", max_concurrency)
        attempts.append(answer)
        if not answer.completion.error:
            return answer, attempts
        answer.purpose = "failed"
    return None, attempts


def below_threshold(answer: ModelAnswer, threshold: float) -> bool:
    """A cascade defers this answer: its model said how sure it is, and that is below ``threshold``."""
    return unsure(answer.completion.confidence, threshold)


def defer(answers: list[ModelAnswer]) -> None:
    """Mark a cascade's unsure answers as deferred: logged and billed, not served."""
    for answer in answers:
        answer.purpose = DEFERRED


def unsure(confidence: float | None, threshold: float) -> bool:
    """A confidence (None: not given) below a cascade's threshold (0: no cascade)."""
    return threshold > 0 and confidence is not None and confidence < threshold


def fallback_reason(attempts: list[ModelAnswer]) -> str:
    """Which models failed, why, and who answered in the end."""
    steps = [
        f"{a.model} {'was overloaded' if overload_of(a) is not None else 'failed'} ({a.completion.error})"
        for a in attempts
        if a.completion.error
    ]
    served = next((a.model for a in attempts if not a.completion.error), None)
    return "; ".join(steps) + (f"; fell back to {served}, which answered" if served else "")


def failure(answers: list[ModelAnswer], what: str) -> Exception:
    """OverloadedError when every failure was an overload (the client should retry later),
    else NoAnswerError (nothing could answer: a 502)."""
    failed = [a for a in answers if a.completion.error]
    waits = [overload_of(a) for a in failed]
    detail = "; ".join(f"{a.model}: {a.completion.error}" for a in failed)
    if failed and all(w is not None for w in waits):
        return OverloadedError(f"{what}: every model was overloaded ({detail})", min(waits))
    return NoAnswerError(f"{what}: {detail}")
