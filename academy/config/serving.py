"""Config sections of the online path: where files live, the embedder, the traffic store, judges
and delegation, the models, the router, the school, the student's shape and the HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from academy.config.base import Role, Section


class PathsConfig(Section):
    home: Path = Path(".academy")
    data: Path = Path("datasets")  # snapshots, gap reports and distillation datasets (DVC outputs)
    # Where the LanceDB traffic store lives: empty = ``home/lancedb``; a path or an object-store URI
    # (``s3://bucket/academy``). The ``cluster`` profile sets it from ``cluster.lancedb_uri``.
    store_uri: str = ""

    def resolve(self, path: str | Path) -> Path:
        """A path relative to ``home`` (absolute paths are kept)."""
        path = Path(path)
        return path if path.is_absolute() else self.home / path

    @property
    def store(self) -> str | Path:
        """The traffic store's location: a local path, or a URI kept as a string (``Path`` would turn
        ``s3://b`` into ``s3:/b``)."""
        if not self.store_uri:
            return self.home / "lancedb"
        return self.store_uri if is_uri(self.store_uri) else Path(self.store_uri)


def is_uri(location: str) -> bool:
    """``scheme://...`` (``s3://``, ``gs://``, ``az://``, ``file://``...) rather than a local path."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.isalnum() and len(scheme) > 1


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
    keep_versions_minutes: float = Field(
        1.0, gt=0
    )  # table versions older than this are deleted on compaction
    # Traffic logging goes through a write-ahead file (home/wal/): a request is acknowledged only
    # once its rows are in it, and a background writer stores them in LanceDB in batches.
    wal: bool = True
    wal_fsync: bool = False  # fsync each append: survives a power cut, not only a crash (slower)
    log_batch: int = Field(256, ge=1)  # most requests stored in one LanceDB write
    log_interval_ms: float = Field(50.0, ge=0)  # how long the writer waits to fill a batch


class JudgeConfig(Section):
    name: str = "reference"
    cost_per_call: float = Field(0.0002, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)


class CandidateJudgeConfig(JudgeConfig):
    """A cheap judge (academy/judges/cheap.py): free unless said otherwise."""

    cost_per_call: float = Field(0.0, ge=0)


class DelegationConfig(Section):
    """Reduce the supervisor's role (academy/judges/delegation.py): per neighbourhood of queries, a
    cheaper judge that agrees with the supervisor judges instead, audited, and loses the job when
    agreement drops. The nightly ``update_delegation`` step decides; the router and scorer obey."""

    enabled: bool = True
    registry_name: str = "academy-delegation"
    # Tried in this order; the first that clears the bar in a neighbourhood gets it (cheapest first).
    candidates: list[CandidateJudgeConfig] = Field(
        default_factory=lambda: [CandidateJudgeConfig(name="ensemble"), CandidateJudgeConfig(name="verifier")]
    )
    accept_threshold: float = Field(0.5, gt=0, lt=1)  # a score at or above it accepts the answer
    grant_agreement: float = Field(0.95, gt=0, le=1)  # accept/reject agreement needed to delegate ...
    revoke_agreement: float = Field(0.9, gt=0, le=1)  # ... and below which a delegation is revoked
    min_samples: int = Field(30, ge=1)  # paired judgements (supervisor + candidate) in the window
    window: int = Field(200, ge=1)  # newest paired judgements per neighbourhood that count
    audit_rate: float = Field(0.1, ge=0, le=1)  # delegated judgements still sent to the supervisor
    holdout_fraction: float = Field(0.2, gt=0, lt=1)  # newest pairs held out for the version's gate
    l2: float = Field(1.0, gt=0)  # the verifier's ridge strength
    seed: int = 0

    @model_validator(mode="after")
    def _thresholds(self) -> DelegationConfig:
        if self.revoke_agreement > self.grant_agreement:
            raise ValueError("revoke_agreement must not exceed grant_agreement (hysteresis)")
        return self


class ModelConfig(Section):
    name: str = Field(min_length=1)
    backend: str
    role: Role = "student"
    price_in: float = Field(ge=0, description="USD per 1M input tokens")
    price_out: float = Field(ge=0, description="USD per 1M output tokens")
    options: dict[str, Any] = Field(default_factory=dict)
    # Back-pressure: at most max_concurrency calls run at once, max_queue more wait; beyond that the
    # call is refused at once (503 + Retry-After if nothing else can answer), never queued unboundedly.
    max_concurrency: int = Field(32, ge=1)
    max_queue: int = Field(256, ge=0)
    timeout_s: float = Field(30.0, gt=0)  # one call longer than this fails (and falls back)

    @property
    def blended_price(self) -> float:
        """Mean of input and output price: the single number the router trades quality against."""
        return (self.price_in + self.price_out) / 2


class LearnedRouterConfig(Section):
    """The learned quality model (academy/routing/learned_router.py), trained nightly on judged traffic
    and served from the registry's ``@production`` version of ``registry_name``."""

    enabled: bool = True
    registry_name: str = "academy-router"
    # Its prediction counts as this many judged neighbours at similarity 1 in a model's estimate:
    # the kNN evidence refines it locally, and where there is none it decides alone.
    prior_weight: float = Field(2.0, ge=0)
    # With a learned model, a query without a close neighbour is still fanned out (and every answer
    # judged) at this rate; the others are routed on the learned estimate. 1 = every novel query fans
    # out (template-like traffic, the school); dispersed traffic, where almost every query is novel,
    # needs a low rate to cost less than always-teacher (the replay uses 0.05, see docs/benchmarks.md).
    novel_fanout_rate: float = Field(1.0, ge=0, le=1)


class EvidenceConfig(Section):
    """How the router weighs judged answers near a query (academy/routing/evidence.py)."""

    k: int = Field(256, ge=1)  # nearest judged answers of each model considered (recency then weighs them)
    min_similarity: float = Field(0.5, ge=-1, lt=1)  # cosine below which a judged answer says nothing here
    half_life: float = Field(48.0, gt=0)  # a judged answer's weight halves every this many newer ones
    other_version_weight: float = Field(0.5, ge=0, le=1)  # a row earned by another version of the model
    prior_strength: float = Field(2.0, gt=0)  # Beta(s/2, s/2) prior when no learned model predicts
    confidence: float = Field(0.8, gt=0.5, lt=1)  # serve on the (1 - confidence) quantile
    explore_gain: float = Field(1.0, ge=0)  # explore chance = gain x posterior spread x saving ...
    max_explore: float = Field(0.25, ge=0, le=1)  # ... capped here
    # judge only the cheaper answers of a fan-out (the teacher's is the default)
    judge_teacher_in_fanout: bool = False
    # score a cheaper answer by exact match with the teacher's answer to the same query, at no judge cost
    agreement: bool = True
    # chance of shadowing a cheaper model, on a query the teacher serves, where its posterior is
    # confidently below the floor (so a model that improved is found again); 1 where it straddles
    rediscover_rate: float = Field(0.05, ge=0, le=1)
    # Cascade: a model that reports its confidence (hf students) is also estimated on its answers
    # whose confidence clears each of these; where one clears the floor, it answers first and an
    # answer below that threshold is deferred (to the next model of the cascade, then the teacher). [] = no cascade.
    defer_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9])
    # the model's success rate at a confidence over its k nearest judged answers (its region) counts
    # as this many judged answers in each neighbourhood's cascade estimate (its prior)
    calibration_weight: float = Field(8.0, ge=0)
    # ... or this share of the judged confident answers that rate rests on (less those near the query),
    # where that is more and the neighbourhood's own record does not prove the model short: a region
    # whose confident answers are many and right earns a stronger prior (0 = the fixed weight)
    calibration_transfer: float = Field(1.0, ge=0, le=1)
    # models asked in turn while each is unsure, before the teacher: the cascade's cheaper models
    # that clear the floor here, by expected utility with their coverage (1: the first one only)
    cascade_depth: int = Field(3, ge=1)
    # Regions: k-means over the judged answers' query embeddings (re-run as evidence grows). A judged
    # answer in the query's region weighs at least this much (1 = as much as an exact neighbour),
    # whatever its cosine: templated queries of one kind sit at cosine 0.3-0.6 in MiniLM, so the
    # similarity ramp alone left a student right on 132 of 132 confident answers with ~2 answers
    # of evidence near each new query. 0 = similarity only.
    region_weight: float = Field(1.0, ge=0, le=1)
    region_every: int = Field(500, ge=1)  # re-cluster after this many new judged answers ...
    region_sample: int = Field(2000, ge=10)  # ... on the newest this many of them (bounded cost)
    max_regions: int = Field(64, ge=1)  # k = about sqrt(rows / 2), at most this

    @field_validator("defer_thresholds")
    @classmethod
    def _thresholds_are_probabilities(cls, value: list[float]) -> list[float]:
        bad = [t for t in value if not 0 < t < 1]
        if bad:
            raise ValueError(f"defer_thresholds are confidences strictly between 0 and 1, got {bad}")
        return value


class QualityBudgetConfig(Section):
    """The quality budget (academy/routing/budget.py): spend the quality the target leaves."""

    enabled: bool = False
    target: float = Field(0.97, gt=0, le=1)  # expected quality relative to the teacher's
    min_floor: float = Field(0.7, ge=0, le=1)  # the floor while the budget holds tokens
    window: int = Field(250, ge=1)  # the bucket holds at most this many queries' allowance


class RecallConfig(Section):
    """Recall (academy/routing/recall.py): an exact repeat of a logged query is served the answer
    already paid for, when that answer is known to be good: judged at least ``min_score`` by every
    judge that scored it, or (``trust_teacher``) served by the teacher and never judged below it."""

    enabled: bool = True
    min_score: float = Field(0.9, ge=0, le=1)
    trust_teacher: bool = True
    max_age_hours: float | None = Field(None, gt=0)  # None: a good answer stays good (no expiry)
    max_entries: int = Field(200_000, ge=1)  # per tenant, least recently used dropped first


class RouterConfig(Section):
    name: str = "academy"
    # evidence: per-model judged answers near the query (does not dilute); knn: judge scores of the
    # k nearest past queries (the original estimator, kept for comparison)
    estimator: Literal["evidence", "knn"] = "evidence"
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    recall: RecallConfig = Field(default_factory=RecallConfig)
    novel_similarity: float = Field(0.7, ge=-1, le=1)
    neighbours: int = Field(8, ge=1)
    price_weight: float = Field(0.3, ge=0)
    quality_floor: float = Field(0.7, ge=0, le=1)
    budget: QualityBudgetConfig = Field(default_factory=QualityBudgetConfig)
    min_evidence: float = Field(1.0, ge=0)
    shadow_rate: float = Field(0.1, ge=0, le=1)
    explore_rate: float = Field(0.05, ge=0, le=1)
    other_version_weight: float = Field(0.5, ge=0, le=1)  # evidence of a model's other versions, discounted
    judge_rate: float = Field(0.0, ge=0, le=1)  # share of familiar answers judged online (monitoring)
    learned: LearnedRouterConfig = Field(default_factory=LearnedRouterConfig)
    max_concurrency: int = Field(8, ge=1)
    # Model -> models to try, in order, when it errors, times out or is overloaded. A model not
    # listed falls back to the teacher (the teacher to nothing).
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
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
    warm_start_domains: list[str] = Field(default_factory=list)  # empty = every school domain
    learning_rate: float = Field(2e-3, gt=0)
    batch_size: int = Field(64, ge=1)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    default_tenant: str = "default"
    request_timeout_s: float = Field(60.0, gt=0)  # a request not answered by then gets a 504
