"""The backend interface: anything that turns prompts into answers at a price."""

from __future__ import annotations

import abc
import asyncio
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy.config import ModelConfig
from academy.plugins import PluginRegistry


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
    # The model's own confidence in this answer, 0-1 (an hf student: the lowest probability among
    # the tokens it generated); None when the backend cannot say. The router defers a low one.
    confidence: float | None = None


class BackendOverloaded(RuntimeError):
    """The backend already runs ``max_concurrency`` calls and ``max_queue`` more wait: refused at once.

    ``retry_after`` (seconds) estimates when a slot frees up, so a client can be told when to retry
    (503 + Retry-After) instead of every caller piling onto an unbounded queue.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendTimeout(TimeoutError):
    """A call ran past the backend's ``timeout_s``; the router falls back as on any error."""


class Admission:
    """At most ``limit`` calls run, at most ``queue`` more wait (first come, first served).

    Not an ``asyncio.Semaphore``: backends outlive event loops (tests and scripts call
    ``asyncio.run`` many times with one backend) and a semaphore binds to the first loop that waits
    on it. Here a waiter's future lives on its own loop and the bookkeeping is under a thread lock.
    """

    def __init__(self, limit: int, queue: int) -> None:
        self.limit, self.queue = limit, queue
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_enter(self) -> asyncio.Future[None] | None:
        """None: a slot is taken now. A future: queued, resolved when a slot is handed over.
        Raises ``QueueFull`` when the queue is full."""
        with self._lock:
            if self.running < self.limit and not self._waiters:
                self.running += 1
                return None
            if len(self._waiters) >= self.queue:
                raise QueueFull
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            return waiter

    def abandon(self, waiter: asyncio.Future[None]) -> None:
        """A queued caller gave up (timeout, cancellation): drop it, or pass on a slot it was handed.
        Runs on the waiter's loop, where a pending hand-over also runs, so the checks cannot race it."""
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return
        if waiter.done() and not waiter.cancelled():
            self.release()  # the slot arrived just as the caller gave up
        else:
            waiter.cancel()  # a hand-over is scheduled: it sees the cancellation and passes the slot on

    def release(self) -> None:
        """Hand the slot to the oldest waiter still waiting (on its own loop), else free it."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter.get_loop().call_soon_threadsafe(self._hand_over, waiter)
                    return
                except RuntimeError:  # its loop is closed: nobody waits there any more
                    continue
            self.running -= 1

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled meanwhile: the slot goes to the next one
            self.release()
        else:
            waiter.set_result(None)


class QueueFull(Exception):
    """Internal: ``Admission.try_enter`` found no room in the queue."""


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
        self.admission = Admission(config.max_concurrency, config.max_queue)
        self._mean_call_s = 1.0  # moving average of a call's duration, for Retry-After estimates

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
        """Answer each prompt; a failed call returns a Completion with ``error`` set.

        Raises only for back-pressure: ``BackendOverloaded`` when the backend is saturated (or the
        call waited its whole time limit for a slot), ``BackendTimeout`` when it ran past the limit.
        The limit is ``timeout_s`` per prompt: the router sends one, while evaluation and the demo
        send hundreds in one call and must not be cut off by a limit meant for one request.
        """
        deadline = time.monotonic() + self.config.timeout_s * max(1, len(prompts))
        await self._enter(deadline)
        started = time.monotonic()
        try:
            completions = await asyncio.wait_for(self._agenerate(prompts), deadline - started)
        except TimeoutError:
            raise BackendTimeout(
                f"{self.name} did not answer within {deadline - started:.3g} s (timeout_s)"
            ) from None
        finally:
            self.admission.release()
            self._observe(time.monotonic() - started, len(prompts))
        return [self._billed(c) for c in completions]

    async def _enter(self, deadline: float) -> None:
        """Take a slot, waiting in the bounded queue at most until ``deadline``."""
        try:
            waiter = self.admission.try_enter()
        except QueueFull:
            raise self._overloaded("all slots busy and the queue is full") from None
        if waiter is None:
            return
        try:
            await asyncio.wait_for(waiter, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self.admission.abandon(waiter)
            raise self._overloaded("waited its whole time limit for a slot") from None
        except asyncio.CancelledError:
            self.admission.abandon(waiter)
            raise

    def _overloaded(self, why: str) -> BackendOverloaded:
        admission = self.admission
        backlog = admission.running + admission.waiting
        retry_after = self._mean_call_s * max(1.0, backlog / admission.limit)
        return BackendOverloaded(
            f"{self.name} is overloaded: {why} ({admission.running} running, {admission.waiting} queued)",
            retry_after,
        )

    def _observe(self, seconds: float, prompts: int) -> None:
        per_prompt = seconds / max(1, prompts)
        self._mean_call_s = 0.8 * self._mean_call_s + 0.2 * per_prompt

    @abc.abstractmethod
    async def _agenerate(self, prompts: list[str]) -> list[Completion]: ...

    async def aclose(self) -> None:
        """Release clients, threads or model weights."""


BACKEND_CLS: PluginRegistry[Backend] = PluginRegistry("backend")


def build_backend(config: ModelConfig, home: Path | None = None, **kwargs: Any) -> Backend:
    """Instantiate the backend class named in ``config.backend``."""
    return BACKEND_CLS.get(config.backend)(config, home=home, **kwargs)
