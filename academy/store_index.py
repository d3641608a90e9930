"""Index maintenance of the traffic store: the ANN index on query embeddings, the scalar indices,
compaction and old-version cleanup.

These functions do the work; :meth:`academy.store.TrafficStore.maybe_index` decides when, and the
store's index lock keeps two of them from running at once. None of them is ever on the request
path: they can take seconds to minutes on large tables.

Guarantees:

* :func:`build_indices` trains the ANN index on every row present, records that row count in the
  embedding column's field metadata (:data:`TRAINED_ROWS_KEY`, read back by :func:`trained_rows`)
  and makes sure the scalar indices exist.
* :func:`optimize` loses no row: it merges fragments, folds unindexed rows into every index and
  deletes only table versions older than ``store.keep_versions_minutes``, so a concurrent reader's
  snapshot outlives any query it runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lancedb.index import Bitmap, BTree, IvfHnswSq, IvfPq
from lancedb.table import Table

from academy.config import StoreConfig
from academy.store_schema import VECTOR_COLUMN

VECTOR_INDEX = "embedding_idx"
# Field metadata key on the embedding column: the row count the ANN index was trained on.
TRAINED_ROWS_KEY = "academy:index_trained_rows"
# Rows per IVF partition: the smallest size LanceDB's optimize() leaves alone (see vector_index_config).
PARTITION_ROWS = 4096
# PQ trains 256 centroids per sub-vector and IVF wants 256 rows per partition.
MIN_TRAINING_ROWS = 256


def vector_index_config(config: StoreConfig, rows: int, num_partitions: int | None = None) -> Any:
    """The ANN index for ``rows`` queries: cosine IVF_PQ (default) or IVF_HNSW_SQ.

    IVF_PQ: one partition per ``PARTITION_ROWS`` rows and 48 sub-vectors of 8 dims (48 bytes a row),
    re-ranked on the exact vectors by ``refine_factor``. Not ~sqrt(rows) partitions: LanceDB's
    ``optimize()`` joins partitions far below its target size, which collapses such an index into a
    few oversized partitions and slows every search. IVF_HNSW_SQ uses LanceDB's default sizing (one
    HNSW graph per ~1M rows); it built and searched slower than IVF_PQ on this traffic
    (``bench/store_search.py --index-type``), so IVF_PQ is the default.
    """
    if config.index_type == "ivf_hnsw_sq":
        return IvfHnswSq(distance_type="cosine", num_partitions=num_partitions)
    if num_partitions is None:
        num_partitions = rows // PARTITION_ROWS
    return IvfPq(distance_type="cosine", num_partitions=max(1, num_partitions), num_sub_vectors=48)


def vector_index(queries: Table) -> Any:
    """The ANN index's IndexConfig (rows covered, segments), or None."""
    return next((ix for ix in queries.list_indices() if ix.name == VECTOR_INDEX), None)


def build_indices(
    queries: Table, answers: Table, config: StoreConfig, rows: int, num_partitions: int | None = None
) -> None:
    """(Re)train the ANN index for ``rows`` queries, record ``rows`` as its training size, and make
    sure the scalar indices exist."""
    index_config = vector_index_config(config, rows, num_partitions)
    queries.create_index(VECTOR_COLUMN, config=index_config, replace=True, name=VECTOR_INDEX)
    queries.update_field_metadata({"path": VECTOR_COLUMN, "metadata": {TRAINED_ROWS_KEY: str(rows)}})
    ensure_scalar_indices(queries, answers)


def trained_rows(queries: Table, fallback: int) -> int:
    """The row count the ANN index was trained on; ``fallback`` (at least 1) if it was not recorded."""
    metadata = queries.schema.field(VECTOR_COLUMN).metadata or {}
    raw = metadata.get(TRAINED_ROWS_KEY.encode())
    return int(raw) if raw else max(fallback, 1)


def ensure_scalar_indices(queries: Table, answers: Table) -> None:
    """BTree indices on ids, Bitmap indices on tenants: they keep idempotency checks, answer lookups
    and tenant pre-filters fast on large tables. Creates only the ones missing."""
    wanted = {
        queries: [("id", BTree()), ("tenant", Bitmap())],
        answers: [
            ("id", BTree()),
            ("query_id", BTree()),
            ("tenant", Bitmap()),
        ],
    }
    for table, indices in wanted.items():
        indexed = {column for ix in table.list_indices() for column in ix.columns}
        for column, index_config in indices:
            if column not in indexed:
                table.create_index(column, config=index_config, replace=True)


def optimize(tables: tuple[Table, ...], keep_versions_minutes: float) -> None:
    """Compact each table and fold its new rows into its indices, then delete its table versions
    older than ``keep_versions_minutes``.

    Every logged request writes a table version and a small fragment; without this, writes and
    searches slow down as they pile up. Versions newer than the cut-off are kept, so a concurrent
    reader's snapshot stays readable.
    """
    keep = timedelta(minutes=keep_versions_minutes)
    for table in tables:
        table.optimize(cleanup_older_than=keep)
