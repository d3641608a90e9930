"""Config sections of the runs that measure the system: the simulated week (``academy demo``), the
outcome replay (``academy bench replay``) and the distillation benchmark (``academy bench distill``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from academy.config.base import SCHOOL_DOMAINS, Section


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
            if name not in SCHOOL_DOMAINS:
                raise ValueError(f"demo: unknown domain {name!r}; valid domains: {', '.join(SCHOOL_DOMAINS)}")
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
    # which outweighs k=8 noisy neighbours (chosen on GSM8K, seed 0; see docs/benchmarks.md).
    novel_fanout_rate: float = Field(0.05, ge=0, le=1)
    learned_prior_weight: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _weights(self) -> ReplayConfig:
        if not self.price_weights or any(w < 0 for w in self.price_weights):
            raise ValueError("replay.price_weights must be a non-empty list of numbers >= 0")
        return self


class DistillBenchConfig(Section):
    """``academy bench distill``: every aspect mix on one frozen dataset (bench/distill.py)."""

    out: Path = Path("bench/results/distill")  # report.md, results.json (work/ holds the models)
    domains: list[str] = Field(default_factory=lambda: list(SCHOOL_DOMAINS))
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
            if domain not in SCHOOL_DOMAINS:
                raise ValueError(f"unknown school domain {domain!r}; valid: {', '.join(SCHOOL_DOMAINS)}")
        return self

    @property
    def peer_steps(self) -> int:
        """Steps of the budget on the peer's logits, leaving at least one for SFT."""
        return min(max(1, round(self.steps * self.peer_fraction)), self.steps - 1)
