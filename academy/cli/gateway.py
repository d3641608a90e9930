"""``academy gateway``: tenants, API keys, usage exports and the audit log, on the local gateway
database (``paths.home/gateway.db``). The same actions over HTTP are the ``/admin`` endpoints; this
is how the first admin key is made."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from academy.cli.common import ConfigOpt, HomeOpt, config_or_exit

gateway_app = typer.Typer(help="Tenants, API keys, usage and the audit log.", no_args_is_help=True)
tenant_app = typer.Typer(help="Create, change and list tenants.", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
gateway_app.add_typer(tenant_app, name="tenant")
gateway_app.add_typer(key_app, name="key")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
CacheExactOpt = Annotated[bool | None, typer.Option("--cache-exact/--no-cache-exact")]
CacheSemanticOpt = Annotated[bool | None, typer.Option("--cache-semantic/--no-cache-semantic")]


@contextmanager
def gateway(config: Path | None, home: Path | None) -> Iterator[Any]:
    """The gateway on the configured home; its refusals are clear errors (exit 2), not tracebacks."""
    from academy.gateway.db import GatewayError
    from academy.gateway.service import Gateway

    gw = Gateway.from_config(config_or_exit(config, home))
    try:
        yield gw
    except GatewayError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        gw.close()


def actor() -> str:
    from academy.gateway.db import default_actor

    return f"cli:{default_actor()}"


def show(rows: list[dict[str, Any]], as_json: bool, empty: str) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
    elif not rows:
        typer.echo(empty)
    else:
        for row in rows:
            typer.echo("  ".join(f"{k}={v}" for k, v in row.items()))


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Tenant name (letters, digits, . _ -)")],
    tier: Annotated[
        str | None, typer.Option(help="A tier from gateway.tiers (default: default_tier)")
    ] = None,
    cache_exact: CacheExactOpt = None,
    cache_semantic: CacheSemanticOpt = None,
    config: ConfigOpt = None,
    home: HomeOpt = None,
) -> None:
    """Create a tenant on a tier; cache switches default to the tier's."""
    with gateway(config, home) as gw:
        tenant = gw.create_tenant(actor(), name, tier, cache_exact, cache_semantic)
        typer.echo(f"tenant {tenant.name} created on tier {tenant.tier}")


@tenant_app.command("update")
def tenant_update(
    name: Annotated[str, typer.Argument(help="Tenant name")],
    tier: Annotated[str | None, typer.Option(help="Move to this tier")] = None,
    cache_exact: CacheExactOpt = None,
    cache_semantic: CacheSemanticOpt = None,
    config: ConfigOpt = None,
    home: HomeOpt = None,
) -> None:
    """Change a tenant's tier or cache switches."""
    with gateway(config, home) as gw:
        tenant = gw.update_tenant(
            actor(), name, tier=tier, cache_exact=cache_exact, cache_semantic=cache_semantic
        )
        typer.echo(f"tenant {tenant.name}: tier {tenant.tier}, cache exact {tenant.cache_exact}, "
                   f"semantic {tenant.cache_semantic} (None = the tier's)")  # fmt: skip


@tenant_app.command("list")
def tenant_list(config: ConfigOpt = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every tenant and its tier."""
    with gateway(config, home) as gw:
        show([t.__dict__ for t in gw.db.tenants()], as_json, "no tenants yet")


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key's requests are billed to")],
    name: Annotated[str, typer.Option(help="A label, e.g. the service using it")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="May call the /admin endpoints")] = False,
    rpm: Annotated[float | None, typer.Option(help="Requests/min for this key (default: the tier's)")] = None,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it: this is the only time it is shown."""
    with gateway(config, home) as gw:
        secret, key = gw.create_key(actor(), tenant, name, admin, rpm)
        if as_json:
            typer.echo(json.dumps(key.public() | {"key": secret}, indent=2))
            return
        typer.echo(secret)
        typer.secho(f"key {key.id} for tenant {tenant}{' (admin)' if admin else ''}: store it now, "
                    "it is not shown again", err=True)  # fmt: skip


@key_app.command("list")
def key_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys")] = None,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Keys (id, tenant, admin, created, revoked), never the secrets."""
    with gateway(config, home) as gw:
        show([k.public() for k in gw.db.keys(tenant)], as_json, "no keys yet (auth is off in 'auto' mode)")


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id")], config: ConfigOpt = None,
               home: HomeOpt = None) -> None:  # fmt: skip
    """Revoke a key: its next request gets a 401."""
    with gateway(config, home) as gw:
        key = gw.revoke_key(actor(), key_id)
        typer.echo(f"key {key.id} of tenant {key.tenant} revoked at {key.revoked}")


@gateway_app.command("usage")
def usage(
    tenant: Annotated[str | None, typer.Option(help="One tenant (default: all)")] = None,
    start: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD (default: this month's 1st)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today)")] = None,
    format: Annotated[str, typer.Option(help="json | csv | parquet")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write here (parquet needs it)")] = None,
    config: ConfigOpt = None,
    home: HomeOpt = None,
) -> None:
    """Usage per request (tokens, cost, model, route) for a period, with totals in JSON."""
    from academy.gateway.db import GatewayError
    from academy.gateway.http import period, usage_response

    with gateway(config, home) as gw:
        if format not in ("json", "csv", "parquet"):
            raise GatewayError(400, f"unknown format {format!r}: json, csv or parquet")
        if format == "parquet" and out is None:
            raise GatewayError(400, "parquet is binary: give --out FILE")
        first, last = period(parse_day(start, "start"), parse_day(end, "end"))
        rows = gw.usage(tenant, first, last)
        body = usage_response(rows, format, tenant, first, last)  # type: ignore[arg-type]
        write(body if isinstance(body, dict) else body.body, out)


def parse_day(value: str | None, name: str) -> date | None:
    from academy.gateway.db import GatewayError

    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise GatewayError(400, f"--{name} must be a date like 2026-11-01, got {value!r}") from None


def write(body: dict | bytes, out: Path | None, emit: Callable[[str], None] = typer.echo) -> None:
    data = json.dumps(body, indent=2, default=str).encode() if isinstance(body, dict) else body
    if out is None:
        emit(data.decode())
    else:
        out.write_bytes(data)
        typer.echo(f"wrote {out} ({len(data):,} bytes)", err=True)


@gateway_app.command("audit")
def audit(
    limit: Annotated[int, typer.Option(min=1, help="Newest entries shown")] = 50,
    action: Annotated[str | None, typer.Option(help="Action prefix: key., tenant., registry.")] = None,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who did what, when: admin actions and registry promotions/rollbacks, newest first."""
    with gateway(config, home) as gw:
        show(gw.db.audit_log(limit, action), as_json, "the audit log is empty")
