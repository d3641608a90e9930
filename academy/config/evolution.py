"""Config sections of the nightly evolution: scoring, gaps, datasets, distillation, the promotion
gate, roles, the learned router's training, the schedule, and how fanned-out tasks run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from academy.config.base import TARGET_ASPECTS, Aspect, Section


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
    # A query's weight in a cluster's savings halves every this many newer queries (0 = all count 1):
    # gaps rank by what they cost now, so a region the traffic just started asking is not outranked
    # by older ones that had more days to add up.
    savings_half_life: int = Field(500, ge=0)
    # Specialists (academy/evolution/specialists.py): every gap goes to a specialist student of its
    # region (the top-savings gap and the gaps whose centroid cosine with it >= specialist_similarity),
    # the one already trained there or a new one; the max_students regions whose biggest gap saves the
    # most are trained tonight. False: the generalist retrains on its gaps, one new student for uncovered gaps.
    specialise: bool = True
    specialist_similarity: float = Field(0.6, ge=-1, le=1)
    max_students: int = Field(3, ge=1)  # candidates trained per night when specialising
    # A spawned student starts from the configured generalist's production weights, or from scratch.
    spawn_from: Literal["weights", "scratch"] = "weights"
    # The night's steps (distill.steps x its students) shared by region savings x refusal_discount per
    # refused candidate since the student's last promotion, each share within [min, max] x distill.steps
    # (academy/evolution/step_budget.py). False: every student trains distill.steps.
    share_steps: bool = True
    refusal_discount: float = Field(0.5, gt=0, le=1)
    min_step_share: float = Field(0.25, gt=0, le=1)
    max_step_share: float = Field(3.0, ge=1)


class DatasetConfig(Section):
    # Winners judged below this never label eval/regression queries, and teach nothing when the
    # ``metrics`` aspect is on (the train split keeps them, with their score, so it can be off).
    confidence_threshold: float = Field(0.8, ge=0, le=1)
    eval_fraction: float = Field(0.2, gt=0, lt=1)  # share of queries held out, by hash of the query text
    regression_per_cluster: int = Field(
        50, ge=1
    )  # held-out queries per traffic cluster in the regression set
    retention_fraction: float = Field(0.3, ge=0, le=1)  # old well-served traffic mixed in against forgetting
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
    on that domain's examples. ``academy bench distill`` measures each mix (docs/benchmarks.md)."""

    steps: int = Field(1200, ge=0)  # SFT steps per candidate (0: peer logits only)
    aspects: list[Aspect] = Field(default_factory=lambda: ["reasoning", "metrics"])
    domain_aspects: dict[str, list[Aspect]] = Field(default_factory=dict)
    learning_rate: float = Field(2e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    peer_steps: int = Field(100, ge=0)  # logit-distillation steps from a promoted peer after SFT (0 = off)
    # Paraphrase practice (academy/evolution/paraphrase.py): a candidate's logged queries re-asked in
    # the phrasings the traffic shows for the same question, at most this x its logged rows (0 = off).
    paraphrase_ratio: float = Field(2.0, ge=0)
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
    # ... or, on the held-out answers it is confident about (confidence >= one of the router's
    # evidence.defer_thresholds, each tested at alpha / the number of distinct non-empty sets of answers
    # they keep), an accuracy lower bound >= this:
    # the cascade serves only those, so a student that knows part of its gap, and knows which part, pays.
    # Promotion admits a spawned student to exploration; the router serves it only where its own judged
    # record clears the floor, so this bar need not be the floor (a few dozen held-out answers never prove that).
    min_selective_score: float = Field(0.5, ge=0, le=1)


class RolesConfig(Section):
    ta_win_rate: float = Field(0.6, ge=0, le=1)  # sustained win rate that makes a student a TA
    teacher_win_rate: float = Field(0.8, ge=0, le=1)  # ... and a TA a teacher
    nights: int = Field(2, ge=1)  # nights the win rate must hold (or fail) before a role changes
    min_judged: int = Field(50, ge=1)  # judged answers per night for a win rate to count


class LearnedRouterTrainingConfig(Section):
    """Nightly training of the learned router (academy/routing/learned_router.py) and its gate."""

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
    learned_router: LearnedRouterTrainingConfig = Field(default_factory=LearnedRouterTrainingConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


class ExecutionConfig(Section):
    """How the nightly flow runs its fanned-out tasks (per scoring batch, per student):
    ``sequential`` (one at a time, in order) or ``dask`` (a local Dask cluster of ``dask_workers``
    processes, via prefect-dask). Results are the same either way; only the wall time changes."""

    task_runner: Literal["sequential", "dask"] = "sequential"
    dask_workers: int = Field(2, ge=1)
