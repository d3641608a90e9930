"""The root config model ``AcademyConfig`` (every section, the cross-section checks, the ``cluster``
profile applied over the embedded defaults) and ``load_config``, which reads it from one YAML file
with dotted-key overrides."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from academy.config.base import DEFAULT_CONFIG_FILE, Section
from academy.config.deployment import DEFAULT_WORK_POOL, ClusterConfig, RegistryConfig
from academy.config.evolution import EvolutionConfig, ExecutionConfig
from academy.config.experiments import DemoConfig, DistillBenchConfig, ReplayConfig
from academy.config.gateway import GatewayConfig
from academy.config.serving import (
    DelegationConfig,
    EmbedderConfig,
    JudgeConfig,
    ModelConfig,
    PathsConfig,
    RouterConfig,
    SchoolConfig,
    ServerConfig,
    StoreConfig,
    StudentConfig,
)


class AcademyConfig(Section):
    # ``embedded``: everything in ``paths.home`` (SQLite MLflow, LanceDB folder, a local or ephemeral
    # Prefect). ``cluster``: the ``cluster`` section's servers replace them wherever they are read.
    profile: Literal["embedded", "cluster"] = "embedded"
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    models: list[ModelConfig] = Field(default_factory=list)
    router: RouterConfig = Field(default_factory=RouterConfig)
    delegation: DelegationConfig = Field(default_factory=DelegationConfig)
    school: SchoolConfig = Field(default_factory=SchoolConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    demo: DemoConfig = Field(default_factory=DemoConfig)
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    distill_bench: DistillBenchConfig = Field(default_factory=DistillBenchConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    evolution: EvolutionConfig = Field(default_factory=EvolutionConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    @model_validator(mode="after")
    def _models_are_sane(self) -> AcademyConfig:
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError(f"model names must be unique, got {names}")
        if self.models and not any(m.role == "teacher" for m in self.models):
            raise ValueError("at least one model needs role 'teacher' (the router's fallback)")
        for model, chain in self.router.fallbacks.items():
            unknown = [m for m in [model, *chain] if m not in names]
            if self.models and unknown:
                raise ValueError(f"router.fallbacks.{model}: unknown models {unknown} (have {names})")
        for tier, limits in self.gateway.tiers.items():
            unknown = [m for m in limits.models if m not in names]
            if self.models and unknown:
                raise ValueError(f"gateway.tiers.{tier}.models: unknown models {unknown} (have {names})")
        return self

    @model_validator(mode="after")
    def _apply_profile(self) -> AcademyConfig:
        """Copy the cluster's locations over the embedded ones, so every reader (registry, store,
        router, flows, scripts) follows the profile without knowing about it."""
        if self.profile != "cluster":
            return self
        missing = self.cluster.missing()
        if missing:
            raise ValueError(
                f"profile 'cluster' needs {', '.join(missing)} (see docs/operations.md 'Scaling out')"
            )
        if not re.match(
            r"^(https?|postgresql(\+\w+)?|mysql(\+\w+)?|databricks)://", self.cluster.mlflow_tracking_uri
        ):
            raise ValueError(
                "cluster.mlflow_tracking_uri must name a tracking server (http://host:5000) or a "
                f"database (postgresql://...), got {self.cluster.mlflow_tracking_uri!r}"
            )
        if not re.match(r"^https?://", self.cluster.prefect_api_url):
            raise ValueError(
                f"cluster.prefect_api_url must be an http(s) URL ending in /api, got {self.cluster.prefect_api_url!r}"
            )
        self.registry.tracking_uri = self.cluster.mlflow_tracking_uri
        if self.cluster.mlflow_artifact_location:
            self.registry.artifact_location = self.cluster.mlflow_artifact_location
        self.paths.store_uri = self.cluster.lancedb_uri
        return self

    @property
    def prefect_api_url(self) -> str:
        """The Prefect API flows and workers talk to: the cluster's, or "" (the local or ephemeral one)."""
        return self.cluster.prefect_api_url if self.profile == "cluster" else ""

    @property
    def work_pool(self) -> str:
        """The work pool deployments and workers use."""
        return self.cluster.work_pool if self.profile == "cluster" else DEFAULT_WORK_POOL

    @property
    def teacher(self) -> ModelConfig:
        """The first teacher: the fallback when no cheaper model is good enough."""
        return next(m for m in self.models if m.role == "teacher")

    def model(self, name: str) -> ModelConfig:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model named {name!r} in config (have {[m.name for m in self.models]})")


class ConfigError(ValueError):
    """The config file is missing or invalid; the message says where."""


# Keys that changed name (one name per concept: docs/architecture.md "Names"): a config that still
# uses the old name gets told the new one instead of a bare "extra inputs are not permitted".
RENAMED_KEYS = {
    "evolution.router_model": "evolution.learned_router",
    "evolution.dataset.replay_fraction": "evolution.dataset.retention_fraction",
}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> AcademyConfig:
    """Load the YAML config (``ACADEMY_CONFIG`` or ./academy.yaml) and apply dotted-key overrides."""
    path = Path(path or os.environ.get("ACADEMY_CONFIG", DEFAULT_CONFIG_FILE))
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    elif path.name != DEFAULT_CONFIG_FILE or "ACADEMY_CONFIG" in os.environ:
        raise ConfigError(f"config file {path} not found")
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    renamed = [f"{old} is now {new}" for old, new in RENAMED_KEYS.items() if _has_dotted(data, old)]
    if renamed:
        raise ConfigError(f"{path}: renamed keys: {'; '.join(renamed)}")
    try:
        return AcademyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _has_dotted(data: dict[str, Any], dotted: str) -> bool:
    node: Any = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['a']['b'] = value`` for ``dotted='a.b'``, creating sections on the way."""
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
