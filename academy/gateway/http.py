"""The gateway's HTTP API: admin endpoints (tenants, keys, usage of any tenant, audit log), each
needing an admin key, and ``GET /v1/usage``, where a tenant reads its own usage and nobody else's."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from academy.gateway.db import TENANT_NAME, USAGE_COLUMNS, GatewayError
from academy.gateway.service import Gateway, Principal

UsageFormat = Literal["json", "csv", "parquet"]
Auth = Annotated[str | None, Header(alias="authorization", include_in_schema=False)]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=TENANT_NAME)
    tier: str | None = None  # None: gateway.default_tier
    cache_exact: bool | None = None  # None: the tier's setting
    cache_semantic: bool | None = None


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str | None = None
    cache_exact: bool | None = None
    cache_semantic: bool | None = None


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(pattern=TENANT_NAME)
    name: str = Field("", max_length=200)
    admin: bool = False
    requests_per_minute: float | None = Field(None, ge=0, le=1e7)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals, and the same by serving model and by route."""

    def total(subset: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "requests": len(subset),
            "tokens_in": sum(r["tokens_in"] for r in subset),
            "tokens_out": sum(r["tokens_out"] for r in subset),
            "cost_usd": round(sum(r["cost_usd"] for r in subset), 8),
        }

    by: dict[str, dict[str, list]] = {"model": defaultdict(list), "route": defaultdict(list)}
    for row in rows:
        for field in by:
            by[field][row[field]].append(row)
    return {"total": total(rows)} | {f"by_{f}": {k: total(v) for k, v in sorted(by[f].items())} for f in by}


def usage_response(
    rows: list[dict[str, Any]], fmt: UsageFormat, tenant: str | None, start: date, end: date
) -> Any:
    """JSON (summary + rows), or the rows as a CSV or Parquet download."""
    if fmt == "json":
        period = {"start": start.isoformat(), "end": end.isoformat()}
        return {"tenant": tenant, "period": period, **summarise(rows), "rows": rows}
    name = f"usage-{tenant or 'all'}-{start}-{end}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=USAGE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return Response(buffer.getvalue(), media_type="text/csv", headers=disposition)
    table = pa.Table.from_pylist(rows, schema=usage_schema())
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return Response(sink.getvalue(), media_type="application/vnd.apache.parquet", headers=disposition)


def usage_schema() -> pa.Schema:
    text = ("request_id", "tenant", "key_id", "ts", "model", "route")
    types = {c: pa.string() for c in text} | {"tokens_in": pa.int64(), "tokens_out": pa.int64()}
    return pa.schema([(c, types.get(c, pa.float64())) for c in USAGE_COLUMNS])


def period(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    start, end = start or today.replace(day=1), end or today
    if end < start:
        raise GatewayError(400, f"end {end} is before start {start}")
    return start, end


def build_router() -> APIRouter:
    router = APIRouter()

    def gateway(request: Request) -> Gateway:
        return request.app.state.gateway

    def admin(request: Request, authorization: str | None) -> Principal:
        return gateway(request).require_admin(authorization)

    @router.get("/v1/usage", tags=["usage"])
    def own_usage(
        request: Request, authorization: Auth = None, start: date | None = None, end: date | None = None,
        format: UsageFormat = "json", tenant: Annotated[str | None, Header(alias="x-academy-tenant")] = None,
    ) -> Any:  # fmt: skip
        """The calling tenant's usage for [start, end] (UTC days; default: this month so far)."""
        principal = gateway(request).authenticate(authorization, tenant)
        start, end = period(start, end)
        rows = gateway(request).usage(principal.tenant, start, end)
        return usage_response(rows, format, principal.tenant, start, end)

    @router.get("/admin/usage", tags=["admin"])
    def any_usage(
        request: Request, authorization: Auth = None, tenant: Annotated[str | None, Query()] = None,
        start: date | None = None, end: date | None = None, format: UsageFormat = "json",
    ) -> Any:  # fmt: skip
        """Usage of one tenant, or of every tenant when ``tenant`` is omitted."""
        admin(request, authorization)
        start, end = period(start, end)
        return usage_response(gateway(request).usage(tenant, start, end), format, tenant, start, end)

    @router.get("/admin/tenants", tags=["admin"])
    def list_tenants(request: Request, authorization: Auth = None) -> dict[str, Any]:
        admin(request, authorization)
        return {"data": [t.__dict__ for t in gateway(request).db.tenants()]}

    @router.post("/admin/tenants", tags=["admin"], status_code=201)
    def create_tenant(body: TenantCreate, request: Request, authorization: Auth = None) -> dict[str, Any]:
        who = admin(request, authorization)
        tenant = gateway(request).create_tenant(
            who.actor, body.name, body.tier, body.cache_exact, body.cache_semantic
        )
        return tenant.__dict__

    @router.patch("/admin/tenants/{name}", tags=["admin"])
    def update_tenant(name: str, body: TenantUpdate, request: Request, authorization: Auth = None) -> dict:
        who = admin(request, authorization)
        return gateway(request).update_tenant(who.actor, name, **body.model_dump()).__dict__

    @router.get("/admin/keys", tags=["admin"])
    def list_keys(request: Request, authorization: Auth = None, tenant: str | None = None) -> dict:
        admin(request, authorization)
        return {"data": [k.public() for k in gateway(request).db.keys(tenant)]}

    @router.post("/admin/keys", tags=["admin"], status_code=201)
    def create_key(body: KeyCreate, request: Request, authorization: Auth = None) -> dict[str, Any]:
        """The key is in this response only; Academy stores its hash."""
        who = admin(request, authorization)
        secret, key = gateway(request).create_key(
            who.actor, body.tenant, body.name, body.admin, body.requests_per_minute
        )
        return key.public() | {"key": secret}

    @router.delete("/admin/keys/{key_id}", tags=["admin"])
    def revoke_key(key_id: str, request: Request, authorization: Auth = None) -> dict[str, Any]:
        who = admin(request, authorization)
        return gateway(request).revoke_key(who.actor, key_id).public()

    @router.get("/admin/audit", tags=["admin"])
    def audit(
        request: Request, authorization: Auth = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        action: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Admin actions and registry promotions/rollbacks, newest first (``action``: a prefix)."""
        admin(request, authorization)
        return {"data": gateway(request).db.audit_log(limit, action)}

    return router
