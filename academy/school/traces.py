"""Traces: recorded examples as JSONL, read (every bad line named ``file:line``) and written, and
``TraceSource``, a reference source over recorded examples."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from academy.school.examples import Example, normalize_query


class TraceError(ValueError):
    """A JSONL trace line is unusable; the message says ``file:line: what is wrong``."""


class TraceSource:
    """A reference source over recorded examples, matched by normalised query text.

    When a query appears more than once the later line wins, so a trace is corrected by appending.
    """

    def __init__(self, examples: Iterable[Example]) -> None:
        self._by_query: dict[str, Example] = {normalize_query(ex.query): ex for ex in examples}

    def __len__(self) -> int:
        return len(self._by_query)

    def __iter__(self) -> Iterator[Example]:
        return iter(self._by_query.values())

    def lookup(self, query: str) -> Example | None:
        return self._by_query.get(normalize_query(query))


_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _parse_trace_line(text: str) -> Example:
    """One trace line -> Example; raises ValueError saying what is wrong (the caller adds file:line)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {_json_type(data)}")
    fields: dict[str, str | None] = {}
    for key in ("query", "reference"):
        if key not in data:
            raise ValueError(f'missing "{key}"')
        if not isinstance(data[key], str):
            raise ValueError(f'"{key}" must be a string, got {_json_type(data[key])}')
        if not data[key].strip():
            raise ValueError(f'"{key}" is empty')
        fields[key] = data[key]
    for key in ("domain", "reasoning"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f'"{key}" must be a string or null, got {_json_type(value)}')
        fields[key] = value
    return Example(**fields)  # type: ignore[arg-type]


def read_trace(path: str | Path) -> list[Example]:
    """Examples from a JSONL trace: one object per line, blank lines skipped, extra keys ignored.

    Any bad line raises TraceError naming ``file:line`` so a hand-edited trace is quick to fix.
    """
    path = Path(path)
    examples: list[Example] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if text.strip():
                    examples.append(_parse_trace_line(text))
            except UnicodeDecodeError:
                raise TraceError(f"{path}:{number}: not valid UTF-8") from None
            except ValueError as exc:
                raise TraceError(f"{path}:{number}: {exc}") from None
    return examples


def write_trace(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples as JSONL (UTF-8, sorted keys, one per line) and return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count
