"""The traffic log's record format: one request per JSON line, and how a segment file is read back.

A line holds one request::

    {"v": 1, "final": true, "query": {QueryRecord fields}, "answers": [{AnswerRecord fields}, ...]}

The embedding is base64 of little-endian float32 bytes (a quarter of the size of JSON floats) and
datetimes are ISO 8601 strings; :func:`decode_record` restores exactly what :func:`encode_record`
was given (the embedding as float32). A request may appear twice with the same query id: a
preliminary record (``final: false``, the served answer) and the full one (``final: true``).

:func:`read_segment` never stops at a bad line: each one comes back with its error, except a torn
last line (its write never finished, so that request was never acknowledged), which is skipped.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from academy.store_records import AnswerRecord, QueryRecord

# The traffic log's one logging channel, whichever of its modules writes.
LOG_NAME = "academy.wal"
log = logging.getLogger(LOG_NAME)
FORMAT_VERSION = 1
DATETIME_FIELDS = {"ts"}


@dataclass
class WalRecord:
    """One request as the log holds it: its query row, its answer rows, and whether it is final."""

    query: QueryRecord
    answers: list[AnswerRecord]
    final: bool = True

    @property
    def id(self) -> str:
        return self.query.id


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


def json_default(value: Any) -> Any:
    """numpy scalars (a judge may return np.float32) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the traffic log")


def record_to_dict(record: WalRecord) -> dict[str, Any]:
    """A record as the JSON-ready dict one line holds."""
    return {
        "v": FORMAT_VERSION,
        "final": record.final,
        "query": _plain(record.query),
        "answers": [_plain(a) for a in record.answers],
    }


def encode_record(record: WalRecord) -> bytes:
    """One newline-terminated JSON line."""
    return (json.dumps(record_to_dict(record), default=json_default) + "\n").encode()


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
