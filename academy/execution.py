"""Where the nightly flow's tasks run: the one place that turns the config into a Prefect task runner.

Flows call :func:`task_runner` instead of naming a runner, so switching a night from sequential to
a Dask cluster is a config change (``cluster.task_runner``), not a code change. Guarantees:

* Nothing starts at import time: a Dask ``LocalCluster`` is created only when a flow enters the
  runner, and ``prefect_dask`` is imported only when a Dask runner is asked for.
* Every flow run gets a fresh runner; ``sequential`` runs its tasks one after another, in order, in
  the flow's own process.
* Local Dask workers share this machine's cores instead of each taking all of them, keep glibc's
  dynamic mmap threshold, and report to the flow's Prefect API.

Also here: the effective settings a config resolves to (``academy config show``) and the
environment a flow, worker or deployment needs to reach the profile's Prefect API.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from academy.config import TRAIN_SHARE_ENV, AcademyConfig, DaskConfig

T = TypeVar("T")
RUNNERS = ("sequential", "dask")
# The step flows' default runner when run alone: their maps run one task at a time, in order.
SEQUENTIAL = ThreadPoolTaskRunner(max_workers=1)


class PhaseClock:
    """Wall seconds per phase of a flow run: where a night's time goes, sequential or fanned out."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, phase: str, step: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return step(*args)
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - started, 1)


def runner_name(cfg: AcademyConfig) -> str:
    """``sequential`` or ``dask``: the cluster profile's choice; otherwise an ``execution`` section's
    (if this config has one), else sequential, the embedded default."""
    if cfg.profile == "cluster":
        return cfg.cluster.task_runner
    execution = getattr(cfg, "execution", None)
    name = getattr(execution, "task_runner", "sequential") if execution is not None else "sequential"
    if name not in RUNNERS:
        raise ValueError(f"task runner {name!r} is not one of {', '.join(RUNNERS)}")
    return name


def dask_settings(cfg: AcademyConfig) -> DaskConfig:
    """The cluster profile's Dask settings; an ``execution.dask_workers`` fallback for embedded."""
    if cfg.profile == "cluster":
        return cfg.cluster.dask
    workers = getattr(getattr(cfg, "execution", None), "dask_workers", None)
    return DaskConfig(n_workers=workers) if workers else DaskConfig()


def task_runner(cfg: AcademyConfig) -> TaskRunner:
    """A fresh Prefect task runner for one flow run.

    ``sequential`` is a one-thread pool: submitted and mapped tasks run one after another, in order,
    in the flow's process. ``dask`` is ``prefect_dask``'s runner, on the scheduler at
    ``dask.address`` or on a LocalCluster of ``dask.n_workers`` processes.
    """
    if runner_name(cfg) == "sequential":
        return SEQUENTIAL.duplicate()
    return _dask_runner(dask_settings(cfg))


def _dask_runner(dask: DaskConfig) -> TaskRunner:
    """Imported lazily: prefect-dask pulls in distributed, which the sequential path never needs."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:  # pragma: no cover - prefect-dask is a pinned dependency
        raise RuntimeError("task runner 'dask' needs prefect-dask (pip install -e .)") from exc
    if dask.address:
        return DaskTaskRunner(address=dask.address)
    keep_dynamic_malloc()
    kwargs: dict[str, Any] = {
        "n_workers": dask.n_workers,
        "threads_per_worker": dask.threads_per_worker,
        "processes": True,  # the GIL: torch/numpy steps scale across processes, not threads
        "dashboard_address": None,  # no web port opened per night
        "env": flow_api_env() | worker_thread_env(dask.n_workers),
    }
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=kwargs)


def keep_dynamic_malloc() -> None:
    """Local Dask workers start without ``MALLOC_TRIM_THRESHOLD_``.

    Dask's nanny sets it to 65536 in every worker it spawns. Any explicit value turns off glibc's
    dynamic mmap threshold, so every large tensor of a training step is mmapped and unmapped again,
    which roughly halves training speed (docs/design-notes.md, "Local Dask workers";
    ``python -m bench.step_scaling``). Process-wide on purpose: the runner starts its LocalCluster
    later, inside the flow run. A value set in the shell is kept.
    """
    import dask

    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})


def worker_thread_env(n_workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment that splits this machine's cores between ``n_workers`` local workers.

    Training registers in one directory per machine (``ACADEMY_TRAIN_SHARE``, ``models.threads``)
    and takes ``cores // trainers`` threads, re-counted as trainers finish; everything else runs
    on ``cores // n_workers`` threads, the Rust tokenizers on one. Otherwise every worker would
    take every core and concurrent training steps would slow each other down
    (docs/design-notes.md, "Local Dask workers"; ``python -m bench.sft_pair``).
    """
    per_worker = max(1, (cores or os.cpu_count() or 1) // max(1, n_workers))
    return {
        TRAIN_SHARE_ENV: str(Path(tempfile.gettempdir()) / f"academy-trainers-{os.getuid()}"),
        "OMP_NUM_THREADS": str(per_worker),
        "TOKENIZERS_PARALLELISM": "false",
    }


def flow_api_env() -> dict[str, str]:
    """``PREFECT_API_URL`` of the running flow's API, for the local Dask workers it starts ({}
    outside a flow run). An ephemeral API, or one set by a settings context (a test harness), is
    not in the environment the workers inherit: each worker would start a temporary Prefect
    server of its own (seconds of start-up, one SQLite file contended with the flow's) and the
    flow's UI would never see the workers' task runs."""
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return {}
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {"PREFECT_API_URL": str(client.api_url).rstrip("/")}


def prefect_env(cfg: AcademyConfig) -> dict[str, str]:
    """Environment a flow, worker or deploy needs to reach the profile's Prefect API ({} = embedded:
    whatever PREFECT_API_URL the caller already has, or an ephemeral API)."""
    return {"PREFECT_API_URL": cfg.prefect_api_url} if cfg.prefect_api_url else {}


def effective_settings(cfg: AcademyConfig) -> dict[str, str]:
    """What this config actually uses after the profile is applied (``academy config show``)."""
    home = cfg.paths.home
    dask = dask_settings(cfg)
    runner = runner_name(cfg)
    where = dask.address or f"LocalCluster({dask.n_workers} workers x {dask.threads_per_worker} thread)"
    return {
        "profile": cfg.profile,
        "mlflow tracking uri": cfg.registry.resolved_tracking_uri(home),
        "mlflow artifacts": cfg.registry.resolved_artifact_location(home) or "(the tracking server's)",
        "lancedb uri": str(cfg.paths.store),
        "prefect api url": cfg.prefect_api_url or "(PREFECT_API_URL of the caller, else ephemeral)",
        "work pool": cfg.work_pool,
        "task runner": runner + (f" on {where}" if runner == "dask" else ""),
    }
