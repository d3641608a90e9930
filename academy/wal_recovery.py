"""Recovery of the traffic log: what a previous process appended but never saw stored.

:func:`recover` reads every segment on disk that this log instance did not write and returns, per
request id, the final record if there is one, else the preliminary one (that process died before
the request's background work finished, so the served answer is all there is). Each such segment is
then tracked until its ids are settled and deleted after that, so nothing is lost if the store is
down during recovery: the records stay on disk for the next start. A line that cannot be decoded
goes, with its error, to ``rejected.jsonl``. The store is idempotent on the query id, so recovering
a request that was already stored is free.
"""

from __future__ import annotations

import logging
from pathlib import Path

from academy.wal_format import LOG_NAME, WalRecord, read_segment
from academy.wal_segments import REJECTED, SegmentFiles

log = logging.getLogger(LOG_NAME)


def recover(files: SegmentFiles) -> list[WalRecord]:
    """Per id, the final record if any else the preliminary one, from every segment on disk
    that ``files`` did not write; each segment then waits for its ids to be settled."""
    chosen: dict[str, WalRecord] = {}
    for path in files.paths():
        if files.owns(path):  # written by this instance
            continue
        ids = _read_old_segment(files, path, chosen)
        files.adopt(path, ids)
    return list(chosen.values())


def _read_old_segment(files: SegmentFiles, path: Path, chosen: dict[str, WalRecord]) -> set[str]:
    """The ids in one segment; its records update ``chosen`` (a final record wins over a
    preliminary one) and its unreadable lines go to ``rejected.jsonl``."""
    ids: set[str] = set()
    for record, raw, error in read_segment(path):
        if record is None:
            log.warning("%s: unreadable record moved to %s (%s)", path.name, REJECTED, error)
            files.write_rejected([{"error": error, "segment": path.name, "line": raw}])
            continue
        ids.add(record.id)
        current = chosen.get(record.id)
        if current is None or (record.final and not current.final):
            chosen[record.id] = record
    return ids
