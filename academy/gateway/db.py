"""The gateway's ledger: tenants, API keys (hashed), per-request usage and the audit log, in SQLite.

Why SQLite: it is embedded like the rest of the default stack, its WAL journal lets several router
processes on one host share the file, and usage rows must be written before a response leaves
(billing must not depend on a background task surviving a crash). Quota checks read the small
``usage_daily`` roll-up (one row per tenant and day), never the raw usage rows.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from academy.audit import AUDIT_SCHEMA, INSERT_AUDIT, audit_db_path, audit_row
from academy.audit import default_actor as default_actor  # re-exported: callers take it from here

if TYPE_CHECKING:
    from academy.config import AcademyConfig

KEY_PREFIX = "ak-"
TENANT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY, tier TEXT NOT NULL, cache_exact INTEGER, cache_semantic INTEGER,
    created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL, name TEXT NOT NULL,
    admin INTEGER NOT NULL, requests_per_minute REAL, created TEXT NOT NULL, revoked TEXT);
CREATE TABLE IF NOT EXISTS usage (
    request_id TEXT NOT NULL, tenant TEXT NOT NULL, key_id TEXT, ts TEXT NOT NULL, model TEXT NOT NULL,
    route TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, cost_usd REAL NOT NULL,
    PRIMARY KEY (tenant, request_id));
CREATE INDEX IF NOT EXISTS usage_by_time ON usage (tenant, ts);
CREATE TABLE IF NOT EXISTS usage_daily (
    tenant TEXT NOT NULL, day TEXT NOT NULL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL, PRIMARY KEY (tenant, day));
"""
SCHEMA += AUDIT_SCHEMA  # the audit log's table (academy.audit owns it)
USAGE_COLUMNS = (
    "request_id",
    "tenant",
    "key_id",
    "ts",
    "model",
    "route",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)


class GatewayError(Exception):
    """A request the gateway refuses; the server turns it into an OpenAI-style error."""

    def __init__(
        self, status: int, message: str, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


@dataclass(frozen=True)
class Tenant:
    name: str
    tier: str
    cache_exact: bool | None  # None: the tier's setting
    cache_semantic: bool | None
    created: str


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    name: str
    admin: bool
    requests_per_minute: float | None  # None: the tier's rate
    created: str
    revoked: str | None

    def public(self) -> dict[str, Any]:
        """What listing shows: never the key or its hash."""
        return asdict(self)


@dataclass(frozen=True)
class Usage:
    """One billed request: what it cost the tenant, by the model that served it and the route."""

    request_id: str
    tenant: str
    key_id: str | None
    model: str
    route: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    ts: datetime | None = None


def gateway_db_path(config: AcademyConfig) -> Path:
    return audit_db_path(config)  # one file holds the gateway's tables and the audit log


def now() -> datetime:
    return datetime.now(UTC)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class GatewayDB:
    """One SQLite file (``paths.home/gateway.db``); every method is one short transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # ---- tenants ------------------------------------------------------------------------------

    def create_tenant(
        self, name: str, tier: str, cache_exact: bool | None = None, cache_semantic: bool | None = None
    ) -> Tenant:
        tenant = Tenant(name, tier, cache_exact, cache_semantic, now().isoformat())
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM tenants WHERE name = ?", (name,)).fetchone():
                raise GatewayError(409, f"tenant {name!r} already exists")
            conn.execute("INSERT INTO tenants VALUES (?, ?, ?, ?, ?)", tuple(asdict(tenant).values()))
        return tenant

    def update_tenant(self, name: str, **fields: Any) -> Tenant:
        """Change a tenant's tier or cache switches (``None`` values are left as they are)."""
        allowed = {"tier", "cache_exact", "cache_semantic"}
        changes = {k: v for k, v in fields.items() if v is not None and k in allowed}
        with self._tx() as conn:
            if not conn.execute("SELECT 1 FROM tenants WHERE name = ?", (name,)).fetchone():
                raise GatewayError(404, f"no tenant {name!r}")
            for column, value in changes.items():
                conn.execute(f"UPDATE tenants SET {column} = ? WHERE name = ?", (value, name))
        return self.tenant(name)  # type: ignore[return-value]

    def tenant(self, name: str) -> Tenant | None:
        rows = self._rows("SELECT * FROM tenants WHERE name = ?", (name,))
        return _tenant(rows[0]) if rows else None

    def tenants(self) -> list[Tenant]:
        return [_tenant(r) for r in self._rows("SELECT * FROM tenants ORDER BY name")]

    # ---- keys ---------------------------------------------------------------------------------

    def create_key(
        self, tenant: str, name: str = "", admin: bool = False, requests_per_minute: float | None = None
    ) -> tuple[str, ApiKey]:
        """A new key for an existing tenant. The secret is returned here and never again: only its
        SHA-256 is stored (a leaked database leaks no usable key)."""
        if self.tenant(tenant) is None:
            raise GatewayError(404, f"no tenant {tenant!r}; create it first")
        key_id = secrets.token_hex(4)
        secret = f"{KEY_PREFIX}{key_id}-{secrets.token_urlsafe(24)}"
        key = ApiKey(key_id, tenant, name, admin, requests_per_minute, now().isoformat(), None)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key.id, hash_key(secret), tenant, name, int(admin), requests_per_minute, key.created, None),
            )
        return secret, key

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise GatewayError(404, f"no key with id {key_id!r}")
            if row["revoked"] is None:
                conn.execute("UPDATE keys SET revoked = ? WHERE id = ?", (now().isoformat(), key_id))
        return self.key(key_id)  # type: ignore[return-value]

    def key(self, key_id: str) -> ApiKey | None:
        rows = self._rows("SELECT * FROM keys WHERE id = ?", (key_id,))
        return _key(rows[0]) if rows else None

    def find_key(self, secret: str) -> ApiKey | None:
        rows = self._rows("SELECT * FROM keys WHERE hash = ?", (hash_key(secret),))
        return _key(rows[0]) if rows else None

    def keys(self, tenant: str | None = None) -> list[ApiKey]:
        where, args = ("WHERE tenant = ?", (tenant,)) if tenant else ("", ())
        return [_key(r) for r in self._rows(f"SELECT * FROM keys {where} ORDER BY created", args)]

    def has_keys(self) -> bool:
        """Whether a key was ever made: revoking every key must not open the gateway again."""
        return bool(self._rows("SELECT 1 FROM keys LIMIT 1"))

    # ---- usage --------------------------------------------------------------------------------

    def record_usage(self, usage: Usage) -> None:
        """One billed request, and its day's roll-up, in one transaction (idempotent per request)."""
        ts = usage.ts or now()
        tokens = usage.tokens_in + usage.tokens_out
        with self._tx() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (usage.request_id, usage.tenant, usage.key_id, ts.isoformat(), usage.model, usage.route,
                 usage.tokens_in, usage.tokens_out, usage.cost_usd),
            ).rowcount  # fmt: skip
            if inserted:
                conn.execute(
                    "INSERT INTO usage_daily VALUES (?, ?, 1, ?, ?) ON CONFLICT (tenant, day) DO UPDATE SET "
                    "requests = requests + 1, tokens = tokens + excluded.tokens, "
                    "cost_usd = cost_usd + excluded.cost_usd",
                    (usage.tenant, ts.date().isoformat(), tokens, usage.cost_usd),
                )

    def tokens_on(self, tenant: str, day: date) -> int:
        rows = self._rows(
            "SELECT tokens FROM usage_daily WHERE tenant = ? AND day = ?", (tenant, day.isoformat())
        )
        return int(rows[0]["tokens"]) if rows else 0

    def cost_since(self, tenant: str, first_day: date) -> float:
        rows = self._rows(
            "SELECT COALESCE(SUM(cost_usd), 0) AS cost FROM usage_daily WHERE tenant = ? AND day >= ?",
            (tenant, first_day.isoformat()),
        )
        return float(rows[0]["cost"])

    def usage_rows(self, tenant: str | None, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Raw usage rows in [start, end), oldest first; ``tenant=None`` is every tenant (admin)."""
        where = "ts >= ? AND ts < ?" + (" AND tenant = ?" if tenant else "")
        args = (start.isoformat(), end.isoformat(), *((tenant,) if tenant else ()))
        rows = self._rows(f"SELECT * FROM usage WHERE {where} ORDER BY ts", args)
        return [dict(r) for r in rows]

    # ---- audit --------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, target: str, **details: Any) -> None:
        with self._tx() as conn:
            conn.execute(INSERT_AUDIT, audit_row(actor, action, target, details))

    def audit_log(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        """The newest audit entries first; ``action`` filters by prefix (``key.``, ``registry.``)."""
        where, args = ("WHERE action LIKE ?", (f"{action}%",)) if action else ("", ())
        rows = self._rows(f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dict(r) | {"details": json.loads(r["details"])} for r in rows]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _tenant(row: sqlite3.Row) -> Tenant:
    flag = lambda v: None if v is None else bool(v)  # noqa: E731
    return Tenant(
        row["name"], row["tier"], flag(row["cache_exact"]), flag(row["cache_semantic"]), row["created"]
    )


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        row["id"], row["tenant"], row["name"], bool(row["admin"]), row["requests_per_minute"],
        row["created"], row["revoked"],
    )  # fmt: skip
