"""Sending a batch of queries through the router in-process: the bench cycle and the tests use it
to produce a day of logged traffic without HTTP in between (the demo does too: `academy/simulation/day.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from academy.routing import RouteRequest, RouteResult
from academy.runtime import Runtime
from academy.school import Example


async def route_examples(
    runtime: Runtime,
    examples: Sequence[Example],
    tenant: str,
    concurrency: int = 8,
    on_done: Callable[[], None] | None = None,
) -> list[RouteResult]:
    """Route every example (bounded concurrency, results in input order), then wait for logging."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(example: Example) -> RouteResult:
        async with semaphore:
            result = await runtime.router.route(RouteRequest(example.query, tenant, domain=example.domain))
        if on_done:
            on_done()
        return result

    results = list(await asyncio.gather(*(one(e) for e in examples)))
    await runtime.router.drain()
    return results
