"""The write-ahead traffic log: a request is acknowledged only once its rows are in a local file.

Why: the router used to log to LanceDB in a background task after the response, so a LanceDB
failure or a crash lost requests the client had already been answered for, and those rows are the
raw material of nightly distillation. Now the router appends each request to a segment file under
``home/wal/`` before ``route`` returns (one JSON line, one ``write`` on an unbuffered descriptor,
``os.fsync`` too with ``store.wal_fsync``), and a writer task stores the records in LanceDB in
batches (``store.log_batch`` rows, waiting up to ``store.log_interval_ms`` to fill one): one LanceDB
merge per request costs ~25 ms, one per batch is what lets the router log hundreds a second.

Records (one per line)::

    {"v": 1, "final": true, "query": {QueryRecord fields}, "answers": [{AnswerRecord fields}, ...]}

The embedding is base64 of little-endian float32 bytes (~2 KB, not ~8 KB of JSON floats) and
datetimes are ISO 8601 strings. A familiar request's shadow/explore answers and judgements arrive
after the response, so it is written twice with the same query id: a preliminary record
(``final: false``, the served answer) before the response and the full one (``final: true``) when
the background work ends. Only final records are stored while running; a preliminary one is stored
only by a replay that finds no final record for its id (the process died before the shadow work
finished). The store is idempotent on the query id, so replaying something already stored is free.

Segments are ``seg-<time_ns>-<pid>-<n>.jsonl``; the next append opens a new one once the current
one reaches ``segment_bytes``. A segment is deleted once every request id in it is settled (its
final record stored, or rejected), so the directory holds only what LanceDB does not have yet. A
record the store rejects as invalid (``StoreError``) can never be stored: it goes, with the error,
to ``rejected.jsonl`` instead of blocking the queue. One process per home writes the log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from academy.config import StoreConfig
from academy.store import AnswerRecord, QueryRecord, StoreError, TrafficStore, prepare_request

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
SEGMENT_BYTES = 64 * 2**20
SEGMENT_GLOB = "seg-*.jsonl"
REJECTED = "rejected.jsonl"
DATETIME_FIELDS = {"ts"}


class TrafficLogError(RuntimeError):
    """The write-ahead file could not be written (disk full, permissions): the request cannot be
    acknowledged durably, so it is refused rather than answered and forgotten."""


@dataclass
class WalRecord:
    """One request as the log holds it: its query row, its answer rows, and whether it is final."""

    query: QueryRecord
    answers: list[AnswerRecord]
    final: bool = True

    @property
    def id(self) -> str:
        return self.query.id


# ---- record format --------------------------------------------------------------------------------


def _plain(record: Any) -> dict[str, Any]:
    """A Query/AnswerRecord as JSON-ready values: datetimes as ISO strings, embeddings as base64."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name == "embedding":
            value = base64.b64encode(np.asarray(value, dtype="<f4").tobytes()).decode("ascii")
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[f.name] = value
    return out


def _restore(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in known}
    if "embedding" in values:
        values["embedding"] = np.frombuffer(base64.b64decode(values["embedding"]), dtype="<f4").copy()
    for name in DATETIME_FIELDS & values.keys():
        values[name] = datetime.fromisoformat(values[name])
    return cls(**values)


def _json_default(value: Any) -> Any:
    """numpy scalars (a judge may return np.float32) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the traffic log")


def record_to_dict(record: WalRecord) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "final": record.final,
        "query": _plain(record.query),
        "answers": [_plain(a) for a in record.answers],
    }


def encode_record(record: WalRecord) -> bytes:
    """One newline-terminated JSON line."""
    return (json.dumps(record_to_dict(record), default=_json_default) + "\n").encode()


def decode_record(line: bytes | str) -> WalRecord:
    """The inverse of :func:`encode_record`; raises ValueError (or KeyError/TypeError) if malformed."""
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
        raise ValueError(f"not a version-{FORMAT_VERSION} traffic log record")
    query = _restore(QueryRecord, data["query"])
    answers = [_restore(AnswerRecord, a) for a in data["answers"]]
    return WalRecord(query, answers, bool(data["final"]))


def read_segment(path: Path) -> Iterator[tuple[WalRecord | None, str, str | None]]:
    """Every line of a segment as (record, raw line, error). A torn last line (the process died
    mid-write, so that request was never acknowledged) is skipped with a warning."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        torn = number == len(lines)  # no newline after it: its write never finished
        try:
            yield decode_record(raw), raw.decode(errors="replace"), None
        except (ValueError, KeyError, TypeError) as exc:
            if torn:
                log.warning("%s: skipping a torn last line (%d bytes)", path.name, len(raw))
                continue
            yield None, raw.decode(errors="replace"), f"line {number}: {type(exc).__name__}: {exc}"


# ---- the log -------------------------------------------------------------------------------------


@dataclass
class _Segment:
    path: Path
    pending: set[str] = field(default_factory=set)  # ids in it not yet settled
    size: int = 0
    active: bool = False  # appended to now: never deleted while open


class TrafficLog:
    """Write-ahead log + batching writer between the router and the traffic store.

    ``append`` is the request path (a file write); ``start`` replays what a previous process left
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
        self._lock = threading.Lock()  # segments, ids and the descriptor
        self._segments: dict[Path, _Segment] = {}
        self._where: dict[str, set[Path]] = {}  # id -> segments holding an unsettled record of it
        self._active: _Segment | None = None
        self._fd: int | None = None
        self._serial = 0
        self._queue: deque[WalRecord] = deque()  # final records (and replayed ones) to store
        self._inflight = 0
        self._replaying: set[str] = set()
        self._replayed = False
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
        return sorted(self.directory.glob(SEGMENT_GLOB))

    # ---- the request path -------------------------------------------------------------------

    async def append(self, query: QueryRecord, answers: list[AnswerRecord], *, final: bool) -> None:
        """Make one request durable; a final record is then queued for the store.
        Raises ``TrafficLogError`` when the file cannot be written."""
        record = WalRecord(query, answers, final)
        line = encode_record(record)
        if self.config.wal_fsync:  # an fsync takes milliseconds: not on the event loop
            await asyncio.to_thread(self._write, record.id, line)
        else:
            self._write(record.id, line)
        if final:
            self._queue.append(record)
            self._ensure_writer()
            self._wake()

    def _write(self, request_id: str, line: bytes) -> None:
        with self._lock:
            try:
                segment = self._segment_for(len(line))
                _write_all(self._fd, line)
                if self.config.wal_fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                self._retire_active()  # a partial line must not be glued to the next one
                raise TrafficLogError(f"cannot write the traffic log in {self.directory}: {exc}") from exc
            segment.size += len(line)
            segment.pending.add(request_id)
            self._where.setdefault(request_id, set()).add(segment.path)

    def _segment_for(self, size: int) -> _Segment:
        active = self._active
        if active is not None and active.size and active.size + size > self.segment_bytes:
            self._retire_active()
        if self._active is None:
            self._open_segment()
        assert self._active is not None
        return self._active

    def _open_segment(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._serial += 1
        path = self.directory / f"seg-{time.time_ns():020d}-{os.getpid()}-{self._serial}.jsonl"
        segment = self._segments[path] = _Segment(path, active=True)  # before the file exists: not "old"
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError:
            del self._segments[path]
            raise
        self._active = segment
        if self.config.wal_fsync:
            _fsync_dir(self.directory)  # so the new file's name survives a power cut too

    def _retire_active(self) -> None:
        """Close the current segment; delete it at once if everything in it is settled."""
        segment, fd = self._active, self._fd
        self._active, self._fd = None, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if segment is not None:
            segment.active = False
            self._delete_if_settled(segment)

    def _delete_if_settled(self, segment: _Segment) -> None:
        if segment.pending or segment.active:
            return
        self._segments.pop(segment.path, None)
        try:
            segment.path.unlink(missing_ok=True)
        except OSError as exc:  # harmless: replayed (idempotently) and retried on the next start
            log.warning("could not delete stored traffic log segment %s: %s", segment.path, exc)

    def _settle(self, ids: list[str]) -> None:
        """These ids are stored (or rejected): their records no longer keep any segment alive."""
        with self._lock:
            for request_id in ids:
                self._replaying.discard(request_id)
                for path in self._where.pop(request_id, ()):
                    segment = self._segments.get(path)
                    if segment is not None:
                        segment.pending.discard(request_id)
                        self._delete_if_settled(segment)

    # ---- start, replay, stop ---------------------------------------------------------------

    async def start(self, wait_s: float = 60.0) -> int:
        """Replay the segments a previous process left, then keep the writer running.

        Waits (at most ``wait_s``) until the replayed records are stored, so a server serves with
        its full history; if the store is down that long, the replay goes on in the background.
        Returns how many requests were replayed.
        """
        replayed = 0
        if not self._replayed:
            self._replayed = True
            records = await asyncio.to_thread(self._load_old_segments)
            replayed = len(records)
            with self._lock:
                self._replaying.update(r.id for r in records)
            self._queue.extendleft(reversed(records))  # ahead of anything routed meanwhile
        self._ensure_writer()
        if replayed:
            log.info("replaying %d requests from the traffic log in %s", replayed, self.directory)
            self._flushing += 1  # no batching wait: the replay is all there is
            self._wake()
            try:
                stored = await self._wait_for(lambda: not self._replaying, wait_s)
            finally:
                self._flushing -= 1
            if not stored:
                log.warning(
                    "traffic store unavailable: %d replayed requests still queued; the writer keeps trying",
                    len(self._replaying),
                )
        return replayed

    def _load_old_segments(self) -> list[WalRecord]:
        """Per id, the final record if any else the preliminary one, from every segment on disk
        that this instance did not write; each segment then waits for its ids to be settled."""
        chosen: dict[str, WalRecord] = {}
        for path in self.segments():
            with self._lock:
                if path in self._segments:  # written by this instance
                    continue
            ids = self._read_old_segment(path, chosen)
            with self._lock:
                segment = self._segments[path] = _Segment(path, pending=set(ids))
                for request_id in ids:
                    self._where.setdefault(request_id, set()).add(path)
                self._delete_if_settled(segment)  # nothing usable in it
        return list(chosen.values())

    def _read_old_segment(self, path: Path, chosen: dict[str, WalRecord]) -> set[str]:
        ids: set[str] = set()
        for record, raw, error in read_segment(path):
            if record is None:
                log.warning("%s: unreadable record moved to %s (%s)", path.name, REJECTED, error)
                self._write_rejected([{"error": error, "segment": path.name, "line": raw}])
                continue
            ids.add(record.id)
            current = chosen.get(record.id)
            if current is None or (record.final and not current.final):
                chosen[record.id] = record
        return ids

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
        close the segment. Anything not stored stays on disk for the next start's replay. The log
        can be appended to again afterwards (a new segment, a new writer)."""
        if not await self.flush(timeout):
            log.warning(
                "%d traffic records not stored yet; they stay in %s for the next start",
                self.backlog,
                self.directory,
            )
        await self._stop_writer()
        with self._lock:
            self._retire_active()

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
            self._write_rejected([{"error": e, "record": record_to_dict(r)} for r, e in rejected])
            for record, error in rejected:
                log.warning(
                    "traffic record %s rejected by the store (%s); moved to %s", record.id, error, REJECTED
                )
        return rejected

    def _write_rejected(self, entries: list[dict[str, Any]]) -> None:
        """Append to ``rejected.jsonl`` (kept for a person to inspect; never replayed)."""
        text = "".join(json.dumps(e, default=_json_default) + "\n" for e in entries)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.directory / REJECTED, "a", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            if self.config.wal_fsync:
                os.fsync(out.fileno())


def _write_all(fd: int | None, data: bytes) -> None:
    if fd is None:
        raise OSError("no open segment")
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
