"""The registry panel: every recorded transition (promotions, rejections, rollbacks, role changes)
as a timeline, and what serves now (``@production``, ``@staging``) with its role. A missing or
unreachable registry makes the panel say so; it never fails the page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from academy.dashboard.panels.base import column, figure, ordered, panel, unavailable

MAX_TIMELINE_ROWS = 200


def registry_panel(registry: Any) -> dict[str, Any]:
    """Every recorded transition as a timeline, and what serves now (``@production``) with its role.

    ``registry`` is a ``registry.model_registry.ModelRegistry``; a missing or unreachable registry
    makes the panel say so, never fail."""
    title = "Promotions and roles"
    if not registry.exists():
        return unavailable(
            "registry", title, f"no registry yet ({registry.tracking_uri}): the first nightly run creates it"
        )
    try:
        versions = registry.status()
        names = sorted({v.name for v in versions} | set(registry.models()))
        events: list[dict[str, Any]] = []
        kinds = {}
        for name in names:
            kinds[name] = registry.kind(name)
            for e in registry.history(name):
                events.append({"time": e["time"], "model": name, "version": e["version"], "from": e.get("from"),
                               "to": e["to"], "reason": e.get("reason", ""),
                               "event": transition_event(e)})  # fmt: skip
            for e in registry.role_history(name):
                events.append({"time": e["time"], "model": name, "version": None, "from": e.get("from"),
                               "to": e["to"], "reason": e.get("reason", ""), "event": f"role:{e['to']}"})  # fmt: skip
    except Exception as exc:  # RegistryError, or anything MLflow raises: the page must still load
        return unavailable("registry", title, f"registry unreachable: {exc}")
    if not names:
        return unavailable("registry", title, "the registry has no models yet", state="empty",
                           source=registry.tracking_uri)  # fmt: skip
    return panel(
        "registry",
        title,
        source=registry.tracking_uri,
        summary=registry_summary(versions, events),
        charts=[timeline_chart(events)],
        tables=[production_table(versions, names, kinds), timeline_table(events)],
        notes=[
            "Stages are MLflow aliases; every transition is recorded with its reason "
            "(version tag academy.transitions)."
        ],  # fmt: skip
    )


def transition_event(entry: dict[str, Any]) -> str:
    """The kind of one recorded transition: its target stage, or ``rollback`` / ``rolled back``."""
    if entry.get("academy.rollback"):
        return "rolled back"
    if entry.get("from") == "archived" and entry.get("to") == "production":
        return "rollback"
    if entry.get("from") == "production" and entry.get("to") == "archived":
        return "archived"
    return str(entry["to"])


def _when(iso: str) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` UTC (what Plotly reads as a date)."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


EVENT_ORDER = ("candidate", "staging", "production", "rejected", "archived", "rolled back", "rollback")


def timeline_chart(events: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = ordered({e["event"] for e in events}, EVENT_ORDER)
    series = []
    for kind in kinds:
        mine = sorted((e for e in events if e["event"] == kind), key=lambda e: (e["time"], e["model"]))
        series.append(
            {
                "name": kind,
                "x": [_when(e["time"]) for e in mine],
                "y": [e["model"] for e in mine],
                "text": [
                    (f"v{e['version']}: " if e["version"] is not None else "") + str(e["reason"])
                    for e in mine
                ],
            }
        )
    return {"id": "registry-timeline", "title": "Transitions and role changes", "kind": "scatter",
            "stacked": False, "xtitle": "time (UTC)", "ytitle": "", "series": series}  # fmt: skip


def production_table(versions: list[Any], names: list[str], kinds: dict[str, str]) -> dict[str, Any]:
    rows = []
    for name in names:
        mine = [v for v in versions if v.name == name]
        prod = next((v.version for v in mine if "production" in v.aliases), None)
        staging = next((v.version for v in mine if "staging" in v.aliases), None)
        role = mine[0].role if mine else ""
        rows.append([name, kinds.get(name, ""), role, prod, staging, len(mine)])
    columns = [column("model"), column("kind"), column("role"), column("@production"), column("@staging"),
               column("versions")]  # fmt: skip
    return {"id": "registry-production", "title": "Serving now", "columns": columns, "rows": rows}


def timeline_table(events: list[dict[str, Any]]) -> dict[str, Any]:
    newest = sorted(events, key=lambda e: (e["time"], e["model"]), reverse=True)[:MAX_TIMELINE_ROWS]
    rows = [[_when(e["time"]), e["model"], e["version"], e["event"], e["from"], e["to"], e["reason"]]
            for e in newest]  # fmt: skip
    columns = [column("time (UTC)"), column("model"), column("version"), column("event"), column("from"),
               column("to"), column("reason")]  # fmt: skip
    return {"id": "registry-history", "title": "History, newest first", "columns": columns, "rows": rows}


def registry_summary(versions: list[Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        figure("models", len({v.name for v in versions})),
        figure("versions", len(versions)),
        figure("promotions", sum(e["event"] == "production" for e in events)),
        figure("rejections", sum(e["event"] == "rejected" for e in events)),
        figure("rollbacks", sum(e["event"] == "rollback" for e in events)),
    ]
