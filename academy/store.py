"""The traffic store: every routed query, every model answer and every late judge score, in
LanceDB tables (a local folder or an object-store URI).

:class:`TrafficStore` is the table access: it opens the tables (``academy.store_schema``), writes
validated records (``academy.store_records``), reads and searches them, and decides when the
indices need maintenance (``academy.store_index`` does that work). This module also re-exports
the names callers import from them, so ``from academy.store import ...`` keeps working for all.

Guarantees:

* Writes are idempotent on the request id (``merge_insert``): a retried request or a recovered
  traffic log never duplicates rows. A call's records are all validated before anything is
  written, so one bad record leaves the tables unchanged.
* Answers are written before their query: a crash in between leaves answers without a query
  (harmless, filled in on the retry), never a query without its answers.
* Nothing logged is invisible to search: rows logged after the last index build are searched by a
  flat scan of the unindexed fragments. The tenant filter is a pre-filter, so a search returns only
  (and up to ``k`` of) the tenant's own queries.
* Indexing is explicit and never on the request path: :meth:`TrafficStore.log` never calls
  :meth:`TrafficStore.maybe_index`; the caller runs it in the background when ``pending_rows``
  grows, or in the nightly flow. Search cost by table size and index settings: docs/benchmarks.md
  and ``bench/store_search.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.background_loop import LOOP
from lancedb.table import AsyncTable, Table

from academy.config import StoreConfig, is_uri
from academy.store_index import (
    MIN_TRAINING_ROWS,
    PARTITION_ROWS,
    TRAINED_ROWS_KEY,
    VECTOR_INDEX,
    build_indices,
    ensure_scalar_indices,
    optimize,
    trained_rows,
    vector_index,
    vector_index_config,
)
from academy.store_records import (
    AnswerRecord,
    Neighbour,
    QueryRecord,
    ScoreRecord,
    answers_arrow,
    embedding_vector,
    embeddings_array,
    model_key,
    neighbour_from_row,
    prepare_request,
    prepare_score,
    queries_arrow,
    require_text,
    split_model_key,
)
from academy.store_schema import (
    ANSWER_SCHEMA,
    ANSWERS,
    EMBEDDING_DIM,
    NEIGHBOUR_COLUMNS,
    QUERIES,
    QUERY_SCHEMA,
    ROLES,
    SCORE_SCHEMA,
    SCORES,
    VECTOR_COLUMN,
    StoreError,
    add_missing_nullable_columns,
    sql_str,
)

__all__ = [
    "ANSWERS",
    "ANSWER_SCHEMA",
    "EMBEDDING_DIM",
    "ID_CHUNK",
    "MAX_INDEX_SEGMENTS",
    "MIN_TRAINING_ROWS",
    "NEIGHBOUR_COLUMNS",
    "PARTITION_ROWS",
    "QUERIES",
    "QUERY_SCHEMA",
    "RETRAIN_GROWTH",
    "ROLES",
    "SCORES",
    "SCORE_SCHEMA",
    "TRAINED_ROWS_KEY",
    "VECTOR_COLUMN",
    "VECTOR_INDEX",
    "AnswerRecord",
    "Neighbour",
    "QueryRecord",
    "ScoreRecord",
    "StoreError",
    "TrafficStore",
    "embeddings_array",
    "model_key",
    "prepare_request",
    "split_model_key",
    "sql_str",
    "vector_index_config",
]

# Retrain the IVF centroids once the table is this many times larger than at training time: the
# partitions are then ~2x their target size, so each probe scans twice the rows.
RETRAIN_GROWTH = 2
# Every optimize() that indexes new rows adds a delta segment that each search must also probe.
MAX_INDEX_SEGMENTS = 8
# Ids per ``IN (...)`` list when checking which requests already exist.
ID_CHUNK = 500


class TrafficStore:
    """Queries and answers in LanceDB (a folder, or an object-store URI such as ``s3://bucket/academy``);
    tables are created on first use, reopened as they are.

    Thread-safe within a process: writes are serialised by a lock, index maintenance by another, and
    searches run concurrently. ``read_consistency_interval`` (see ``lancedb.connect``) makes a
    long-lived reader see rows written by other processes; the default ``None`` only sees this
    instance's own writes after opening, which is the fastest for the request path.
    """

    def __init__(
        self,
        path: str | Path,
        config: StoreConfig | None = None,
        *,
        read_consistency_interval: timedelta | None = None,
    ) -> None:
        # A URI (s3://bucket/academy) stays a string: Path() would fold its "//" and lose the scheme.
        self.uri = str(path)
        self.path = path if isinstance(path, str) and is_uri(path) else Path(path)
        self.config = config or StoreConfig()
        self._db = lancedb.connect(self.uri, read_consistency_interval=read_consistency_interval)
        self._queries = self._open_or_create(QUERIES, QUERY_SCHEMA)
        self._answers = self._open_or_create(ANSWERS, ANSWER_SCHEMA)
        self._scores = self._open_or_create(SCORES, SCORE_SCHEMA)
        self._write_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self.pending_rows = 0  # queries logged through this instance since the last maybe_index()

    # ---- tables ---------------------------------------------------------------------------------

    def _open_or_create(self, name: str, schema: pa.Schema) -> Table:
        """Open a table, creating it empty if missing; refuse one whose columns differ from ``schema``.

        Not ``create_table(exist_ok=True)`` alone: that compares schema metadata too, and the queries
        table carries index bookkeeping in its field metadata.
        """
        try:
            table = self._db.open_table(name)
        except ValueError:  # not found
            table = self._db.create_table(name, schema=schema, exist_ok=True)
        add_missing_nullable_columns(table, schema)
        if not table.schema.equals(schema, check_metadata=False):
            raise StoreError(
                f"{self.uri.rstrip('/')}/{name}: table schema differs from this version of Academy's\n"
                f"found:\n{table.schema}\nexpected:\n{schema}"
            )
        return table

    @property
    def queries_table(self) -> Table:
        """The raw LanceDB ``queries`` table, for bulk loads and ad-hoc analysis."""
        return self._queries

    @property
    def answers_table(self) -> Table:
        """The raw LanceDB ``answers`` table."""
        return self._answers

    def _table(self, name: str) -> Table:
        tables = {QUERIES: self._queries, ANSWERS: self._answers, SCORES: self._scores}
        if name not in tables:
            raise StoreError(f"unknown table {name!r}; use one of {sorted(tables)}")
        return tables[name]

    # ---- writes ---------------------------------------------------------------------------------

    def log(self, query: QueryRecord, answers: list[AnswerRecord]) -> bool:
        """Store one request and its answers; False (and nothing written) if the id is already stored."""
        return self.log_many([(query, answers)]) == 1

    def log_many(self, items: Iterable[tuple[QueryRecord, list[AnswerRecord]]]) -> int:
        """Store many requests with one merge per table; returns how many queries were new.

        Everything is validated before anything is written, so one bad record rejects the whole
        call and leaves the tables unchanged.
        """
        prepared = [prepare_request(query, answers) for query, answers in items]
        ids = [query.id for query, _ in prepared]
        if len(set(ids)) != len(ids):
            raise StoreError("duplicate query ids in one log_many call")
        if not prepared:
            return 0
        with self._write_lock:
            existing = self._existing_ids(ids)
            fresh = [(q, a) for q, a in prepared if q.id not in existing]
            if not fresh:
                return 0
            answer_rows = [a for _, answers in fresh for a in answers]
            if answer_rows:
                self._insert_new(self._answers, answers_arrow(answer_rows))
            result = self._insert_new(self._queries, queries_arrow([q for q, _ in fresh]))
            inserted = int(result.num_inserted_rows)
            self.pending_rows += inserted
            return inserted

    def log_scores(self, scores: Iterable[ScoreRecord]) -> int:
        """Store late judge scores; idempotent on the answer id (a re-run of the scorer adds nothing)."""
        rows = [prepare_score(s) for s in scores]
        if not rows:
            return 0
        if len({r.id for r in rows}) != len(rows):
            raise StoreError("duplicate answer ids in one log_scores call")
        columns = {name: [getattr(r, name) for r in rows] for name in SCORE_SCHEMA.names}
        with self._write_lock:
            result = self._insert_new(self._scores, pa.table(columns, schema=SCORE_SCHEMA))
        return int(result.num_inserted_rows)

    @staticmethod
    def _insert_new(table: Table, data: pa.Table) -> Any:
        """Insert rows whose id is not in the table yet (idempotent append)."""
        return table.merge_insert("id").when_not_matched_insert_all().execute(data)

    def _existing_ids(self, ids: list[str]) -> set[str]:
        """The subset of ``ids`` already in ``queries`` (BTree-indexed lookup once indexed)."""
        found: set[str] = set()
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            where = f"id IN ({', '.join(sql_str(i) for i in chunk)})"
            rows = self._queries.search().where(where).select(["id"]).limit(len(chunk)).to_arrow()
            found.update(rows.column("id").to_pylist())
        return found

    # ---- reads ----------------------------------------------------------------------------------

    def search(
        self, embedding: np.ndarray | Sequence[float], tenant: str, k: int, *, exact: bool = False
    ) -> list[Neighbour]:
        """The ``k`` past queries of ``tenant`` most cosine-similar to ``embedding``, best first.

        The tenant filter is a PRE-filter: the k results all belong to the tenant (a post-filter
        could return fewer than k, or none, when other tenants dominate the neighbourhood). Rows not
        yet in the ANN index are searched exhaustively, so nothing logged is ever invisible.
        ``exact=True`` ignores the ANN index (ground truth for recall checks).
        """
        vector, where = self._search_args(embedding, tenant)
        if k < 1:
            return []
        native = _native(self._queries)
        if native is not None:
            rows = LOOP.run(self._native_query(native, vector, where, k, exact).to_arrow())
        else:
            rows = self._sync_query(vector, where, k, exact).to_arrow()
        return [neighbour_from_row(row) for row in rows.to_pylist()]

    async def asearch(
        self, embedding: np.ndarray | Sequence[float], tenant: str, k: int, *, exact: bool = False
    ) -> list[Neighbour]:
        """:meth:`search` for async callers: awaits LanceDB directly, no worker thread needed."""
        vector, where = self._search_args(embedding, tenant)
        native = _native(self._queries)
        if k < 1:
            return []
        if native is None:
            return await asyncio.to_thread(self.search, vector, tenant, k, exact=exact)
        rows = await self._native_query(native, vector, where, k, exact).to_arrow()
        return [neighbour_from_row(row) for row in rows.to_pylist()]

    def exact_search(self, embedding: np.ndarray | Sequence[float], tenant: str, k: int) -> list[Neighbour]:
        """Exhaustive :meth:`search` (ignores the ANN index): ground truth for recall checks."""
        return self.search(embedding, tenant, k, exact=True)

    @staticmethod
    def _search_args(embedding: np.ndarray | Sequence[float], tenant: str) -> tuple[np.ndarray, str]:
        require_text(tenant, "tenant")
        return embedding_vector(embedding), f"tenant = {sql_str(tenant)}"

    def _native_query(self, table: AsyncTable, vector: np.ndarray, where: str, k: int, exact: bool) -> Any:
        """The vector query on LanceDB's async table (filters there are pre-filters by default)."""
        query = (
            table.query()
            .nearest_to(vector)
            .column(VECTOR_COLUMN)
            .distance_type("cosine")
            .where(where)
            .nprobes(self.config.nprobes)
            .refine_factor(self.config.refine_factor)
            .select(NEIGHBOUR_COLUMNS)
            .limit(k)
        )
        return query.bypass_vector_index() if exact else query

    def _sync_query(self, vector: np.ndarray, where: str, k: int, exact: bool) -> Any:
        """The same query through the sync builder: the fallback if LanceDB's internals move."""
        query = (
            self._queries.search(vector, vector_column_name=VECTOR_COLUMN)
            .distance_type("cosine")
            .where(where, prefilter=True)
            .nprobes(self.config.nprobes)
            .refine_factor(self.config.refine_factor)
            .select(NEIGHBOUR_COLUMNS)
            .limit(k)
        )
        return query.bypass_vector_index() if exact else query

    def get_query(self, id: str) -> dict[str, Any] | None:
        """One stored query as a dict (embedding as a float32 array), or None."""
        rows = self._queries.search().where(f"id = {sql_str(id)}").limit(1).to_list()
        if not rows:
            return None
        row = rows[0]
        row[VECTOR_COLUMN] = np.asarray(row[VECTOR_COLUMN], dtype=np.float32)
        return row

    def answers_for(self, query_id: str) -> list[dict[str, Any]]:
        """All stored answers of one query, oldest first."""
        rows = self._answers.search().where(f"query_id = {sql_str(query_id)}").to_list()
        return sorted(rows, key=lambda r: (r["ts"], r["id"]))

    def count(
        self, table: Literal["queries", "answers", "scores"] = "queries", tenant: str | None = None
    ) -> int:
        """Row count of a table, optionally of one tenant."""
        where = None if tenant is None else f"tenant = {sql_str(tenant)}"
        return self._table(table).count_rows(where)

    def queries_frame(self, tenant: str | None = None, columns: list[str] | None = None) -> Any:
        """The ``queries`` table as a pandas DataFrame (exports, nightly flows); ``columns`` reads
        only those (the embedding is 1.5 KB a row)."""
        return self._frame(self._queries, tenant, columns)

    def answers_frame(self, tenant: str | None = None, columns: list[str] | None = None) -> Any:
        """The ``answers`` table as a pandas DataFrame."""
        return self._frame(self._answers, tenant, columns)

    def scores_frame(self, tenant: str | None = None, columns: list[str] | None = None) -> Any:
        """The late ``scores`` table as a pandas DataFrame."""
        return self._frame(self._scores, tenant, columns)

    @staticmethod
    def _frame(table: Table, tenant: str | None, columns: list[str] | None = None) -> Any:
        query = table.search()
        if tenant is not None:
            query = query.where(f"tenant = {sql_str(tenant)}")
        if columns is not None:
            unknown = sorted(set(columns) - set(table.schema.names))
            if unknown:
                raise StoreError(f"{table.name} has no column(s) {unknown}")
            query = query.select(list(columns))
        return query.limit(None).to_arrow().to_pandas()

    # ---- maintenance ----------------------------------------------------------------------------

    def maybe_index(self) -> bool:
        """Build, extend or retrain indices when due; returns whether it did any work.

        * No ANN index and >= ``index_min_rows`` queries: train it, plus the scalar indices (BTree on
          ids, Bitmap on tenants) that keep idempotency checks and tenant pre-filters fast.
        * Table grown ``RETRAIN_GROWTH``x since training, or more than ``MAX_INDEX_SEGMENTS`` delta
          segments: retrain, so partitions stay near their target size and one segment is searched.
        * >= ``reindex_every_rows`` rows not yet indexed: :meth:`compact`, which folds them into every
          index; until then they are flat-scanned on each search.

        Slow on large tables (a retrain takes minutes at a million rows): run it off the request
        path. It never runs inside :meth:`log`; ``pending_rows`` tells a caller when to call.
        """
        with self._index_lock:
            self.pending_rows = 0
            rows = self._queries.count_rows()
            index = vector_index(self._queries)
            if index is None:
                if rows < self.config.index_min_rows:
                    return False
                self._build_indices(rows)
                return True
            grown = rows >= RETRAIN_GROWTH * trained_rows(self._queries, index.num_indexed_rows)
            if grown or index.num_segments > MAX_INDEX_SEGMENTS:
                self._optimize()  # compact first, so the new index maps the final fragments
                self._build_indices(self._queries.count_rows())
                return True
            if index.num_unindexed_rows >= self.config.reindex_every_rows:
                ensure_scalar_indices(self._queries, self._answers)
                self._optimize()
                return True
            return False

    def build_index(self, num_partitions: int | None = None) -> None:
        """(Re)train the ANN index now, whatever ``index_min_rows`` says (needs >= 256 rows).

        For benchmarks and the nightly flow; ``num_partitions`` overrides the default sizing.
        """
        with self._index_lock:
            rows = self._queries.count_rows()
            if rows < MIN_TRAINING_ROWS:
                raise StoreError(f"need >= {MIN_TRAINING_ROWS} queries to train an index, have {rows}")
            self._build_indices(rows, num_partitions)

    def compact(self) -> None:
        """Merge the small fragments per-request appends create, and fold new rows into the indices.

        Every ``log`` appends one fragment per table, and each small fragment slows every search.
        LanceDB offers no compaction without index maintenance, so new rows also land in a new ANN
        delta segment (searched on each query too) until :meth:`maybe_index` retrains. Old versions
        are kept for ``store.keep_versions_minutes``, so a concurrent reader's snapshot outlives any
        query it runs.
        """
        with self._index_lock:
            self._optimize()

    def has_vector_index(self) -> bool:
        return vector_index(self._queries) is not None

    def _build_indices(self, rows: int, num_partitions: int | None = None) -> None:
        build_indices(self._queries, self._answers, self.config, rows, num_partitions)

    def _optimize(self) -> None:
        """Compact every table, fold new rows into the indices and delete table versions older than
        ``store.keep_versions_minutes`` (:func:`academy.store_index.optimize`)."""
        optimize((self._answers, self._queries, self._scores), self.config.keep_versions_minutes)


def _native(table: Table) -> AsyncTable | None:
    """The async table inside LanceDB's sync ``Table``, or None if LanceDB's internals changed.

    Why: the sync query builder makes three extra schema round-trips through LanceDB's background
    loop per search; querying the async table directly keeps them off the routing budget.
    """
    inner = getattr(table, "_table", None)
    return inner if isinstance(inner, AsyncTable) else None
