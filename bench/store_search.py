"""Traffic-store search latency at scale: fill a store with synthetic traffic, time ``search``.

The router's whole decision (embed ~8 ms + neighbour search + scoring) targets p50 <= 10 ms and
p99 <= 30 ms, so the search itself must stay at a few ms even at 1M stored queries.

    .venv/bin/python bench/store_search.py --rows 1000000 --queries 500 --path /tmp/academy-bench

``fill_store`` is also imported (by path) by the router overhead benchmark.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

if importlib.util.find_spec("academy") is None:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from academy.config import StoreConfig  # noqa: E402
from academy.store import EMBEDDING_DIM, QUERY_SCHEMA, TrafficStore, embeddings_array  # noqa: E402

CENTROIDS = 1000  # distinct "topics"; real traffic clusters around recurring questions
NOISE = 0.5  # per-vector noise norm relative to its centroid: cos(member, centroid) ~ 0.89
MODELS = ["teacher", "ta", "student"]
ROUTES = ["novel", "familiar", "cache"]


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def centroids(seed: int = 0, count: int = CENTROIDS) -> np.ndarray:
    """The topic centres synthetic traffic clusters around (deterministic per seed)."""
    return unit(np.random.default_rng(seed).standard_normal((count, EMBEDDING_DIM), dtype=np.float32))


def clustered_vectors(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """``n`` unit vectors, each a random centre plus isotropic noise of norm ~NOISE."""
    picks = rng.integers(0, len(centres), n)
    noise = rng.standard_normal((n, EMBEDDING_DIM), dtype=np.float32) * (NOISE / np.sqrt(EMBEDDING_DIM))
    return unit(centres[picks] + noise)


def _list_column(values: pa.Array, per_row: int, rows: int) -> pa.ListArray:
    offsets = pa.array(np.arange(0, rows * per_row + 1, per_row, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def synthetic_batch(
    rng: np.random.Generator, centres: np.ndarray, start: int, n: int, tenants: int
) -> pa.Table:
    """``n`` synthetic ``queries`` rows (ids ``bench-{i}``), built column-wise for speed."""
    index = np.arange(start, start + n)
    now = pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC"))
    judged = 2
    models = pa.array(np.array(MODELS)[rng.integers(0, len(MODELS), n * judged)])
    scores = pa.array(rng.random(n * judged, dtype=np.float32))
    columns: dict[str, Any] = {
        "id": pa.array([f"bench-{i}" for i in index]),
        "ts": pa.repeat(now, n),
        "tenant": pa.array([f"tenant-{i % tenants}" for i in index]),
        "text": pa.array([f"synthetic question {i}" for i in index]),
        "embedding": embeddings_array(clustered_vectors(rng, centres, n)),
        "route": pa.array(np.array(ROUTES)[rng.integers(0, len(ROUTES), n)]),
        "final_model": pa.array(np.array(MODELS)[rng.integers(0, len(MODELS), n)]),
        "final_answer": pa.repeat(pa.scalar("42"), n),
        "final_score": pa.array(rng.random(n, dtype=np.float32)),
        "total_cost": pa.array(rng.random(n) * 1e-3),
        "latency_ms": pa.array(rng.random(n, dtype=np.float32) * 1000),
        "domain": pa.repeat(pa.scalar("synthetic"), n),
        "judged_models": _list_column(models, judged, n),
        "judged_scores": _list_column(scores, judged, n),
    }
    return pa.table([columns[name] for name in QUERY_SCHEMA.names], schema=QUERY_SCHEMA)


def fill_store(
    store: TrafficStore,
    rows: int,
    tenants: int = 4,
    seed: int = 0,
    batch: int = 50_000,
    index: bool = True,
    num_partitions: int | None = None,
) -> None:
    """Append ``rows`` synthetic queries (ids ``bench-{i}``), then build the ANN and scalar indices.

    One streaming ``table.add`` of ``batch``-row Arrow batches: no per-row idempotency check (as
    ``merge_insert`` would do), memory bounded by one batch, and few large fragments, as after a
    compaction. 1M rows take ~20 s to write; the index ~1.5 min on 2 cores.
    """
    rng = np.random.default_rng(seed)
    centres = centroids(seed)
    start = store.count()

    def batches() -> Iterator[pa.RecordBatch]:
        for offset in range(0, rows, batch):
            size = min(batch, rows - offset)
            yield from synthetic_batch(rng, centres, start + offset, size, tenants).to_batches()

    store.queries_table.add(pa.RecordBatchReader.from_batches(QUERY_SCHEMA, batches()))
    if index and store.count() >= 256:
        store.build_index(num_partitions=num_partitions)


def time_searches(
    store: TrafficStore, queries: np.ndarray, tenants: list[str], k: int, warmup: int = 20
) -> np.ndarray:
    """Latency in ms of ``store.search`` per query (after ``warmup`` untimed searches)."""
    for i in range(min(warmup, len(queries))):
        store.search(queries[i], tenants[i], k)
    latencies = np.empty(len(queries))
    for i, (vector, tenant) in enumerate(zip(queries, tenants, strict=True)):
        started = time.perf_counter()
        store.search(vector, tenant, k)
        latencies[i] = (time.perf_counter() - started) * 1000
    return latencies


def recall(
    store: TrafficStore, queries: np.ndarray, tenants: list[str], k: int, tolerance: float = 0.01
) -> float:
    """Share of ANN neighbours as similar as the exact k-th neighbour (within ``tolerance``).

    Plain id recall would be misleading here: a synthetic topic has hundreds of near-equally
    similar members, and for the router any of them is an equally good neighbour.
    """
    good = 0
    for vector, tenant in zip(queries, tenants, strict=True):
        exact = store.exact_search(vector, tenant, k)
        if not exact:
            continue
        kth = exact[-1].similarity
        good += sum(n.similarity >= kth - tolerance for n in store.search(vector, tenant, k))
    return good / (k * len(queries))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000, help="synthetic queries to store")
    parser.add_argument("--queries", type=int, default=500, help="timed searches")
    parser.add_argument("--path", type=Path, default=Path("/tmp/academy-store-bench"), help="store folder")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--k", type=int, default=8, help="neighbours per search (router.neighbours)")
    parser.add_argument("--index-type", choices=["ivf_pq", "ivf_hnsw_sq"], default="ivf_pq")
    parser.add_argument("--nprobes", type=int, default=StoreConfig().nprobes)
    parser.add_argument("--refine", type=int, default=StoreConfig().refine_factor)
    parser.add_argument("--partitions", type=int, default=None, help="override IVF partitions")
    parser.add_argument("--no-index", action="store_true", help="flat search only")
    parser.add_argument("--reuse", action="store_true", help="reuse a filled store at --path")
    parser.add_argument("--tail", type=int, default=0, help="unindexed rows to add after indexing")
    parser.add_argument("--recall", type=int, default=0, help="queries to measure recall@k on (slow)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = StoreConfig(index_type=args.index_type, nprobes=args.nprobes, refine_factor=args.refine)
    store = TrafficStore(args.path, config)
    have = store.count()
    if not (args.reuse and have >= args.rows):
        if have:
            raise SystemExit(f"{args.path} already holds {have} rows; pass --reuse or an empty --path")
        started = time.perf_counter()
        fill_store(store, args.rows, args.tenants, args.seed, index=False)
        print(f"filled {args.rows} rows in {time.perf_counter() - started:.1f} s")
    if not args.no_index and (not args.reuse or not store.has_vector_index() or args.partitions):
        started = time.perf_counter()
        store.build_index(num_partitions=args.partitions)
        print(f"indexed ({args.index_type}) in {time.perf_counter() - started:.1f} s")
    if args.tail:
        rng = np.random.default_rng(args.seed + 2)
        batch = synthetic_batch(rng, centroids(args.seed), store.count(), args.tail, args.tenants)
        store.queries_table.add(batch)
        print(f"added {args.tail} unindexed rows")
    rng = np.random.default_rng(args.seed + 1)
    vectors = clustered_vectors(rng, centroids(args.seed), args.queries)
    tenants = [f"tenant-{i % args.tenants}" for i in rng.integers(0, args.tenants, args.queries)]
    latencies = time_searches(store, vectors, tenants, args.k)
    p50, p99 = np.percentile(latencies, [50, 99])
    print(
        f"rows={store.count()} index={store.has_vector_index() and args.index_type} k={args.k} "
        f"nprobes={args.nprobes} refine={args.refine} queries={args.queries}: "
        f"p50={p50:.2f} ms p99={p99:.2f} ms max={latencies.max():.2f} ms"
    )
    if args.recall:
        print(f"recall@{args.k}={recall(store, vectors[: args.recall], tenants[: args.recall], args.k):.3f}")


if __name__ == "__main__":
    main()
