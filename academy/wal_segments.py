"""The traffic log's files: append-only segment files, each deleted once everything in it is settled,
and ``rejected.jsonl`` for what the store can never take.

Segments are ``seg-<time_ns>-<pid>-<n>.jsonl`` under the log's directory. One append is one
``write`` on an unbuffered descriptor (plus ``os.fsync`` with ``store.wal_fsync``, and an fsync of
the directory when a segment is created), so a line is in the file when :meth:`SegmentFiles.write`
returns; a failed write raises :class:`TrafficLogError` and closes the segment, so a partial line
is never glued to the next one. The next append opens a new segment once the current one reaches
``segment_bytes``.

A segment is deleted once every request id in it is settled (stored, or rejected) and it is no
longer appended to, so the directory holds only what the store does not have yet. One process per
directory writes the log. All state is guarded by :attr:`SegmentFiles.lock`, so appends may come
from any thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy.config import StoreConfig
from academy.wal_format import LOG_NAME, json_default

log = logging.getLogger(LOG_NAME)
SEGMENT_BYTES = 64 * 2**20
SEGMENT_GLOB = "seg-*.jsonl"
REJECTED = "rejected.jsonl"


class TrafficLogError(RuntimeError):
    """The write-ahead file could not be written (disk full, permissions): the request cannot be
    acknowledged durably, so it is refused rather than answered and forgotten."""


@dataclass
class Segment:
    """One segment file and the request ids in it that are not settled yet."""

    path: Path
    pending: set[str] = field(default_factory=set)  # ids in it not yet settled
    size: int = 0
    active: bool = False  # appended to now: never deleted while open


class SegmentFiles:
    """The segment files of one log directory: the one being appended to, and every older one whose
    requests are not all settled yet (written by this instance, or adopted by recovery)."""

    def __init__(self, directory: Path, config: StoreConfig, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.config = config
        self.segment_bytes = segment_bytes
        self.lock = threading.Lock()  # segments, ids and the descriptor
        self._segments: dict[Path, Segment] = {}
        self._where: dict[str, set[Path]] = {}  # id -> segments holding an unsettled record of it
        self._active: Segment | None = None
        self._fd: int | None = None
        self._serial = 0

    def paths(self) -> list[Path]:
        """Segment files on disk, oldest first."""
        return sorted(self.directory.glob(SEGMENT_GLOB))

    @property
    def fd(self) -> int | None:
        """The open segment's file descriptor; None between segments."""
        return self._fd

    # ---- appending --------------------------------------------------------------------------

    def write(self, request_id: str, line: bytes) -> None:
        """Append one record's line; raises ``TrafficLogError`` when the file cannot be written."""
        with self.lock:
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

    def _segment_for(self, size: int) -> Segment:
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
        segment = self._segments[path] = Segment(path, active=True)  # before the file exists: not "old"
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError:
            del self._segments[path]
            raise
        self._active = segment
        if self.config.wal_fsync:
            _fsync_dir(self.directory)  # so the new file's name survives a power cut too

    def close(self) -> None:
        """Close the current segment (deleted at once if everything in it is settled); the next
        :meth:`write` opens a new one."""
        with self.lock:
            self._retire_active()

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

    # ---- settling ---------------------------------------------------------------------------

    def settle(self, ids: list[str]) -> None:
        """These ids are stored (or rejected): their records no longer keep any segment alive."""
        with self.lock:
            for request_id in ids:
                for path in self._where.pop(request_id, ()):
                    segment = self._segments.get(path)
                    if segment is not None:
                        segment.pending.discard(request_id)
                        self._delete_if_settled(segment)

    def _delete_if_settled(self, segment: Segment) -> None:
        if segment.pending or segment.active:
            return
        self._segments.pop(segment.path, None)
        try:
            segment.path.unlink(missing_ok=True)
        except OSError as exc:  # harmless: recovered (idempotently) and retried on the next start
            log.warning("could not delete stored traffic log segment %s: %s", segment.path, exc)

    # ---- recovery ---------------------------------------------------------------------------

    def owns(self, path: Path) -> bool:
        """Whether ``path`` is a segment this instance already tracks (written or adopted by it)."""
        with self.lock:
            return path in self._segments

    def adopt(self, path: Path, ids: set[str]) -> None:
        """Track a segment another process left, holding ``ids``: it is deleted once they are all
        settled (at once if it holds none)."""
        with self.lock:
            segment = self._segments[path] = Segment(path, pending=set(ids))
            for request_id in ids:
                self._where.setdefault(request_id, set()).add(path)
            self._delete_if_settled(segment)  # nothing usable in it

    # ---- rejected records -------------------------------------------------------------------

    def write_rejected(self, entries: list[dict[str, Any]]) -> None:
        """Append to ``rejected.jsonl`` (kept for a person to inspect; never recovered)."""
        text = "".join(json.dumps(e, default=json_default) + "\n" for e in entries)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.lock, open(self.directory / REJECTED, "a", encoding="utf-8") as out:
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
