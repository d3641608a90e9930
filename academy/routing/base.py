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
from academy.plugins import PluginRegistry
from academy.routing.budget import QualityBudget
from academy.routing.evidence import EvidenceIndex
from academy.routing.learned_router import LearnedRouter
from academy.routing.recall import RecallIndex
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from academy.wal import TrafficLog

log = logging.getLogger(__name__)
EmbedFn = Callable[[str], Awaitable[np.ndarray]]


class OverloadedError(RuntimeError):
    """Every model the request could go to refused it as overloaded; the server answers 503 with
    ``Retry-After: retry_after`` seconds, so clients back off instead of retrying at once."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoAllowedModelError(LookupError):
    """The request's allowed models (its tenant's tier) include no active model; the server
    answers 403: the client may not use any model that could answer."""


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
    # The models this request may use (its tenant's tier); None = every active model.
    models: frozenset[str] | None = None


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
        # The write-ahead log requests are logged through (academy/wal.py); None: the router writes
        # to the store itself after the response (the replay harness, ``store.wal: false``).
        self.traffic_log: TrafficLog | None = None
        # The learned quality model the registry serves (set by the registry watcher or a benchmark).
        self.learned_router: LearnedRouter | None = None
        # Who judges instead of the supervisor where it was delegated (academy/judges/delegation.py);
        # None: the supervisor judges everything.
        self.panel: JudgePanel | None = None
        # Judged answers by model, the router's quality evidence (``router.estimator: evidence``);
        # loaded from the store when the runtime starts, grown as the router judges.
        self.evidence: EvidenceIndex | None = (
            EvidenceIndex(config.evidence) if config.estimator == "evidence" else None
        )
        # Exact repeats served the good answer already paid for (academy/routing/recall.py); loaded
        # from the store when the runtime starts, grown as the router logs.
        self.recall: RecallIndex | None = RecallIndex(config.recall) if config.recall.enabled else None
        # The quality the target leaves, spent on cheaper answers (academy/routing/budget.py);
        # saved in ``home`` by the runtime between runs.
        self.budget = QualityBudget(config.budget, config.quality_floor)

    @abc.abstractmethod
    async def route(self, request: RouteRequest) -> RouteResult: ...

    def attach_traffic_log(self, traffic_log: TrafficLog) -> None:
        """Log through ``traffic_log``; its writer keeps the store maintained as rows arrive."""
        self.traffic_log = traffic_log
        traffic_log.on_stored = self.maintain_when_due

    def allowed_models(self, request: RouteRequest) -> list[str]:
        """The active models this request may use, in config order; NoAllowedModelError if none."""
        if request.models is None:
            return list(self.backends)
        allowed = [name for name in self.backends if name in request.models]
        if not allowed:
            raise NoAllowedModelError(
                f"none of the models this request may use ({', '.join(sorted(request.models)) or 'none'}) "
                f"is active; active models: {', '.join(self.backends)}"
            )
        return allowed

    def maintain_when_due(self) -> None:
        """After ``store.maintenance_every`` new rows, index or compact in the background."""
        if self.store.pending_rows >= self.store.config.maintenance_every:
            self.spawn(self.maintain_store())

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
        """Log a request answered outside routing (a cache hit) like any routed request: through
        the traffic log when there is one (durable when this returns), else stored directly."""
        if self.traffic_log is not None:
            await self.traffic_log.append(query, answers, final=True)
        else:
            await asyncio.to_thread(self.store.log, query, answers)

    @staticmethod
    async def _logged(coro: Awaitable[None]) -> None:
        try:
            await coro
        except Exception:  # a background failure must not vanish silently, nor kill the server
            log.exception("background routing task failed")

    @property
    def idle(self) -> bool:
        """No background task runs and the traffic log has stored everything queued."""
        return not self._background and (self.traffic_log is None or self.traffic_log.idle)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until background work is done and its traffic is in the store, from a thread other
        than the server's event loop (tests, demos and benchmarks that drive a server in a thread)."""
        deadline = time.monotonic() + timeout
        while not self.idle:
            if time.monotonic() > deadline:
                backlog = self.traffic_log.backlog if self.traffic_log else 0
                raise TimeoutError(
                    f"{len(self._background)} background routing tasks still running, "
                    f"{backlog} traffic records not stored yet"
                )
            time.sleep(0.01)

    async def drain(self) -> None:
        """Wait until every background task has finished and the traffic log has stored what they
        logged (tests, the end of a demo day: callers read the store right after)."""
        while not self.idle:
            await self.drain_tasks()
            if self.traffic_log is not None:
                await self.traffic_log.flush()

    async def drain_tasks(self) -> None:
        """Wait for background tasks only (shutdown: the traffic log is then closed with a bound)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


ROUTER_CLS: PluginRegistry[Router] = PluginRegistry("router")
