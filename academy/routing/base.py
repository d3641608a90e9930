"""The Router interface and the records a routing decision produces."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from academy.backends.base import Backend, Completion
from academy.config import RouterConfig
from academy.judges.base import Judge, Judgement
from academy.judges.delegation import JudgePanel
from academy.registry import Registry
from academy.routing.quality_model import QualityModel
from academy.store import AnswerRecord, QueryRecord, TrafficStore

log = logging.getLogger(__name__)
EmbedFn = Callable[[str], Awaitable[np.ndarray]]


@dataclass
class RouteRequest:
    """One user query. ``embedding`` and ``reference`` let benchmarks and tests bypass the embedder
    or give the judge the gold answer; live traffic sets neither."""

    query: str
    tenant: str
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    domain: str | None = None
    embedding: np.ndarray | None = None
    reference: str | None = None
    models: frozenset[str] | None = None  # the models the tenant may use (None: every active model)


@dataclass
class ModelAnswer:
    """One model's answer to a request, why it was asked (serve/fanout/shadow/explore), and its judgement."""

    model: str
    role: str
    purpose: str
    completion: Completion
    judgement: Judgement | None = None
    version: str | None = None  # registry version of the model that answered

    @property
    def score(self) -> float | None:
        return self.judgement.score if self.judgement else None

    @property
    def cost(self) -> float:
        return (self.completion.cost or 0.0) + (self.judgement.cost if self.judgement else 0.0)


@dataclass
class RouteResult:
    """What the caller gets back. ``cost`` is what this request has cost so far (foreground);
    background shadow/explore calls are added to the logged total when they finish."""

    request_id: str
    route: str
    model: str
    answer: str
    score: float | None
    score_source: str
    cost: float
    latency_ms: float
    decision_ms: float
    max_similarity: float | None
    estimates: dict[str, float]
    answers: list[ModelAnswer]
    reason: str = ""
    embedding: np.ndarray | None = None  # the query's, so the gateway can cache without re-embedding


class Router(abc.ABC):
    """Answers a request with some model and logs what happened."""

    registry_name: str = ""

    def __init__(
        self,
        config: RouterConfig,
        backends: dict[str, Backend],
        judge: Judge,
        store: TrafficStore,
        embed: EmbedFn,
    ) -> None:
        self.config = config
        self.backends = backends
        self.judge = judge
        self.store = store
        self.embed = embed
        self._background: set[asyncio.Task] = set()
        self._maintaining = False
        # The learned quality model the registry serves (set by the registry watcher or a benchmark).
        self.quality_model: QualityModel | None = None
        # Who judges instead of the supervisor where it was delegated (academy/judges/delegation.py);
        # None: the supervisor judges everything.
        self.panel: JudgePanel | None = None

    @abc.abstractmethod
    async def route(self, request: RouteRequest) -> RouteResult: ...

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run work after the response (shadowing, logging); ``drain`` waits for all of it."""
        task = asyncio.ensure_future(self._logged(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def maintain_store(self) -> None:
        """Keep search fast as traffic grows: build or refresh the ANN index when due, else merge
        the small fragments that per-request appends leave. One run at a time, off the request path."""
        if self._maintaining:
            return
        self._maintaining = True
        try:
            if not await asyncio.to_thread(self.store.maybe_index):
                await asyncio.to_thread(self.store.compact)
        finally:
            self._maintaining = False

    async def log_query(self, query: QueryRecord, answers: list[AnswerRecord]) -> None:
        """Log a request answered outside routing (a cache hit) like any routed request."""
        await asyncio.to_thread(self.store.log, query, answers)

    @staticmethod
    async def _logged(coro: Awaitable[None]) -> None:
        try:
            await coro
        except Exception:  # a background failure must not vanish silently, nor kill the server
            log.exception("background routing task failed")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until background work is done, from a thread other than the server's event loop
        (tests, demos and benchmarks that drive a server running in a thread)."""
        deadline = time.monotonic() + timeout
        while self._background:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._background)} background routing tasks still running")
            time.sleep(0.01)

    async def drain(self) -> None:
        """Wait until every background task has finished (tests, shutdown, end of a demo day)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


ROUTER_CLS: Registry[Router] = Registry("router", "academy.routing")
