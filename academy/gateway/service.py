"""The gateway's decisions for one request: who is asking (tenant, key, tier), may they (rate limits,
token quota, monthly budget — all before any model is called), and what they were billed."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from academy.config import AcademyConfig, TierConfig
from academy.gateway.cache import ResponseCache
from academy.gateway.db import (
    TENANT_NAME,
    ApiKey,
    GatewayDB,
    GatewayError,
    Tenant,
    Usage,
    gateway_db_path,
    month_start,
    next_month,
)
from academy.gateway.limits import RateLimiter

BEARER = "bearer "
MAX_TENANT_CHARS = 128


@dataclass(frozen=True)
class Principal:
    """Who a request is from. ``key`` is None when auth is off (the tenant then comes from the
    ``X-Academy-Tenant`` header or ``server.default_tenant``)."""

    tenant: str
    tier_name: str
    tier: TierConfig
    key: ApiKey | None
    cache_exact: bool
    cache_semantic: bool

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key else None

    @property
    def admin(self) -> bool:
        return bool(self.key and self.key.admin)

    @property
    def actor(self) -> str:
        return f"key:{self.key.id}({self.key.name or self.tenant})" if self.key else f"tenant:{self.tenant}"

    @property
    def models(self) -> frozenset[str] | None:
        """The models this tenant's tier may use (None: every active model)."""
        return frozenset(self.tier.models) if self.tier.models else None


def estimate_tokens(text: str) -> int:
    """Prompt tokens before any tokenizer has seen the text: ~4 characters per token."""
    return max(1, math.ceil(len(text) / 4))


def seconds_until(moment: datetime, now: datetime) -> float:
    return max(1.0, (moment - now).total_seconds())


class Gateway:
    def __init__(
        self,
        config: AcademyConfig,
        db: GatewayDB,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.db = db
        self.limiter = RateLimiter(clock)
        self.cache = ResponseCache(config.gateway.cache, clock)
        self.wall = wall

    @classmethod
    def from_config(cls, config: AcademyConfig) -> Gateway:
        return cls(config, GatewayDB(gateway_db_path(config)))

    def close(self) -> None:
        self.db.close()

    # ---- who ----------------------------------------------------------------------------------

    def auth_required(self) -> bool:
        mode = self.config.gateway.auth
        return mode == "required" or (mode == "auto" and self.db.has_keys())

    def authenticate(self, authorization: str | None, tenant_header: str | None) -> Principal:
        """The request's tenant: from its API key when auth is on, else from the tenant header."""
        if not self.auth_required():
            tenant = tenant_header or self.config.server.default_tenant
            if len(tenant) > MAX_TENANT_CHARS or not tenant.isprintable():
                raise GatewayError(400, f"tenant must be at most {MAX_TENANT_CHARS} printable characters")
            return self._principal(tenant, None)
        key = self._key(authorization)
        if tenant_header and tenant_header != key.tenant:
            raise GatewayError(403, "this API key belongs to another tenant than X-Academy-Tenant names")
        return self._principal(key.tenant, key)

    def require_admin(self, authorization: str | None) -> Principal:
        """Admin endpoints always need an admin key, whatever the auth mode."""
        key = self._key(authorization)
        if not key.admin:
            raise GatewayError(403, "this endpoint needs an admin key")
        return self._principal(key.tenant, key)

    def _key(self, authorization: str | None) -> ApiKey:
        if not authorization or not authorization.lower().startswith(BEARER):
            raise GatewayError(401, "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key")
        key = self.db.find_key(authorization[len(BEARER) :].strip())
        if key is None:
            raise GatewayError(401, "invalid API key", "invalid_api_key")
        if key.revoked:
            raise GatewayError(401, f"API key {key.id} was revoked on {key.revoked}", "invalid_api_key")
        return key

    def _principal(self, tenant: str, key: ApiKey | None) -> Principal:
        record = self.db.tenant(tenant)
        if key is not None and record is None:
            raise GatewayError(403, f"the key's tenant {tenant!r} no longer exists")
        tier_name = record.tier if record else self.config.gateway.default_tier
        tier = self.config.gateway.tiers.get(tier_name)
        if tier is None:
            raise GatewayError(403, f"tenant {tenant!r} is on tier {tier_name!r}, which is not configured")
        exact = tier.cache_exact if record is None or record.cache_exact is None else record.cache_exact
        semantic = (
            tier.cache_semantic if record is None or record.cache_semantic is None else record.cache_semantic
        )
        return Principal(tenant, tier_name, tier, key, exact, semantic)

    # ---- may they -----------------------------------------------------------------------------

    def admit(self, principal: Principal, text: str) -> None:
        """Rate limits, then the day's tokens, then the month's budget; raises a 429 that says which
        and when to retry. Called before any model (or cache) is asked."""
        tier = principal.tier
        limits = [(f"tenant:{principal.tenant}", tier.requests_per_minute, tier.burst)]
        if principal.key is not None:
            rpm = principal.key.requests_per_minute or tier.requests_per_minute
            limits.append((f"key:{principal.key.id}", rpm, tier.burst))
        wait = self.limiter.check(limits)
        if wait > 0:
            raise GatewayError(
                429, f"rate limit reached for tenant {principal.tenant!r} ({principal.tier_name} tier); "
                f"retry in {wait:.1f} s", "rate_limit_exceeded", wait,
            )  # fmt: skip
        now = self.wall()
        self._check_tokens(principal, estimate_tokens(text), now)
        self._check_budget(principal, now)

    def _check_tokens(self, principal: Principal, tokens: int, now: datetime) -> None:
        limit = principal.tier.tokens_per_day
        used = self.db.tokens_on(principal.tenant, now.date()) if limit else 0
        if limit and used + tokens > limit:
            tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
            raise GatewayError(
                429, f"daily token quota reached for tenant {principal.tenant!r}: {used} of {limit} "
                "tokens used today (UTC)", "insufficient_quota", seconds_until(tomorrow, now),
            )  # fmt: skip

    def _check_budget(self, principal: Principal, now: datetime) -> None:
        budget = principal.tier.monthly_budget_usd
        spent = self.db.cost_since(principal.tenant, month_start(now.date())) if budget else 0.0
        if budget and spent >= budget:
            renew = datetime.combine(next_month(now.date()), datetime.min.time(), UTC)
            raise GatewayError(
                429, f"monthly budget reached for tenant {principal.tenant!r}: ${spent:.4f} of "
                f"${budget:.2f} spent this month", "insufficient_quota", seconds_until(renew, now),
            )  # fmt: skip

    # ---- admin actions: one audited path for the HTTP API and the CLI --------------------------

    def check_tier(self, tier: str) -> str:
        if tier not in self.config.gateway.tiers:
            raise GatewayError(
                400, f"unknown tier {tier!r}; configured tiers: {sorted(self.config.gateway.tiers)}"
            )
        return tier

    def create_tenant(
        self, actor: str, name: str, tier: str | None, cache_exact: bool | None, cache_semantic: bool | None
    ) -> Tenant:
        """A new tenant (on ``default_tier`` unless ``tier`` names another), audited."""
        if not re.match(TENANT_NAME, name):
            raise GatewayError(400, f"bad tenant name {name!r}: 1-128 letters, digits, '.', '_' or '-'")
        tier = self.check_tier(tier or self.config.gateway.default_tier)
        tenant = self.db.create_tenant(name, tier, cache_exact, cache_semantic)
        self.db.audit(actor, "tenant.create", name, tier=tier)
        return tenant

    def update_tenant(self, actor: str, name: str, **changes: Any) -> Tenant:
        """Change a tenant's tier or cache switches (``None`` leaves one as it is), audited."""
        if changes.get("tier") is not None:
            self.check_tier(changes["tier"])
        tenant = self.db.update_tenant(name, **changes)
        self.db.audit(actor, "tenant.update", name, **{k: v for k, v in changes.items() if v is not None})
        return tenant

    def create_key(
        self, actor: str, tenant: str, name: str, admin: bool, requests_per_minute: float | None
    ) -> tuple[str, ApiKey]:
        secret, key = self.db.create_key(tenant, name, admin, requests_per_minute)
        self.db.audit(actor, "key.create", key.id, tenant=key.tenant, admin=key.admin, name=key.name)
        return secret, key

    def revoke_key(self, actor: str, key_id: str) -> ApiKey:
        key = self.db.revoke_key(key_id)
        self.db.audit(actor, "key.revoke", key.id, tenant=key.tenant)
        return key

    # ---- what it cost -------------------------------------------------------------------------

    def record(self, principal: Principal, request_id: str, model: str, route: str,
               tokens_in: int, tokens_out: int, cost: float) -> None:  # fmt: skip
        usage = Usage(
            request_id, principal.tenant, principal.key_id, model, route, tokens_in, tokens_out, cost
        )
        self.db.record_usage(usage)

    def usage(self, tenant: str | None, start: date, end: date) -> list[dict]:
        """Usage rows for days [start, end] (inclusive, UTC)."""
        begin = datetime.combine(start, datetime.min.time(), UTC)
        finish = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
        return self.db.usage_rows(tenant, begin, finish)
