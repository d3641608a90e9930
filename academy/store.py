"""The traffic store: every routed query and every model answer, in LanceDB tables on local disk.

Two append-only tables:

* ``queries``: one row per request, with its embedding and the judge scores known for its answers
  (``judged_models`` / ``judged_scores``), so the router's neighbourhood estimate is ONE filtered
  vector search with no join.
* ``answers``: one row per model answer (served, fanned out, shadowed, explored), the raw material of
  nightly distillation and evaluation.

Writes are idempotent on the request id (``merge_insert``), so a retried request or a replayed log
never duplicates rows. Answers are written before their query: a crash in between leaves answers
without a query (harmless, filled in on the retry), never a query without its answers.

Indexing is explicit: :meth:`TrafficStore.maybe_index` builds or refreshes the ANN and scalar
indices. It can take seconds to minutes on large tables, so ``log`` never calls it; the caller runs
it off the request path (a background task when ``pending_rows`` grows, or the nightly flow).
Rows logged after the last index build are still searched, by a flat scan of the unindexed
fragments, so a fresh row is visible to the router at once.

Search cost, measured with ``bench/store_search.py`` on 2 busy cores (k=8, tenant pre-filter):

* flat (no index): ~3 ms at 1k rows, ~9 ms at 10k rows. Index early: ``index_min_rows`` ~2000.
* IVF_PQ at 1M rows (244 partitions): p50 ~6-7 ms with nprobes=5, refine_factor=4 (recall 1.0
  on clustered synthetic traffic); nprobes=20 costs ~13 ms.
* every unindexed row costs ~1 us, every small un-compacted fragment ~70 us, every extra index
  delta segment ~0.5-1 ms: compact every ~100-200 logs, fold new rows in every few thousand.
"""

from __future__ import annotations

import asyncio
import math
import numbers
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.background_loop import LOOP
from lancedb.index import Bitmap, BTree, IvfHnswSq, IvfPq
from lancedb.table import AsyncTable, Table

from academy.config import StoreConfig, is_uri

EMBEDDING_DIM = 384
ROLES = ("teacher", "ta", "student")
QUERIES = "queries"
ANSWERS = "answers"
VECTOR_COLUMN = "embedding"
VECTOR_INDEX = "embedding_idx"
# Field metadata key on the embedding column: the row count the ANN index was trained on.
TRAINED_ROWS_KEY = "academy:index_trained_rows"
# Retrain the IVF centroids once the table is this many times larger than at training time: the
# partitions are then ~2x their target size, so each probe scans twice the rows.
RETRAIN_GROWTH = 2
# Every optimize() that indexes new rows adds a delta segment that each search must also probe.
MAX_INDEX_SEGMENTS = 8
# Rows per IVF partition: the smallest size LanceDB's optimize() leaves alone (see vector_index_config).
PARTITION_ROWS = 4096
# PQ trains 256 centroids per sub-vector and IVF wants 256 rows per partition.
MIN_TRAINING_ROWS = 256
# Ids per ``IN (...)`` list when checking which requests already exist.
ID_CHUNK = 500

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
SCORES = "scores"

# Columns a neighbour search returns: everything the router needs, never the 1.5 KB embedding.
NEIGHBOUR_COLUMNS = ["id", "text", "judged_models", "judged_scores", "final_model", "route", "_distance"]


class StoreError(ValueError):
    """A record cannot be stored as given; the message says which field and why."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class QueryRecord:
    """One routed request: the write API for the ``queries`` table.

    ``judged_models`` / ``judged_scores`` are the judge scores known for this query's answers. Left
    empty, :meth:`TrafficStore.log` fills them from the answers that carry a ``judge_score``.
    """

    id: str
    tenant: str
    text: str
    embedding: np.ndarray | Sequence[float]
    route: str
    final_model: str
    final_answer: str
    total_cost: float = 0.0
    latency_ms: float = 0.0
    final_score: float | None = None
    domain: str | None = None
    judged_models: list[str] = field(default_factory=list)
    judged_scores: list[float] = field(default_factory=list)
    ts: datetime = field(default_factory=_now)


@dataclass
class AnswerRecord:
    """One model answer: the write API for the ``answers`` table.

    ``query_id`` and ``tenant`` default to the query's when logged with it; ``id`` defaults to
    ``f"{query_id}/{model}/{purpose}"`` so a retried log maps to the same row.
    """

    model: str
    role: str
    purpose: str
    text: str
    query_id: str = ""
    tenant: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    reasoning: str | None = None
    judge_score: float | None = None
    judge_name: str | None = None
    judge_cost: float = 0.0
    error: str | None = None
    ts: datetime = field(default_factory=_now)
    id: str = ""
    version: str | None = None


@dataclass
class ScoreRecord:
    """A judge score that arrived after its answer was logged (the nightly scorer)."""

    id: str  # the answer id
    query_id: str
    tenant: str
    model: str
    judge_score: float | None
    judge_name: str
    judge_cost: float = 0.0
    error: str | None = None
    ts: datetime = field(default_factory=_now)


def model_key(model: str, version: str | None) -> str:
    """How a judged answer is named in ``queries.judged_models``: ``name`` or ``name@version``.

    The router counts only evidence about the version it serves now, so a promoted student is not
    judged by its predecessor's mistakes.
    """
    return f"{model}@{version}" if version else model


def split_model_key(key: str) -> tuple[str, str | None]:
    """Inverse of :func:`model_key`."""
    model, _, version = key.partition("@")
    return model, version or None


@dataclass
class Neighbour:
    """A past query near the current one, with what is known about its answers."""

    id: str
    text: str
    similarity: float  # cosine similarity, 1 - cosine distance
    judged_models: list[str]
    judged_scores: list[float]
    final_model: str
    route: str


def sql_str(value: str) -> str:
    """A SQL string literal for a LanceDB filter: quotes doubled, so a value can never end the literal.

    LanceDB filters are DataFusion SQL, where backslashes are not escapes and ``''`` is a quote.
    """
    if not isinstance(value, str):
        raise StoreError(f"expected a string for a filter value, got {type(value).__name__}")
    if "\x00" in value:
        raise StoreError("filter values must not contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


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
        _add_missing_nullable_columns(table, schema)
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
                self._insert_new(self._answers, _answers_table(answer_rows))
            result = self._insert_new(self._queries, _queries_table([q for q, _ in fresh]))
            inserted = int(result.num_inserted_rows)
            self.pending_rows += inserted
            return inserted

    def log_scores(self, scores: Iterable[ScoreRecord]) -> int:
        """Store late judge scores; idempotent on the answer id (a re-run of the scorer adds nothing)."""
        rows = [_prepare_score(s) for s in scores]
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
        return [_neighbour(row) for row in rows.to_pylist()]

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
        return [_neighbour(row) for row in rows.to_pylist()]

    def exact_search(self, embedding: np.ndarray | Sequence[float], tenant: str, k: int) -> list[Neighbour]:
        """Exhaustive :meth:`search` (ignores the ANN index): ground truth for recall checks."""
        return self.search(embedding, tenant, k, exact=True)

    @staticmethod
    def _search_args(embedding: np.ndarray | Sequence[float], tenant: str) -> tuple[np.ndarray, str]:
        _require_text(tenant, "tenant")
        return _vector(embedding), f"tenant = {sql_str(tenant)}"

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
          ids, Bitmap on tenants) that keep idempotency checks and tenant pre-filters fast at 1M rows.
        * Table grown ``RETRAIN_GROWTH``x since training, or more than ``MAX_INDEX_SEGMENTS`` delta
          segments: retrain, so partitions stay near their target size and one segment is searched.
        * >= ``reindex_every_rows`` rows not yet indexed: :meth:`compact`, which folds them into every
          index; until then they are flat-scanned on each search.

        Slow on large tables (a retrain at 1M rows takes 1-2 minutes on 2 cores): run it off the
        request path. It never runs inside :meth:`log`; ``pending_rows`` tells a caller when to call.
        """
        with self._index_lock:
            self.pending_rows = 0
            rows = self._queries.count_rows()
            index = self._vector_index()
            if index is None:
                if rows < self.config.index_min_rows:
                    return False
                self._build_indices(rows)
                return True
            grown = rows >= RETRAIN_GROWTH * self._trained_rows(index.num_indexed_rows)
            if grown or index.num_segments > MAX_INDEX_SEGMENTS:
                self._optimize()  # compact first, so the new index maps the final fragments
                self._build_indices(self._queries.count_rows())
                return True
            if index.num_unindexed_rows >= self.config.reindex_every_rows:
                self._ensure_scalar_indices()
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

    def _build_indices(self, rows: int, num_partitions: int | None = None) -> None:
        config = vector_index_config(self.config, rows, num_partitions)
        self._queries.create_index(VECTOR_COLUMN, config=config, replace=True, name=VECTOR_INDEX)
        self._queries.update_field_metadata(
            {"path": VECTOR_COLUMN, "metadata": {TRAINED_ROWS_KEY: str(rows)}}
        )
        self._ensure_scalar_indices()

    def _vector_index(self) -> Any:
        """The ANN index's IndexConfig (rows covered, segments), or None."""
        return next((ix for ix in self._queries.list_indices() if ix.name == VECTOR_INDEX), None)

    def compact(self) -> None:
        """Merge the small fragments per-request appends create, and fold new rows into the indices.

        Why it matters: every ``log`` appends one fragment per table, and each small fragment adds
        ~0.07 ms to every search (100 un-compacted appends: +7 ms at 1M rows). LanceDB offers no
        compaction without index maintenance, so new rows also land in a new ANN delta segment
        (~+0.5-1 ms per search each) until :meth:`maybe_index` retrains. Old versions are kept for
        ``store.keep_versions_minutes``, so a concurrent reader's snapshot outlives any query it runs.
        """
        with self._index_lock:
            self._optimize()

    def has_vector_index(self) -> bool:
        return self._vector_index() is not None

    def _optimize(self) -> None:
        """Compact and fold new rows into the indices, then delete table versions older than
        ``keep_versions_minutes``: every logged request writes a version, and thousands of them
        made each write slow (6,000 versions: 816 ms per logged request; after cleanup 26 ms)."""
        keep = timedelta(minutes=self.config.keep_versions_minutes)
        for table in (self._answers, self._queries, self._scores):
            table.optimize(cleanup_older_than=keep)

    def _trained_rows(self, fallback: int) -> int:
        metadata = self._queries.schema.field(VECTOR_COLUMN).metadata or {}
        raw = metadata.get(TRAINED_ROWS_KEY.encode())
        return int(raw) if raw else max(fallback, 1)

    def _ensure_scalar_indices(self) -> None:
        wanted = {
            self._queries: [("id", BTree()), ("tenant", Bitmap())],
            self._answers: [
                ("id", BTree()),
                ("query_id", BTree()),
                ("tenant", Bitmap()),
            ],
        }
        for table, indices in wanted.items():
            indexed = {column for ix in table.list_indices() for column in ix.columns}
            for column, config in indices:
                if column not in indexed:
                    table.create_index(column, config=config, replace=True)


def vector_index_config(config: StoreConfig, rows: int, num_partitions: int | None = None) -> Any:
    """The ANN index for ``rows`` queries: cosine IVF_PQ (default) or IVF_HNSW_SQ.

    IVF_PQ: one partition per ``PARTITION_ROWS`` rows and 48 sub-vectors of 8 dims (48 bytes a row),
    re-ranked on the exact vectors by ``refine_factor``. Why not ~sqrt(rows) partitions (1000 at
    1M rows, ~1k rows each, slightly faster when fresh): LanceDB's ``optimize()`` joins partitions
    far below its target size and collapsed such an index to 31 partitions (search 8 -> 36 ms).
    IVF_HNSW_SQ: LanceDB's default sizing (one HNSW graph per ~1M rows). Measured on 2 cores at 1M
    rows it built in ~10 min and searched in ~16 ms with the tenant pre-filter, so IVF_PQ is the
    default.
    """
    if config.index_type == "ivf_hnsw_sq":
        return IvfHnswSq(distance_type="cosine", num_partitions=num_partitions)
    if num_partitions is None:
        num_partitions = rows // PARTITION_ROWS
    return IvfPq(distance_type="cosine", num_partitions=max(1, num_partitions), num_sub_vectors=48)


# ---- record validation and conversion -----------------------------------------------------------


def _require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{name} must be a non-empty string, got {value!r}")


def _vector(embedding: object) -> np.ndarray:
    """A finite, non-zero float32 vector of EMBEDDING_DIM, or StoreError."""
    try:
        vector = np.asarray(embedding, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"embedding is not numeric: {exc}") from exc
    if vector.shape != (EMBEDDING_DIM,):
        raise StoreError(f"embedding must have shape ({EMBEDDING_DIM},), got {vector.shape}")
    if not np.isfinite(vector).all():
        raise StoreError("embedding contains NaN or infinite values")
    if not vector.any():
        raise StoreError("embedding is all zeros; cosine similarity is undefined")
    return vector


def _utc(ts: datetime, name: str) -> datetime:
    if not isinstance(ts, datetime):
        raise StoreError(f"{name} must be a datetime, got {ts!r}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _finite_or_none(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise StoreError(f"{name} must be a finite number or None, got {value!r}")
    return float(value)


def _finite(value: float, name: str) -> float:
    checked = _finite_or_none(value, name)
    if checked is None:
        raise StoreError(f"{name} must be a finite number, got None")
    return checked


def prepare_request(
    query: QueryRecord, answers: list[AnswerRecord]
) -> tuple[QueryRecord, list[AnswerRecord]]:
    """Validate and normalise one request; fills answer ids/tenants and the query's judged scores."""
    if not isinstance(query, QueryRecord):
        raise StoreError(f"expected a QueryRecord, got {type(query).__name__}")
    for name in ("id", "tenant", "route", "final_model"):
        _require_text(getattr(query, name), f"query.{name}")
    for name in ("text", "final_answer"):
        if not isinstance(getattr(query, name), str):
            raise StoreError(f"query.{name} must be a string")
    fixed = [_prepare_answer(query, answer) for answer in answers]
    answer_ids = [a.id for a in fixed]
    if len(set(answer_ids)) != len(answer_ids):
        raise StoreError(f"query {query.id!r}: duplicate answer ids {answer_ids}")
    judged_models, judged_scores = list(query.judged_models), list(query.judged_scores)
    if not judged_models and not judged_scores:
        judged = [a for a in fixed if a.judge_score is not None and a.error is None]
        judged_models = [model_key(a.model, a.version) for a in judged]
        judged_scores = [float(a.judge_score) for a in judged]
    if len(judged_models) != len(judged_scores):
        raise StoreError(f"query {query.id!r}: judged_models and judged_scores differ in length")
    return (
        replace(
            query,
            embedding=_vector(query.embedding),
            ts=_utc(query.ts, "query.ts"),
            total_cost=_finite(query.total_cost, "query.total_cost"),
            latency_ms=_finite(query.latency_ms, "query.latency_ms"),
            final_score=_finite_or_none(query.final_score, "query.final_score"),
            judged_models=[str(m) for m in judged_models],
            judged_scores=[_finite(s, "query.judged_scores[]") for s in judged_scores],
        ),
        fixed,
    )


def _prepare_answer(query: QueryRecord, answer: AnswerRecord) -> AnswerRecord:
    if not isinstance(answer, AnswerRecord):
        raise StoreError(f"expected an AnswerRecord, got {type(answer).__name__}")
    query_id, tenant = answer.query_id or query.id, answer.tenant or query.tenant
    if query_id != query.id or tenant != query.tenant:
        raise StoreError(f"answer {answer.model!r} belongs to {query_id!r}/{tenant!r}, not {query.id!r}")
    for name in ("model", "purpose"):
        _require_text(getattr(answer, name), f"answer.{name}")
    if answer.role not in ROLES:
        raise StoreError(f"answer.role must be one of {ROLES}, got {answer.role!r}")
    if not isinstance(answer.text, str):
        raise StoreError("answer.text must be a string")
    for name in ("tokens_in", "tokens_out"):
        value = getattr(answer, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < 2**31:
            raise StoreError(f"answer.{name} must be a non-negative int32, got {value!r}")
    return replace(
        answer,
        id=answer.id or f"{query_id}/{answer.model}/{answer.purpose}",
        query_id=query_id,
        tenant=tenant,
        ts=_utc(answer.ts, "answer.ts"),
        cost=_finite(answer.cost, "answer.cost"),
        latency_ms=_finite(answer.latency_ms, "answer.latency_ms"),
        judge_score=_finite_or_none(answer.judge_score, "answer.judge_score"),
        judge_cost=_finite(answer.judge_cost, "answer.judge_cost"),
    )


def _prepare_score(score: ScoreRecord) -> ScoreRecord:
    if not isinstance(score, ScoreRecord):
        raise StoreError(f"expected a ScoreRecord, got {type(score).__name__}")
    for name in ("id", "query_id", "tenant", "model", "judge_name"):
        _require_text(getattr(score, name), f"score.{name}")
    return replace(
        score,
        ts=_utc(score.ts, "score.ts"),
        judge_score=_finite_or_none(score.judge_score, "score.judge_score"),
        judge_cost=_finite(score.judge_cost, "score.judge_cost"),
    )


def _add_missing_nullable_columns(table: Table, schema: pa.Schema) -> None:
    """Migrate a table written by an older Academy: append the nullable columns it lacks (all null).

    Only trailing, nullable columns are ever added to a schema, so old rows stay valid as they are.
    """
    missing = [f for f in schema if f.name not in table.schema.names and f.nullable]
    if missing:
        table.add_columns(missing)


def embeddings_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """(n, 384) float32 -> the Arrow column type of ``queries.embedding`` (zero-copy)."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, EMBEDDING_DIM)


def _queries_table(queries: list[QueryRecord]) -> pa.Table:
    columns: dict[str, Any] = {
        name: [getattr(q, name) for q in queries] for name in QUERY_SCHEMA.names if name != VECTOR_COLUMN
    }
    columns[VECTOR_COLUMN] = embeddings_array(np.stack([np.asarray(q.embedding) for q in queries]))
    return pa.table({name: columns[name] for name in QUERY_SCHEMA.names}, schema=QUERY_SCHEMA)


def _answers_table(answers: list[AnswerRecord]) -> pa.Table:
    columns = {name: [getattr(a, name) for a in answers] for name in ANSWER_SCHEMA.names}
    return pa.table(columns, schema=ANSWER_SCHEMA)


def _native(table: Table) -> AsyncTable | None:
    """The async table inside LanceDB's sync ``Table``, or None if LanceDB's internals changed.

    Why: the sync query builder makes three extra schema round-trips through LanceDB's background
    loop per search; querying the async table directly saves ~1-1.5 ms of the routing budget.
    """
    inner = getattr(table, "_table", None)
    return inner if isinstance(inner, AsyncTable) else None


def _neighbour(row: dict[str, Any]) -> Neighbour:
    similarity = min(1.0, max(-1.0, 1.0 - float(row["_distance"])))
    return Neighbour(
        id=row["id"],
        text=row["text"],
        similarity=similarity,
        judged_models=list(row["judged_models"] or []),
        judged_scores=[float(s) for s in row["judged_scores"] or []],
        final_model=row["final_model"],
        route=row["route"],
    )
