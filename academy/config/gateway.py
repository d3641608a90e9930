"""Config sections of the gateway (academy/gateway/): tiers, response caches, bad-input limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from academy.config.base import Section


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
