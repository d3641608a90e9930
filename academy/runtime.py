"""Builds the live parts of Academy from config: embedder, traffic store, backends, judge, router.

One place wires them, so the server, the demo and the benchmarks run the same objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from academy.backends import Backend, build_backend
from academy.config import AcademyConfig
from academy.embedder import Embedder
from academy.judges import Judge, build_judge
from academy.routing import ROUTER_CLS, Router
from academy.store import TrafficStore


@dataclass
class Runtime:
    config: AcademyConfig
    embedder: Embedder
    store: TrafficStore
    backends: dict[str, Backend]
    judge: Judge
    router: Router

    @classmethod
    def build(cls, config: AcademyConfig, embedder: Embedder | None = None) -> Runtime:
        home = config.paths.home
        embedder = embedder or Embedder(config.embedder)
        store = TrafficStore(config.paths.store, config.store)
        backends = {m.name: build_backend(m, home=home) for m in config.models}
        judge = build_judge(config.judge, home=home)
        router = ROUTER_CLS.get(config.router.name)(
            config.router, backends, judge, store, embedder.aembed_one
        )
        return cls(config, embedder, store, backends, judge, router)

    async def aclose(self, close_embedder: bool = True) -> None:
        """Finish background work (shadowing, logging), then release clients and threads."""
        await self.router.drain()
        await asyncio.gather(*(b.aclose() for b in self.backends.values()), self.judge.aclose())
        if close_embedder:
            self.embedder.close()
