"""The write-ahead traffic log: a request is acknowledged only once its rows are in a local file.

The router appends each request to a segment file under ``home/wal/`` before ``route`` returns,
and :class:`TrafficLog`'s writer task stores the records in the traffic store in batches
(``store.log_batch`` rows, waiting up to ``store.log_interval_ms`` to fill one). The rows are the
raw material of nightly distillation, so neither a store outage nor a crash may lose a request the
client was answered for; batching is what lets the router log hundreds of requests a second.

Guarantees:

* Durable before acknowledged: :meth:`TrafficLog.append` returns once the line is written (and
  fsynced with ``store.wal_fsync``); when it cannot write, it raises :class:`TrafficLogError` and
  the request is refused rather than answered and forgotten.
* Never dropped: the writer retries a failing store with backoff for as long as it takes. A record
  the store rejects as invalid (``StoreError``) can never be stored: it goes, with the error, to
  ``rejected.jsonl`` instead of blocking the queue.
* Final over preliminary: a familiar request's shadow/explore answers and judgements arrive after
  the response, so it is written twice under one query id, a preliminary record (``final: false``,
  the served answer) before the response and the full one (``final: true``) after. Only final
  records are stored while running; recovery stores a preliminary one only when no final record
  exists for its id (the process died before the background work finished).
* Recovered on start: :meth:`TrafficLog.start` stores what a previous process left on disk
  (``academy.wal_recovery``); the store is idempotent on the query id, so recovering something
  already stored is free.
* Bounded on disk: a segment is deleted once every request id in it is settled (stored or
  rejected), so the directory holds only what the store does not have yet (``academy.wal_segments``).

The line format is in ``academy.wal_format``. One process per home writes the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from academy.config import StoreConfig
from academy.store import AnswerRecord, QueryRecord, StoreError, TrafficStore, prepare_request
from academy.wal_format import (
    DATETIME_FIELDS,
    FORMAT_VERSION,
    WalRecord,
    decode_record,
    encode_record,
    read_segment,
    record_to_dict,
)
from academy.wal_recovery import recover
from academy.wal_segments import REJECTED, SEGMENT_BYTES, SEGMENT_GLOB, SegmentFiles, TrafficLogError

__all__ = [
    "DATETIME_FIELDS",
    "FORMAT_VERSION",
    "REJECTED",
    "SEGMENT_BYTES",
    "SEGMENT_GLOB",
    "TrafficLog",
    "TrafficLogError",
    "WalRecord",
    "decode_record",
    "encode_record",
    "read_segment",
    "record_to_dict",
]

log = logging.getLogger(__name__)


class TrafficLog:
    """Write-ahead log + batching writer between the router and the traffic store.

    ``append`` is the request path (a file write); ``start`` recovers what a previous process left
    and runs the writer; ``flush`` waits until everything queued is stored; ``close`` flushes
    (bounded) and stops. The writer also starts by itself on the first append, so callers that
    never call ``start`` (scripts that only route) still get their traffic stored.
    """

    def __init__(
        self,
        directory: str | Path,
        store: TrafficStore,
        config: StoreConfig | None = None,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 5.0,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.store = store
        self.config = config or store.config
        self.segment_bytes = segment_bytes
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.on_stored = on_stored  # called after each stored batch (the router's maintenance)
        self._files = SegmentFiles(self.directory, self.config, segment_bytes)
        self._queue: deque[WalRecord] = deque()  # final records (and recovered ones) to store
        self._inflight = 0
        self._recovering: set[str] = set()  # recovered ids not stored yet
        self._recovered = False
        self._task: asyncio.Task[None] | None = None
        self._event: asyncio.Event | None = None
        self._flushing = 0
        self._failing = False
        self.stored = 0  # requests written to the store by this instance (new or already there)
        self.rejected = 0

    # ---- state ------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing queued or being stored (safe to read from another thread)."""
        return not self._queue and self._inflight == 0

    @property
    def backlog(self) -> int:
        return len(self._queue) + self._inflight

    def segments(self) -> list[Path]:
        """Segment files on disk, oldest first."""
        return self._files.paths()

    @property
    def _fd(self) -> int | None:
        """The open segment's file descriptor (None between segments): closing it is what the
        kernel does for a process that dies, which crash tests simulate."""
        return self._files.fd

    # ---- the request path -------------------------------------------------------------------

    async def append(self, query: QueryRecord, answers: list[AnswerRecord], *, final: bool) -> None:
        """Make one request durable; a final record is then queued for the store.
        Raises ``TrafficLogError`` when the file cannot be written."""
        record = WalRecord(query, answers, final)
        line = encode_record(record)
        if self.config.wal_fsync:  # an fsync takes milliseconds: not on the event loop
            await asyncio.to_thread(self._files.write, record.id, line)
        else:
            self._files.write(record.id, line)
        if final:
            self._queue.append(record)
            self._ensure_writer()
            self._wake()

    def _settle(self, ids: list[str]) -> None:
        """These ids are stored (or rejected): no longer recovering, and their records no longer
        keep any segment alive."""
        with self._files.lock:
            self._recovering.difference_update(ids)
        self._files.settle(ids)

    # ---- start, recovery, stop -------------------------------------------------------------

    async def start(self, wait_s: float = 60.0) -> int:
        """Recover the segments a previous process left (:func:`academy.wal_recovery.recover`),
        then keep the writer running.

        Waits (at most ``wait_s``) until the recovered records are stored, so a server serves with
        its full history; if the store is down that long, they are stored in the background.
        Returns how many requests were recovered.
        """
        recovered = 0
        if not self._recovered:
            self._recovered = True
            records = await asyncio.to_thread(recover, self._files)
            recovered = len(records)
            with self._files.lock:
                self._recovering.update(r.id for r in records)
            self._queue.extendleft(reversed(records))  # ahead of anything routed meanwhile
        self._ensure_writer()
        if recovered:
            log.info("recovering %d requests from the traffic log in %s", recovered, self.directory)
            self._flushing += 1  # no batching wait: the recovered records are all there is
            self._wake()
            try:
                stored = await self._wait_for(lambda: not self._recovering, wait_s)
            finally:
                self._flushing -= 1
            if not stored:
                log.warning(
                    "traffic store unavailable: %d recovered requests still queued; the writer keeps trying",
                    len(self._recovering),
                )
        return recovered

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is stored (the writer skips its batching wait meanwhile).
        False if ``timeout`` seconds passed first."""
        if self.idle:
            return True
        self._ensure_writer()
        self._flushing += 1
        self._wake()
        try:
            return await self._wait_for(lambda: self.idle, timeout)
        finally:
            self._flushing -= 1

    async def close(self, timeout: float = 30.0) -> None:
        """Graceful shutdown: store what is queued (at most ``timeout`` seconds), stop the writer and
        close the segment. Anything not stored stays on disk for the next start's recovery. The log
        can be appended to again afterwards (a new segment, a new writer)."""
        if not await self.flush(timeout):
            log.warning(
                "%d traffic records not stored yet; they stay in %s for the next start",
                self.backlog,
                self.directory,
            )
        await self._stop_writer()
        self._files.close()

    async def _stop_writer(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        loop = task.get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    @staticmethod
    async def _wait_for(done: Callable[[], bool], timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    # ---- the writer ------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        """A writer task on a live loop: this one, or the one it already runs on (a server thread).
        One whose loop ended (an earlier ``asyncio.run``) is replaced here."""
        task = self._task
        if task is not None and not task.done():
            loop = task.get_loop()
            if loop is asyncio.get_running_loop() or (loop.is_running() and not loop.is_closed()):
                return
        self._event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="academy-traffic-log")

    def _wake(self) -> None:
        task, event = self._task, self._event
        if task is None or event is None:
            return
        loop = task.get_loop()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is here:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                await self._store(batch)
            except asyncio.CancelledError:
                self._queue.extendleft(reversed(batch))  # still in the log: stored by the next writer
                raise
            except Exception:  # a bug must not end the writer: every later request would pile up
                self._queue.extendleft(reversed(batch))
                log.exception("traffic log writer failed; retrying in %.1f s", self.retry_max_s)
                await asyncio.sleep(self.retry_max_s)
            finally:
                self._inflight -= len(batch)

    async def _next_batch(self) -> list[WalRecord]:
        """Up to ``log_batch`` records, waiting up to ``log_interval_ms`` for a batch to fill
        (not while someone flushes)."""
        while not self._queue:
            await self._wait_event(None)
        size, loop = self.config.log_batch, asyncio.get_running_loop()
        deadline = loop.time() + self.config.log_interval_ms / 1000
        while len(self._queue) < size and not self._flushing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._wait_event(remaining)
        batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
        self._inflight += len(batch)
        return batch

    async def _wait_event(self, timeout: float | None) -> None:
        event = self._event
        assert event is not None
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _store(self, batch: list[WalRecord]) -> None:
        """Store a batch, retrying with backoff until the store takes it; never drops a record."""
        delay = self.retry_initial_s
        while True:
            try:
                rejected = await asyncio.to_thread(self._store_batch, batch)
                break
            except Exception as exc:  # LanceDB down, disk full...: requests are still acknowledged
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "traffic store write failed (%s: %s); retrying, requests stay in the log",
                        type(exc).__name__,
                        exc,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
        if self._failing:
            self._failing = False
            log.warning("traffic store writes recovered")
        self.stored += len({r.id for r in batch}) - len(rejected)
        self.rejected += len(rejected)
        self._settle([r.id for r in batch])
        if self.on_stored is not None:
            try:
                self.on_stored()
            except Exception:  # maintenance is an optimisation: it must not stop the writer
                log.exception("traffic log: on_stored callback failed")

    def _store_batch(self, batch: list[WalRecord]) -> list[tuple[WalRecord, str]]:
        """One ``log_many`` for the valid records; the invalid ones go to ``rejected.jsonl`` and are
        returned. Any other failure raises and the whole batch is retried (the store is idempotent)."""
        unique: dict[str, WalRecord] = {}
        for record in batch:
            unique.setdefault(record.id, record)  # the store keeps the first one stored anyway
        valid, rejected = [], []
        for record in unique.values():
            try:
                prepare_request(record.query, record.answers)
                valid.append(record)
            except StoreError as exc:
                rejected.append((record, str(exc)))
        try:
            self.store.log_many([(r.query, r.answers) for r in valid])
        except StoreError:  # something only the store itself refuses: find which, one at a time
            for record in valid:
                try:
                    self.store.log_many([(record.query, record.answers)])
                except StoreError as exc:
                    rejected.append((record, str(exc)))
        if rejected:
            self._files.write_rejected([{"error": e, "record": record_to_dict(r)} for r, e in rejected])
            for record, error in rejected:
                log.warning(
                    "traffic record %s rejected by the store (%s); moved to %s", record.id, error, REJECTED
                )
        return rejected
