"""Config sections saying where the shared services are: the MLflow registry, the ``cluster``
profile's servers (MLflow, LanceDB, Prefect) and the Dask scheduler its flows may use."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from academy.config.base import Section


class RegistryConfig(Section):
    """The MLflow tracking server and model registry. Empty URIs mean the embedded default:
    a SQLite store ``home/mlflow.db`` and artifacts under ``home/mlartifacts``."""

    tracking_uri: str = ""
    artifact_location: str = ""
    experiment: str = "academy-nightly"
    poll_seconds: float = Field(30.0, gt=0)  # how often the router re-reads @production aliases
    serve_from_registry: bool = True  # hf students serve their @production version once one exists

    def resolved_tracking_uri(self, home: Path) -> str:
        return self.tracking_uri or f"sqlite:///{(home / 'mlflow.db').resolve()}"

    def resolved_artifact_location(self, home: Path) -> str:
        """Empty for a tracking server without one: the server's own ``--artifacts-destination``
        then stores them, so every host reads the same artifacts (a local folder would not be shared)."""
        if self.artifact_location:
            return self.artifact_location
        if self.tracking_uri.startswith(("http://", "https://")):
            return ""
        return (home / "mlartifacts").resolve().as_uri()


DEFAULT_WORK_POOL = "academy-process"


class DaskConfig(Section):
    """Where Dask runs the nightly task maps: a running scheduler (``address``), or, when empty, a
    ``LocalCluster`` of ``n_workers`` processes started for the flow run and closed after it."""

    address: str = ""  # e.g. tcp://dask-scheduler:8786
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)  # 1: the steps are torch/numpy-bound, pinned to one thread


class ClusterConfig(Section):
    """The stores and services the ``cluster`` profile uses instead of the embedded defaults.

    Every process (router replicas, Prefect workers, flow runs) reads the same values, so they share
    one MLflow server, one LanceDB location and one Prefect API; see docs/operations.md "Scaling out".
    """

    mlflow_tracking_uri: str = ""  # an MLflow server, e.g. http://mlflow:5000 (its backend: PostgreSQL)
    mlflow_artifact_location: str = ""  # empty = the server's --artifacts-destination (proxied)
    lancedb_uri: str = ""  # a path shared by every process, or object storage: s3://bucket/academy
    prefect_api_url: str = ""  # e.g. http://prefect:4200/api
    work_pool: str = DEFAULT_WORK_POOL  # the pool deployments go to (scripts/stack.sh, prefect deploy)
    task_runner: Literal["sequential", "dask"] = "sequential"
    dask: DaskConfig = Field(default_factory=DaskConfig)

    def missing(self) -> list[str]:
        """The keys the cluster profile cannot run without (empty would silently mean embedded)."""
        required = ("mlflow_tracking_uri", "lancedb_uri", "prefect_api_url")
        return [f"cluster.{key}" for key in required if not getattr(self, key).strip()]
