"""Where the dashboard's panels read from: the traffic store (only the columns a panel needs), the
model registry (never allowed to break the page), the newest gap report and the distillation
benchmark's results.

One ``Sources`` per app, created on the first dashboard request. It opens its own read-only view of
the traffic store with a short ``read_consistency_interval``, so rows written by other processes
(the nightly scorer's late scores, a second router) show up within a second; the router's own store
handle only sees its own writes. Frames are cached for ``FRAMES_TTL`` seconds, so the page's
concurrent panel requests read the tables once.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from academy.config import AcademyConfig
from academy.dashboard import panels
from academy.evolution.layout import NightLayout
from academy.store import TrafficStore, sql_str

FRAMES_TTL = 5.0  # seconds a loaded set of frames serves further panel requests
REGISTRY_TIMEOUT = 20.0  # seconds a registry read may take before its panel says "unreachable"
REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_RESULTS = Path("bench/results/distill/results.json")  # relative to the repository root
DISTILL_BENCH_KIND = "distill-bench"
PARENT_RUN_TAG = "mlflow.parentRunId"

_registry_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dashboard-registry")


@dataclass(frozen=True)
class Frames:
    queries: pd.DataFrame
    answers: pd.DataFrame
    scores: pd.DataFrame


class Sources:
    def __init__(self, config: AcademyConfig, results_path: Path | None = None) -> None:
        self.config = config
        self.results_path = results_path or REPO_ROOT / BENCH_RESULTS
        self._store: TrafficStore | None = None
        self._registry: Any = None
        self._lock = threading.Lock()
        self._frames: dict[str | None, tuple[float, Frames]] = {}

    # ---- traffic ----------------------------------------------------------------------------------

    @property
    def store(self) -> TrafficStore:
        if self._store is None:
            self._store = TrafficStore(
                self.config.paths.store, self.config.store, read_consistency_interval=timedelta(seconds=1)
            )
        return self._store

    def frames(self, tenant: str | None = None) -> Frames:
        """Queries, answers and late scores (only the columns the panels use), cached briefly."""
        with self._lock:
            cached = self._frames.get(tenant)
            if cached is not None and time.monotonic() - cached[0] < FRAMES_TTL:
                return cached[1]
            frames = load_frames(self.store, tenant)
            self._frames[tenant] = (time.monotonic(), frames)
            return frames

    # ---- registry ---------------------------------------------------------------------------------

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from registry.model_registry import ModelRegistry

            self._registry = ModelRegistry.from_config(self.config)
        return self._registry

    def registry_panel(self) -> dict[str, Any]:
        return self._bounded("registry", "Promotions and roles", lambda: panels.registry_panel(self.registry))

    def peer_panel(self) -> dict[str, Any]:
        return self._bounded("peer", "Peer learning", self._peer)

    def _bounded(self, name: str, title: str, build: Any) -> dict[str, Any]:
        """Run a registry read on a worker thread; past ``REGISTRY_TIMEOUT`` the panel says so."""
        future = _registry_pool.submit(build)
        try:
            return future.result(timeout=REGISTRY_TIMEOUT)
        except FutureTimeout:
            return panels.unavailable(
                name, title, f"registry unreachable: no answer within {REGISTRY_TIMEOUT:.0f} s"
            )
        except Exception as exc:  # never break the page
            return panels.unavailable(name, title, f"could not read: {type(exc).__name__}: {exc}")

    def _peer(self) -> dict[str, Any]:
        try:
            found = distill_bench_runs(self.registry)
        except Exception as exc:  # the committed results still tell the story
            result = results_peer_panel(self.results_path)
            result["notes"].append(f"MLflow runs not read (registry unreachable: {exc}).")
            return result
        if found is not None:
            parent, children = found
            started = datetime.fromtimestamp((parent.info.start_time or 0) / 1000, UTC)
            source = (
                f"MLflow run {parent.info.run_id} ({DISTILL_BENCH_KIND}, started "
                f"{started:%Y-%m-%d %H:%M} UTC) at {self.registry.tracking_uri}"
            )
            return panels.peer_panel(panels.peer_variants_from_runs(children), source)
        return results_peer_panel(self.results_path)

    # ---- files ------------------------------------------------------------------------------------

    def gaps_panel(self) -> dict[str, Any]:
        return panels.gaps_panel(NightLayout.of(self.config).gaps)

    def clusters(self) -> pd.Series | None:
        """The newest gap clusters (query id -> cluster), or None before the first ``mine_gaps``."""
        from academy.evolution.gaps import CLUSTERS_FILE

        path = NightLayout.of(self.config).gaps / CLUSTERS_FILE
        if not path.is_file():
            return None
        import pyarrow.parquet as pq

        frame = pq.read_table(path).to_pandas()
        return pd.Series(frame["cluster"].to_numpy(), index=frame["query_id"].astype(str).to_numpy())


def load_frames(store: TrafficStore, tenant: str | None) -> Frames:
    queries = store.queries_frame(tenant, columns=panels.QUERY_COLUMNS)
    if (queries["route"] == panels.CACHE).any():  # cache hits: no answer rows, tokens from the texts
        where = f"route = {sql_str(panels.CACHE)}"
        if tenant is not None:
            where += f" AND tenant = {sql_str(tenant)}"
        texts = (
            (store.queries_table.search().where(where).select(["id", "text", "final_answer"]).limit(None))
            .to_arrow()
            .to_pandas()
        )
        queries = queries.merge(texts, on="id", how="left")
    return Frames(
        queries,
        store.answers_frame(tenant, columns=panels.ANSWER_COLUMNS),
        store.scores_frame(tenant, columns=panels.SCORE_COLUMNS),
    )


def distill_bench_runs(registry: Any) -> tuple[Any, list[Any]] | None:
    """The newest ``academy bench distill`` parent run with its per-variant child runs, or None
    (no registry yet, no such run)."""
    if not registry.exists():
        return None
    client = registry.client
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    runs = client.search_runs(
        experiments,
        f"tags.`academy.kind` = '{DISTILL_BENCH_KIND}'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    for parent in (r for r in runs if PARENT_RUN_TAG not in r.data.tags):
        children = [r for r in runs if r.data.tags.get(PARENT_RUN_TAG) == parent.info.run_id]
        if children:
            return parent, children
    return None


def results_peer_panel(path: Path) -> dict[str, Any]:
    """The peer panel from the committed benchmark results file."""
    shown = str(BENCH_RESULTS) if path == REPO_ROOT / BENCH_RESULTS else str(path)
    if not path.is_file():
        return panels.unavailable(
            "peer", "Peer learning", f"no distillation benchmark: neither MLflow runs nor {shown}"
        )
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return panels.unavailable("peer", "Peer learning", f"{shown} is unreadable: {exc}")
    return panels.peer_panel(panels.peer_variants_from_results(results), f"{shown} (committed benchmark)")
