"""The one typed config of Academy, loaded from one YAML file.

Every component takes the section it needs (``cfg.router``, ``cfg.store`` ...) so DVC stages and
tests can build a component from its own keys only. CLI flags override values with ``override``.

The section models live in this package's modules by area (``serving``, ``gateway``, ``evolution``,
``experiments``, ``deployment``), the root model and loader in ``root``; every name is importable
from ``academy.config``. The config is the bottom layer: it imports nothing else from Academy.
"""

from academy.config.base import (
    DEFAULT_CONFIG_FILE,
    SCHOOL_DOMAINS,
    TARGET_ASPECTS,
    TRAIN_SHARE_ENV,
    TRAIN_THREADS_ENV,
    Aspect,
    Role,
    Section,
)
from academy.config.deployment import DEFAULT_WORK_POOL, ClusterConfig, DaskConfig, RegistryConfig
from academy.config.evolution import (
    DatasetConfig,
    DistillConfig,
    EvolutionConfig,
    ExecutionConfig,
    GapsConfig,
    GateConfig,
    LearnedRouterTrainingConfig,
    RolesConfig,
    ScheduleConfig,
    ScoringConfig,
)
from academy.config.experiments import DemoConfig, DistillBenchConfig, QuickDemoConfig, ReplayConfig
from academy.config.gateway import CacheConfig, GatewayConfig, LimitsConfig, TierConfig
from academy.config.root import AcademyConfig, ConfigError, load_config
from academy.config.serving import (
    CandidateJudgeConfig,
    DelegationConfig,
    EmbedderConfig,
    EvidenceConfig,
    JudgeConfig,
    LearnedRouterConfig,
    ModelConfig,
    PathsConfig,
    QualityBudgetConfig,
    RecallConfig,
    RouterConfig,
    SchoolConfig,
    ServerConfig,
    StoreConfig,
    StudentConfig,
    is_uri,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_WORK_POOL",
    "SCHOOL_DOMAINS",
    "TARGET_ASPECTS",
    "TRAIN_SHARE_ENV",
    "TRAIN_THREADS_ENV",
    "AcademyConfig",
    "Aspect",
    "CacheConfig",
    "CandidateJudgeConfig",
    "ClusterConfig",
    "ConfigError",
    "DaskConfig",
    "DatasetConfig",
    "DelegationConfig",
    "DemoConfig",
    "DistillBenchConfig",
    "DistillConfig",
    "EmbedderConfig",
    "EvidenceConfig",
    "EvolutionConfig",
    "ExecutionConfig",
    "GapsConfig",
    "GateConfig",
    "GatewayConfig",
    "JudgeConfig",
    "LearnedRouterConfig",
    "LimitsConfig",
    "ModelConfig",
    "PathsConfig",
    "QuickDemoConfig",
    "RegistryConfig",
    "ReplayConfig",
    "Role",
    "RolesConfig",
    "QualityBudgetConfig",
    "RecallConfig",
    "RouterConfig",
    "LearnedRouterTrainingConfig",
    "ScheduleConfig",
    "SchoolConfig",
    "ScoringConfig",
    "Section",
    "ServerConfig",
    "StoreConfig",
    "StudentConfig",
    "TierConfig",
    "is_uri",
    "load_config",
]
