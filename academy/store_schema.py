"""The traffic store's on-disk layout: table names, Arrow schemas, the error type and SQL quoting.

Three append-only LanceDB tables:

* ``queries`` (:data:`QUERY_SCHEMA`): one row per request, with its embedding and the judge scores
  known for its answers (``judged_models`` / ``judged_scores``), so the router's neighbourhood
  estimate is one filtered vector search with no join.
* ``answers`` (:data:`ANSWER_SCHEMA`): one row per model answer (served, fanned out, shadowed,
  explored), the raw material of nightly distillation and evaluation.
* ``scores`` (:data:`SCORE_SCHEMA`): judge scores that arrive after their answer was logged.

Schemas only ever grow by trailing, nullable columns; :func:`add_missing_nullable_columns` brings a
table written by an older Academy up to date without touching its rows.
"""

from __future__ import annotations

import pyarrow as pa
from lancedb.table import Table

from academy.roles import LADDER

EMBEDDING_DIM = 384
ROLES = tuple(reversed(LADDER))  # teacher first, as the validation error lists them
QUERIES = "queries"
ANSWERS = "answers"
SCORES = "scores"
VECTOR_COLUMN = "embedding"

QUERY_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), EMBEDDING_DIM), nullable=False),
        pa.field("route", pa.string(), nullable=False),
        pa.field("final_model", pa.string(), nullable=False),
        pa.field("final_answer", pa.string(), nullable=False),
        pa.field("final_score", pa.float32(), nullable=True),
        pa.field("total_cost", pa.float64(), nullable=False),
        pa.field("latency_ms", pa.float32(), nullable=False),
        pa.field("domain", pa.string(), nullable=True),
        pa.field("judged_models", pa.list_(pa.string()), nullable=False),
        pa.field("judged_scores", pa.list_(pa.float32()), nullable=False),
    ]
)

ANSWER_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("purpose", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("reasoning", pa.string(), nullable=True),
        pa.field("tokens_in", pa.int32(), nullable=False),
        pa.field("tokens_out", pa.int32(), nullable=False),
        pa.field("cost", pa.float64(), nullable=False),
        pa.field("latency_ms", pa.float32(), nullable=False),
        pa.field("judge_score", pa.float32(), nullable=True),
        pa.field("judge_name", pa.string(), nullable=True),
        pa.field("judge_cost", pa.float64(), nullable=False),
        pa.field("error", pa.string(), nullable=True),
        # Registry version of the model that answered (None for unversioned models such as the teacher).
        pa.field("version", pa.string(), nullable=True),
        # The model's own confidence in its answer (an hf student's lowest token probability).
        pa.field("confidence", pa.float32(), nullable=True),
    ]
)

# Late judge scores: the nightly scorer judges answers the router served unjudged. The answers
# table is append-only, so a score arriving later is its own row, keyed by the answer id.
SCORE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("judge_score", pa.float32(), nullable=True),
        pa.field("judge_name", pa.string(), nullable=False),
        pa.field("judge_cost", pa.float64(), nullable=False),
        pa.field("error", pa.string(), nullable=True),
    ]
)

# Columns a neighbour search returns: everything the router needs, never the 1.5 KB embedding.
NEIGHBOUR_COLUMNS = ["id", "text", "judged_models", "judged_scores", "final_model", "route", "_distance"]


class StoreError(ValueError):
    """A record cannot be stored as given; the message says which field and why."""


def sql_str(value: str) -> str:
    """A SQL string literal for a LanceDB filter: quotes doubled, so a value can never end the literal.

    LanceDB filters are DataFusion SQL, where backslashes are not escapes and ``''`` is a quote.
    """
    if not isinstance(value, str):
        raise StoreError(f"expected a string for a filter value, got {type(value).__name__}")
    if "\x00" in value:
        raise StoreError("filter values must not contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


def add_missing_nullable_columns(table: Table, schema: pa.Schema) -> None:
    """Migrate a table written by an older Academy: append the nullable columns it lacks (all null).

    Only trailing, nullable columns are ever added to a schema, so old rows stay valid as they are.
    """
    missing = [f for f in schema if f.name not in table.schema.names and f.nullable]
    if missing:
        table.add_columns(missing)
