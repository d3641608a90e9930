"""Builds the live parts of Academy from config: embedder, traffic store, backends, judge, router.

One place wires them, so the server, the demo and the benchmarks run the same objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from academy.backends import Backend, build_backend
from academy.config import AcademyConfig
from academy.embedder import Embedder
from academy.judges import Judge, build_judge
from academy.judges.delegation import JudgePanel
from academy.registry_watch import DelegationWatcher, LearnedRouterWatcher, RegistryWatcher
from academy.routing import ROUTER_CLS, Router
from academy.routing.evidence import load_from_store as load_evidence
from academy.routing.recall import load_from_store as load_recall
from academy.store import TrafficStore
from academy.wal import TrafficLog

if TYPE_CHECKING:
    from registry.model_registry import ModelRegistry


@dataclass
class Runtime:
    config: AcademyConfig
    embedder: Embedder
    store: TrafficStore
    backends: dict[str, Backend]
    judge: Judge
    router: Router
    watcher: RegistryWatcher | None = field(default=None)  # set when any hf model exists
    # set when router.learned.enabled: loads the learned router model's @production version
    model_watcher: LearnedRouterWatcher | None = field(default=None)
    # set when delegation.enabled: loads the judges' delegation state's @production version
    delegation_watcher: DelegationWatcher | None = field(default=None)
    # set when store.wal: the write-ahead log the router logs through (home/wal/)
    traffic_log: TrafficLog | None = field(default=None)

    @property
    def budget_path(self) -> Path:
        """Where the router's quality budget is kept between runs (academy/routing/budget.py)."""
        return self.config.paths.home / "router" / "quality_budget.json"

    @property
    def watchers(self) -> list:
        return [w for w in (self.watcher, self.model_watcher, self.delegation_watcher) if w is not None]

    @classmethod
    def build(
        cls, config: AcademyConfig, embedder: Embedder | None = None, store: TrafficStore | None = None
    ) -> Runtime:
        """Wire everything from config; ``embedder`` and ``store`` replace the built ones (shared
        by tests and benchmarks, or a store wrapped to inject faults)."""
        home = config.paths.home
        embedder = embedder or Embedder(config.embedder)
        store = store if store is not None else TrafficStore(config.paths.store, config.store)
        backends = {m.name: build_backend(m, home=home) for m in config.models}
        judge = build_judge(config.judge, home=home)
        router = ROUTER_CLS.get(config.router.name)(
            config.router, backends, judge, store, embedder.aembed_one
        )
        watcher = model_watcher = None
        if any(m.backend == "hf" for m in config.models):
            watcher = RegistryWatcher(
                lambda: _registry_from_config(config), backends, config, home / "registry-cache"
            )
        if config.router.learned.enabled:
            model_watcher = LearnedRouterWatcher(
                lambda: _registry_from_config(config), router, config, home / "registry-cache"
            )
        delegation_watcher = None
        if config.delegation.enabled:
            router.panel = JudgePanel(judge, config.delegation, backends, home)
            delegation_watcher = DelegationWatcher(
                lambda: _registry_from_config(config), router, config, home / "registry-cache"
            )
        traffic_log = None
        if config.store.wal:
            traffic_log = TrafficLog(home / "wal", store, config.store)
            router.attach_traffic_log(traffic_log)
        return cls(
            config,
            embedder,
            store,
            backends,
            judge,
            router,
            watcher,
            model_watcher,
            delegation_watcher,
            traffic_log,
        )

    async def start(self) -> None:
        """Before serving: recover the traffic a previous process acknowledged but did not store
        (it crashed, or the store was down), run the log's writer, then the registry watchers."""
        if self.traffic_log is not None:
            await self.traffic_log.start()
        if self.router.evidence is not None and len(self.router.evidence) == 0:
            await asyncio.to_thread(load_evidence, self.store, self.router.evidence)
        if self.router.recall is not None and len(self.router.recall) == 0:
            await asyncio.to_thread(load_recall, self.store, self.router.recall)
        if self.config.router.budget.enabled:
            self.router.budget.load(self.budget_path)
        await self.start_watcher()

    async def stop(self, log_timeout: float = 30.0) -> None:
        """Graceful shutdown of the serving parts: watchers stop, background work finishes, and the
        traffic log stores what it holds (at most ``log_timeout`` seconds; the rest stays on disk
        for the next start). Backends stay open; ``aclose`` releases them."""
        await self.stop_watcher()
        await self.router.drain_tasks()
        if self.traffic_log is not None:
            await self.traffic_log.close(log_timeout)
        await self.router.drain_tasks()  # maintenance the last stored batch started
        if self.config.router.budget.enabled:
            self.router.budget.save(self.budget_path)

    async def start_watcher(self) -> None:
        """Serve the registry's ``@production`` versions now (one sync each; never fails startup),
        then keep polling every ``registry.poll_seconds`` on the running loop. A no-op without hf
        models, learned router or delegation."""
        for watcher in self.watchers:
            if not watcher.running:
                await watcher.sync_once()
                watcher.start()

    async def stop_watcher(self) -> None:
        for watcher in self.watchers:
            await watcher.stop()

    async def aclose(self, close_embedder: bool = True) -> None:
        """Finish background work (shadowing, logging), then release clients and threads."""
        await self.stop()
        closing = [b.aclose() for b in self.backends.values()] + [self.judge.aclose()]
        if self.router.panel is not None:
            closing.append(self.router.panel.aclose())
        await asyncio.gather(*closing)
        if close_embedder:
            self.embedder.close()


def _registry_from_config(config: AcademyConfig) -> ModelRegistry:
    from registry.model_registry import ModelRegistry  # light: MLflow loads on the first registry call

    return ModelRegistry.from_config(config)
