"""The one typed config of Academy, loaded from one YAML file.

Every component takes the section it needs (``cfg.router``, ``cfg.store`` ...) so DVC stages and
tests can build a component from its own keys only. CLI flags override values with ``override``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CONFIG_FILE = "academy.yaml"
Role = Literal["teacher", "ta", "student"]


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class PathsConfig(Section):
    home: Path = Path(".academy")

    def resolve(self, path: str | Path) -> Path:
        """A path relative to ``home`` (absolute paths are kept)."""
        path = Path(path)
        return path if path.is_absolute() else self.home / path

    @property
    def store(self) -> Path:
        return self.home / "lancedb"


class EmbedderConfig(Section):
    batch_size: int = Field(64, ge=1)
    max_wait_ms: float = Field(2.0, ge=0)
    threads: int = Field(1, ge=1)
    quantize: bool = True


class StoreConfig(Section):
    index_min_rows: int = Field(2000, ge=256)
    index_type: Literal["ivf_pq", "ivf_hnsw_sq"] = "ivf_pq"
    nprobes: int = Field(5, ge=1)
    refine_factor: int = Field(4, ge=1)
    reindex_every_rows: int = Field(5000, ge=1)
    maintenance_every: int = Field(200, ge=1)


class JudgeConfig(Section):
    name: str = "reference"
    cost_per_call: float = Field(0.0002, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(Section):
    name: str = Field(min_length=1)
    backend: str
    role: Role = "student"
    price_in: float = Field(ge=0, description="USD per 1M input tokens")
    price_out: float = Field(ge=0, description="USD per 1M output tokens")
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def blended_price(self) -> float:
        """Mean of input and output price: the single number the router trades quality against."""
        return (self.price_in + self.price_out) / 2


class RouterConfig(Section):
    name: str = "academy"
    novel_similarity: float = Field(0.7, ge=-1, le=1)
    neighbours: int = Field(8, ge=1)
    price_weight: float = Field(0.3, ge=0)
    quality_floor: float = Field(0.7, ge=0, le=1)
    min_evidence: float = Field(1.0, ge=0)
    shadow_rate: float = Field(0.1, ge=0, le=1)
    explore_rate: float = Field(0.05, ge=0, le=1)
    max_concurrency: int = Field(8, ge=1)
    seed: int = 0


class SchoolConfig(Section):
    seed: int = 0
    domains: list[str] = Field(
        default_factory=lambda: ["arithmetic", "units", "reverse", "capitals", "sorting", "compare"]
    )


class StudentConfig(Section):
    hidden_size: int = Field(128, ge=8)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    intermediate_size: int = Field(512, ge=8)
    vocab_size: int = Field(600, ge=64)
    max_length: int = Field(96, ge=16)
    warm_start_steps: int = Field(300, ge=0)
    warm_start_examples: int = Field(3000, ge=0)
    learning_rate: float = Field(2e-3, gt=0)
    batch_size: int = Field(64, ge=1)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    default_tenant: str = "default"


class DemoConfig(Section):
    queries: int = Field(300, ge=1)
    tenant: str = "demo"


class AcademyConfig(Section):
    paths: PathsConfig = Field(default_factory=PathsConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    models: list[ModelConfig] = Field(default_factory=list)
    router: RouterConfig = Field(default_factory=RouterConfig)
    school: SchoolConfig = Field(default_factory=SchoolConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    demo: DemoConfig = Field(default_factory=DemoConfig)

    @model_validator(mode="after")
    def _models_are_sane(self) -> AcademyConfig:
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError(f"model names must be unique, got {names}")
        if self.models and not any(m.role == "teacher" for m in self.models):
            raise ValueError("at least one model needs role 'teacher' (the router's fallback)")
        return self

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
    try:
        return AcademyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['a']['b'] = value`` for ``dotted='a.b'``, creating sections on the way."""
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
