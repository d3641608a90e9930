"""The audit log: who did what to which target, and when, in one SQLite table.

Two layers write it: the gateway (admin actions: tenants, keys) and the model registry (stage
transitions and rollbacks). The table lives in the gateway database (``paths.home/gateway.db``),
and this module owns its schema and row format, so a writer needs neither the gateway nor the
registry. It is at the bottom layer (standard library only): the registry takes an ``AuditSink``
callback and ``AuditLog`` is the default one.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from academy.config import AcademyConfig

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, details TEXT NOT NULL);
"""
INSERT_AUDIT = "INSERT INTO audit (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class AuditEvent:
    """One audited action: ``actor`` did ``action`` (e.g. ``registry.transition``) to ``target``."""

    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)


AuditSink = Callable[[AuditEvent], None]  # records one event; may raise, callers decide what that means


def audit_db_path(config: AcademyConfig) -> Path:
    """The SQLite file that holds the audit log: the gateway database."""
    return config.paths.home / "gateway.db"


def default_actor() -> str:
    """Who did it, for actions from the command line or a flow: the OS user."""
    try:
        return f"user:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "user:unknown"


def audit_row(actor: str, action: str, target: str, details: dict[str, Any]) -> tuple[str, ...]:
    """The values of ``INSERT_AUDIT`` for one event, stamped now (UTC)."""
    return (datetime.now(UTC).isoformat(), actor, action, target, json.dumps(details, default=str))


class AuditLog:
    """An ``AuditSink`` appending each event to the audit table of the SQLite file at ``path``
    (created with its folder if missing), one short transaction per event."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __call__(self, event: AuditEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(AUDIT_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(INSERT_AUDIT, audit_row(event.actor, event.action, event.target, event.details))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"
