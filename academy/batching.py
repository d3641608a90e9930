"""Adaptive micro-batching: one worker thread that turns concurrent single calls into batch calls.

Why: a batch function (an embedding model) is much cheaper per item in a batch (embedding one query
costs ~10 ms, a batch ~2.4 ms per query), but a lone caller must not wait for company. So the worker
never waits when the queue is idle: it only lingers up to ``max_wait_ms`` for more items when others
are already queued, i.e. when there is load to amortise. Items that arrive while a batch runs queue
up and form the next batch by themselves.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()  # sentinel that tells the worker to exit after the items queued before it


class MicroBatcher(Generic[T, R]):
    """Run ``fn(list[T]) -> list[R]`` on one daemon thread, batching concurrent submissions.

    ``fn`` must return one result per item, in order. If it raises (or returns the wrong number of
    results) every future of that batch gets the exception; the worker keeps serving.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], list[R]],
        *,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        name: str = "micro-batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- public API -------------------------------------------------------------------------

    def submit(self, item: T) -> Future[R]:
        """Queue one item; the future resolves when its batch has run."""
        future: Future[R] = Future()
        with self._close_lock:  # so no item can slip in behind the stop sentinel
            if self._closed:
                raise RuntimeError("MicroBatcher is closed")
            self._queue.put((item, future))
        return future

    def call(self, item: T) -> R:
        """Blocking single call."""
        return self.submit(item).result()

    async def acall(self, item: T) -> R:
        """Await a single call without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(item))

    def close(self, timeout: float | None = 5.0) -> None:
        """Finish the items already submitted, then stop the worker. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- worker ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = self._collect(batch)
            self._execute(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _collect(self, batch: list[object]) -> bool:
        """Add queued items to ``batch``; True when the stop sentinel was seen.

        First drain what is already waiting (no delay). Only if that found company, i.e. the
        batcher is under load, linger up to ``max_wait_s`` for stragglers.
        """
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return True
            batch.append(job)
        if len(batch) == 1 or self.max_wait_s == 0:
            return False
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if job is _STOP:
                return True
            batch.append(job)
        return False

    def _execute(self, batch: list[tuple[T, Future[R]]]) -> None:
        """Call ``fn`` once for the live (not cancelled) items and resolve their futures."""
        live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._fn([item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(live)} items")
        except BaseException as exc:  # noqa: BLE001 - the worker must survive and report any failure
            for _, fut in live:
                fut.set_exception(exc)
            return
        for (_, fut), result in zip(live, results, strict=True):
            fut.set_result(result)
