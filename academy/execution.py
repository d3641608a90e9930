"""Which Prefect task runner the nightly flow fans out on, from the ``execution`` config section.

Why a function and not a decorator argument: the flow is defined once, at import, while the runner
is a deployment choice (a laptop runs sequentially; a cluster profile fans students out over Dask
workers). Callers apply it where the flow starts: ``nightly_evolution.with_options(task_runner=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from academy.config import AcademyConfig

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


def task_runner(cfg: AcademyConfig) -> TaskRunner:
    """``sequential``: a one-thread pool, so mapped tasks run one at a time in submission order
    (Prefect 3's default pool would run them in threads at once, contending for the same cores).
    ``dask``: a local Dask cluster of ``execution.dask_workers`` single-threaded worker processes,
    so students train in parallel without sharing the GIL."""
    execution = cfg.execution
    if execution.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": execution.dask_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            },
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)
