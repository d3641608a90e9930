"""Recorded model outcomes: what each model answered to a query, how it scored and what it cost.

Shared by the ``replay`` backend and the ``recorded`` judge so a benchmark can stream real LLM
outcome data (RouteLLM, RouterBench) through the live routing code. File format, one JSON per line:

    {"query": "...", "reference": "...?", "outcomes": {"<model>": {"answer": "...", "score": 0.0-1.0,
      "cost": USD?, "tokens_in": int?, "tokens_out": int?}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from academy.school import normalize_query


class OutcomesError(ValueError):
    """The outcomes file is missing or malformed; the message names file and line."""


@dataclass(frozen=True)
class Outcome:
    answer: str
    score: float | None = None
    cost: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


class RecordedOutcomes:
    """Outcomes indexed by normalised query text, then by model name."""

    def __init__(self, rows: dict[str, dict[str, Outcome]]) -> None:
        self.rows = rows

    @classmethod
    def load(cls, path: str | Path) -> RecordedOutcomes:
        return _load_cached(str(Path(path).resolve()))

    def get(self, query: str, model: str) -> Outcome | None:
        return self.rows.get(normalize_query(query), {}).get(model)

    def models(self) -> set[str]:
        return {model for outcomes in self.rows.values() for model in outcomes}


@lru_cache(maxsize=8)
def _load_cached(path: str) -> RecordedOutcomes:
    """One parse per file per process: the backend of every model and the judge share it."""
    if not Path(path).exists():
        raise OutcomesError(f"outcomes file {path} not found")
    rows: dict[str, dict[str, Outcome]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                query, outcomes = _parse_line(line, f"{path}:{number}")
                rows[normalize_query(query)] = outcomes
    return RecordedOutcomes(rows)


def _parse_line(line: str, where: str) -> tuple[str, dict[str, Outcome]]:
    try:
        row = json.loads(line)
        query, raw = row["query"], row["outcomes"]
        outcomes = {model: Outcome(**values) for model, values in raw.items()}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise OutcomesError(
            f"{where}: expected {{'query', 'outcomes': {{model: {{'answer', ...}}}}}}: {exc}"
        ) from None
    if not isinstance(query, str) or not query.strip():
        raise OutcomesError(f"{where}: 'query' must be a non-empty string")
    return query, outcomes
