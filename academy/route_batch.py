"""Sending a batch of queries through the router in-process: the bench cycle and the tests use it
to produce a day of logged traffic without HTTP in between (the demo does too: `academy/simulation/day.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np

from academy.routing import RouteRequest, RouteResult
from academy.runtime import Runtime
from academy.school import Example


async def route_examples(
    runtime: Runtime,
    examples: Sequence[Example],
    tenant: str,
    concurrency: int = 8,
    on_done: Callable[[], None] | None = None,
    embeddings: Sequence[np.ndarray] | None = None,
) -> list[RouteResult]:
    """Route every example (bounded concurrency, results in input order), then wait for logging.
    ``embeddings``: the queries' embeddings computed once in a batch (the demo routes each day
    through two routers), else each request is embedded by the router."""
    semaphore = asyncio.Semaphore(concurrency)
    vectors = list(embeddings) if embeddings is not None else [None] * len(examples)
    if len(vectors) != len(examples):
        raise ValueError(f"{len(vectors)} embeddings for {len(examples)} examples")

    async def one(example: Example, vector: np.ndarray | None) -> RouteResult:
        async with semaphore:
            request = RouteRequest(example.query, tenant, domain=example.domain, embedding=vector)
            result = await runtime.router.route(request)
        if on_done:
            on_done()
        return result

    results = list(await asyncio.gather(*(one(e, v) for e, v in zip(examples, vectors))))
    await runtime.router.drain()
    return results
