"""The one typed config of Academy, loaded from one YAML file.

Every component takes the section it needs (``cfg.router``, ``cfg.store`` ...) so DVC stages and
tests can build a component from its own keys only. CLI flags override values with ``override``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from academy.school import DOMAINS as DOMAIN_NAMES

DEFAULT_CONFIG_FILE = "academy.yaml"
# How concurrent training processes on one machine split its cores (``models.threads``): a fixed
# thread count, or a directory where trainers register and share the cores (local Dask workers).
TRAIN_THREADS_ENV = "ACADEMY_TRAIN_THREADS"
TRAIN_SHARE_ENV = "ACADEMY_TRAIN_SHARE"
Role = Literal["teacher", "ta", "student"]
# What a candidate learns from (``DistillConfig.aspects``): the winning answer, the winner's worked
# reasoning then the answer, the judge's confidence as example weights, a promoted peer's logits.
Aspect = Literal["response", "reasoning", "metrics", "peer"]
TARGET_ASPECTS = ("response", "reasoning")


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


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
    """The learned quality model (academy/routing/quality_model.py), trained nightly on judged traffic
    and served from the registry's ``@production`` version of ``registry_name``."""

    enabled: bool = True
    registry_name: str = "academy-router"
    # Its prediction counts as this many judged neighbours at similarity 1 in a model's estimate:
    # the kNN evidence refines it locally, and where there is none it decides alone.
    prior_weight: float = Field(2.0, ge=0)
    # With a learned model, a query without a close neighbour is still fanned out (and every answer
    # judged) at this rate; the others are routed on the learned estimate. 1 = every novel query fans
    # out (template-like traffic, the school); dispersed traffic, where almost every query is novel,
    # needs a low rate to cost less than always-teacher (the replay uses 0.05, see README).
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


class RouterConfig(Section):
    name: str = "academy"
    # evidence: per-model judged answers near the query (does not dilute); knn: judge scores of the
    # k nearest past queries (the original estimator, kept for comparison)
    estimator: Literal["evidence", "knn"] = "evidence"
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    novel_similarity: float = Field(0.7, ge=-1, le=1)
    neighbours: int = Field(8, ge=1)
    price_weight: float = Field(0.3, ge=0)
    quality_floor: float = Field(0.7, ge=0, le=1)
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


class TierConfig(Section):
    """What a tenant on this tier may do. 0 = unlimited; ``models`` empty = every active model."""

    requests_per_minute: float = Field(0, ge=0)
    burst: int = Field(0, ge=0)  # token-bucket size; 0 = one second's worth of requests (at least 1)
    tokens_per_day: int = Field(0, ge=0)
    monthly_budget_usd: float = Field(0.0, ge=0)
    models: list[str] = Field(default_factory=list)
    cache_exact: bool = True
    cache_semantic: bool = True


class CacheConfig(Section):
    """Response caches, per tenant: exact (same normalised text) and semantic (cosine >= similarity)."""

    ttl_seconds: float = Field(3600.0, gt=0)
    similarity: float = Field(0.97, gt=0, le=1)
    max_entries: int = Field(10_000, ge=1)  # per tenant, least recently used dropped first


class LimitsConfig(Section):
    """Bad-input limits: a request over any of them gets a 4xx saying which."""

    max_body_bytes: int = Field(256_000, ge=1024)
    max_messages: int = Field(128, ge=1)
    max_query_chars: int = Field(8000, ge=1)
    max_tokens: int = Field(4096, ge=1)  # the largest max_tokens a request may ask for


class GatewayConfig(Section):
    """Tenants, keys, quotas, caching and limits (academy/gateway/).

    ``auth``: ``auto`` requires an API key once any key was created (a fresh install is open, and every
    request goes to ``server.default_tenant`` or the ``X-Academy-Tenant`` header); ``required``
    always; ``off`` never (admin endpoints always need an admin key).
    """

    auth: Literal["auto", "required", "off"] = "auto"
    default_tier: str = "standard"
    tiers: dict[str, TierConfig] = Field(default_factory=lambda: {"standard": TierConfig()})
    cache: CacheConfig = Field(default_factory=CacheConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @model_validator(mode="after")
    def _default_tier_exists(self) -> GatewayConfig:
        if self.default_tier not in self.tiers:
            raise ValueError(
                f"gateway.default_tier {self.default_tier!r} is not in tiers {sorted(self.tiers)}"
            )
        return self


class QuickDemoConfig(Section):
    """``academy demo --quick``: the same week, shrunk to a smoke run (these keys replace the demo's)."""

    days: int = Field(2, ge=1)
    queries_per_day: int = Field(100, ge=1)
    night_steps: int = Field(40, ge=1)
    warm_start_steps: int = Field(40, ge=0)
    new_domain_day: int = Field(2, ge=1)
    drift_day: int = Field(2, ge=1)


class DemoConfig(Section):
    """The simulated week (``academy demo``): traffic plan, training budget per night, prices."""

    days: int = Field(7, ge=1)
    queries_per_day: int = Field(300, ge=1)
    tenant: str = "demo"
    seed: int = 0
    # Domain -> weight of the day's traffic; new_domain ("" = none) only from new_domain_day on.
    mix: dict[str, float] = Field(
        default_factory=lambda: {
            d: 1.0 for d in ("arithmetic", "units", "reverse", "capitals", "sorting", "compare")
        }
    )
    new_domain: str = ""
    new_domain_day: int = Field(4, ge=1)
    # From drift_day on, drift_domain ("" = none) is phrased only with templates its traffic never used.
    drift_domain: str = ""
    drift_day: int = Field(5, ge=1)
    night_steps: int = Field(150, ge=1)  # evolution.distill.steps during the demo's nights
    warm_start_steps: int = Field(1000, ge=0)  # the day-0 student's warm start
    warm_start_examples: int = Field(3000, ge=0)
    cpu_hour_price: float = Field(0.045, ge=0)  # USD per CPU-hour of measured CPU time (an on-demand vCPU)
    quick: QuickDemoConfig = Field(default_factory=QuickDemoConfig)

    @model_validator(mode="after")
    def _known_domains(self) -> DemoConfig:
        for name in [*self.mix, *filter(None, [self.new_domain, self.drift_domain])]:
            if name not in DOMAIN_NAMES:
                raise ValueError(f"demo: unknown domain {name!r}; valid domains: {', '.join(DOMAIN_NAMES)}")
        if self.new_domain and self.new_domain not in self.mix:
            raise ValueError(f"demo.new_domain {self.new_domain!r} needs a weight in demo.mix")
        return self


class ReplayConfig(Section):
    """``academy bench replay``: real LLM outcome data streamed through the router (bench/replay.py)."""

    data_dir: Path = Path("../shared/data")
    out: Path = Path("bench/results/replay")  # report.md, one PNG per set, results.json
    sets: list[str] = Field(default_factory=lambda: ["mmlu", "gsm8k", "mt_bench", "routerbench", "llmrouter"])
    seed: int = 0  # stream order and every sampled decision
    # The curve: one online run per router.price_weight (lambda); 0 = best quality, large = cheapest.
    price_weights: list[float] = Field(
        default_factory=lambda: [0.0, 0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]
    )
    judge_cost_ratio: float = Field(0.01, ge=0)  # one judge call costs this x the strong model's mean call
    warmup_queries: int = Field(100, ge=1)  # the first learned model is trained after this many queries
    # ... then whenever the stream grew by retrain_growth x, at most retrain_every queries apart (the
    # stream's "nights": frequent while little is known, then a steady rhythm).
    retrain_growth: float = Field(1.5, gt=1)
    retrain_every: int = Field(2000, ge=1)
    concurrency: int = Field(8, ge=1)  # requests routed at once (they do not see each other's outcomes)
    # Router settings for the replay (the rest is the server's router section, quality_floor 0).
    shadow_rate: float = Field(0.0, ge=0, le=1)
    explore_rate: float = Field(0.02, ge=0, le=1)
    judge_rate: float = Field(0.1, ge=0, le=1)
    # The learned router on dispersed traffic (MMLU's median nearest-neighbour similarity is 0.55, so
    # nearly every query is "novel"): a sampled 5% fans out, the rest follow the learned estimate,
    # which outweighs k=8 noisy neighbours (chosen on GSM8K, seed 0; see README).
    novel_fanout_rate: float = Field(0.05, ge=0, le=1)
    learned_prior_weight: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _weights(self) -> ReplayConfig:
        if not self.price_weights or any(w < 0 for w in self.price_weights):
            raise ValueError("replay.price_weights must be a non-empty list of numbers >= 0")
        return self


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


class ScoringConfig(Section):
    batch_size: int = Field(64, ge=1)  # answers per judge call batch in the nightly scorer
    clusters: int = Field(0, ge=0)  # k for k-means over traffic embeddings; 0 = about sqrt(queries / 2)
    max_clusters: int = Field(64, ge=1)
    # Share of answers served unjudged that the nightly scorer sends to the judge (sampled
    # monitoring: each judgement costs judge.cost_per_call). Drawn per answer id, so stable.
    sample_rate: float = Field(1.0, ge=0, le=1)
    seed: int = 0
    # The nightly flow judges the unscored answers as this many tasks (whole queries each), in
    # parallel on a Dask task runner; the CLI's ``evolve score`` judges them in one process.
    shards: int = Field(4, ge=1)


class GapsConfig(Section):
    quality_gate: float = Field(0.9, ge=0, le=1)  # a cluster whose best student scores below this is a gap
    min_queries: int = Field(20, ge=1)  # smaller clusters are noise, not gaps
    min_student_evidence: int = Field(
        3, ge=0
    )  # judged student answers needed to say a student covers a cluster
    max_gaps: int = Field(32, ge=1)  # gaps selected per night (training cost is per student, not per gap)
    # Each night with no uncovered gap, the generalist's top-savings gap and its nearby gaps (centroid
    # cosine >= specialist_similarity) go to a new specialist student (academy/evolution/specialists.py).
    specialise: bool = True
    specialist_similarity: float = Field(0.6, ge=-1, le=1)
    # A spawned student starts from the configured generalist's production weights, or from scratch.
    spawn_from: Literal["weights", "scratch"] = "weights"


class DatasetConfig(Section):
    # Winners judged below this never label eval/regression queries, and teach nothing when the
    # ``metrics`` aspect is on (the train split keeps them, with their score, so it can be off).
    confidence_threshold: float = Field(0.8, ge=0, le=1)
    eval_fraction: float = Field(0.2, gt=0, lt=1)  # share of queries held out, by hash of the query text
    regression_per_cluster: int = Field(
        50, ge=1
    )  # held-out queries per traffic cluster in the regression set
    replay_fraction: float = Field(0.3, ge=0, le=1)  # old well-served traffic mixed in against forgetting
    # Teacher answers served unjudged (sampled monitoring skips most) teach too, weighted by that
    # teacher's mean judged score: its track record is the confidence.
    trust_unjudged_teacher: bool = True
    # Rehearsal: the student's own warm-start data draws this x tonight's sampling weight (0 = off).
    rehearsal_fraction: float = Field(1.0, ge=0)
    seed: int = 0


class DistillConfig(Section):
    """How a candidate is trained. ``aspects`` apply to every domain not in ``domain_aspects``:
    ``response`` and/or ``reasoning`` choose the SFT targets (both: each query taught both ways),
    ``metrics`` weights examples by the judge's score and drops those below the dataset's
    ``confidence_threshold``, ``peer`` adds ``peer_steps`` of logit distillation from a promoted peer
    on that domain's examples. ``academy bench distill`` measures each mix (README)."""

    steps: int = Field(1200, ge=0)  # SFT steps per candidate (0: peer logits only)
    aspects: list[Aspect] = Field(default_factory=lambda: ["reasoning", "metrics"])
    domain_aspects: dict[str, list[Aspect]] = Field(default_factory=dict)
    learning_rate: float = Field(2e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    peer_steps: int = Field(100, ge=0)  # logit-distillation steps from a promoted peer after SFT (0 = off)
    peer_learning_rate: float = Field(5e-4, gt=0)
    peer_temperature: float = Field(1.0, gt=0)
    peer_alpha: float = Field(0.5, ge=0, le=1)  # weight of the peer's logits vs the winners' tokens
    max_new_tokens: int = Field(72, ge=1)  # generation budget when evaluating (reasoning first)
    seed: int = 0

    @model_validator(mode="after")
    def _aspects(self) -> DistillConfig:
        for domain, aspects in {"": self.aspects, **self.domain_aspects}.items():
            where = f"domain_aspects.{domain}" if domain else "aspects"
            if not set(aspects) & set(TARGET_ASPECTS):
                raise ValueError(
                    f"{where} needs 'response' and/or 'reasoning' (what to learn), got {aspects}"
                )
        if self.steps == 0 and self.peer_steps == 0:
            raise ValueError("steps and peer_steps cannot both be 0: nothing would be trained")
        return self

    def aspects_for(self, domain: str) -> list[str]:
        """The aspects ``domain``'s examples are trained with."""
        return list(self.domain_aspects.get(domain, self.aspects))


class GateConfig(Section):
    """The nightly promotion gate (academy/evolution/promotion.py): paired tests at level ``alpha``.

    Each night's gate is one decision per candidate at level ``alpha``: a candidate no better than
    its incumbent is promoted with probability at most ``alpha``, so over N nights the chance of
    ever promoting one is at most N x alpha (Bonferroni). ``alpha_spending: bonferroni_nights``
    tests each night at ``alpha / alpha_nights`` instead, bounding that chance by ``alpha`` over
    ``alpha_nights`` nights.
    """

    alpha: float = Field(0.05, gt=0, lt=1)  # one-sided level of every test of the gate
    alpha_spending: Literal["constant", "bonferroni_nights"] = "constant"  # see the docstring
    alpha_nights: int = Field(30, ge=1)  # the horizon bonferroni_nights spends alpha over
    margin: float = Field(0.0, ge=0)  # the gap gain's lower confidence bound must reach this
    max_regression: float = Field(0.05, ge=0)  # refuse a group whose drop exceeds this with confidence
    regression_z: float = Field(1.0, ge=0)  # ignored (the per-group test sets tolerance); configs still load
    min_teacher_ratio: float = Field(0.0, ge=0)  # ... and reach this share of the teacher's score (0 = off)
    auto_production: bool = True  # staging -> production in the same night when the gate passes
    min_spawn_score: float = Field(0.5, ge=0, le=1)  # a spawned student's gap accuracy lower bound >= this


class RolesConfig(Section):
    ta_win_rate: float = Field(0.6, ge=0, le=1)  # sustained win rate that makes a student a TA
    teacher_win_rate: float = Field(0.8, ge=0, le=1)  # ... and a TA a teacher
    nights: int = Field(2, ge=1)  # nights the win rate must hold (or fail) before a role changes
    min_judged: int = Field(50, ge=1)  # judged answers per night for a win rate to count


class RouterModelConfig(Section):
    """Nightly training of the learned router (academy/routing/quality_model.py) and its gate."""

    enabled: bool = True
    min_queries: int = Field(50, ge=2)  # judged queries needed before a first model is trained
    l2: float = Field(1.0, gt=0)  # ridge strength of each per-model head
    min_rows: int = Field(20, ge=2)  # judged answers a model needs for its own head (else its mean)
    holdout_fraction: float = Field(0.2, gt=0, lt=1)  # newest judged queries held out for the gate
    margin: float = Field(0.0, ge=0)  # the candidate's Brier score must beat the incumbent's by this


class ScheduleConfig(Section):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"


class EvolutionConfig(Section):
    """The nightly cycle. DVC stages read only their own sub-section (``evolution.dataset``, ...)."""

    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    gaps: GapsConfig = Field(default_factory=GapsConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    roles: RolesConfig = Field(default_factory=RolesConfig)
    router_model: RouterModelConfig = Field(default_factory=RouterModelConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


class ExecutionConfig(Section):
    """How the nightly flow runs its fanned-out tasks (per scoring batch, per student):
    ``sequential`` (one at a time, in order) or ``dask`` (a local Dask cluster of ``dask_workers``
    processes, via prefect-dask). Results are the same either way; only the wall time changes."""

    task_runner: Literal["sequential", "dask"] = "sequential"
    dask_workers: int = Field(2, ge=1)


class DistillBenchConfig(Section):
    """``academy bench distill``: every aspect mix on one frozen dataset (bench/distill.py)."""

    out: Path = Path("bench/results/distill")  # report.md, results.json (work/ holds the models)
    domains: list[str] = Field(default_factory=lambda: list(DOMAIN_NAMES))
    train_per_domain: int = Field(
        1500, ge=1
    )  # distinct training queries per domain (fewer if the domain has fewer)
    test_per_domain: int = Field(100, ge=1)  # held-out queries per domain (new operands)
    holdout_fraction: float = Field(0.2, gt=0, lt=1)  # share of operand keys held out
    teacher_error_rate: float = Field(0.1, ge=0, le=1)  # the noisy teacher's wrong answers
    steps: int = Field(1000, ge=2)  # the budget every variant gets
    learning_rate: float = Field(2e-3, gt=0)  # fresh students: the rate measured best from scratch
    peer_fraction: float = Field(0.2, gt=0, lt=1)  # of the budget, spent on the peer's logits after SFT
    max_new_tokens: int = Field(72, ge=1)  # reasoning is long: room for it before the answer
    variants: list[str] = Field(
        default_factory=lambda: [
            "response", "response+metrics", "reasoning", "reasoning+metrics", "reasoning@clean",
            "response@equal-time", "peer", "reasoning+metrics+peer",
        ]
    )  # fmt: skip
    seed: int = 0

    @model_validator(mode="after")
    def _sane(self) -> DistillBenchConfig:
        for domain in self.domains:
            if domain not in DOMAIN_NAMES:
                raise ValueError(f"unknown school domain {domain!r}; valid: {', '.join(DOMAIN_NAMES)}")
        return self

    @property
    def peer_steps(self) -> int:
        """Steps of the budget on the peer's logits, leaving at least one for SFT."""
        return min(max(1, round(self.steps * self.peer_fraction)), self.steps - 1)


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
    one MLflow server, one LanceDB location and one Prefect API; see README "Scaling out".
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
            raise ValueError(f"profile 'cluster' needs {', '.join(missing)} (see README 'Scaling out')")
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
