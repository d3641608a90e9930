"""Routing policies behind one ``Router`` interface; ``ROUTER_CLS.get(name)`` finds one by config name.

The HTTP server, the demo, the benchmarks and the nightly flows all route through these classes, so
what is measured is exactly what serves.
"""

from academy.routing.base import (
    ROUTER_CLS,
    ModelAnswer,
    NoAllowedModelError,
    OverloadedError,
    Router,
    RouteRequest,
    RouteResult,
)

__all__ = [
    "ROUTER_CLS",
    "ModelAnswer",
    "NoAllowedModelError",
    "OverloadedError",
    "RouteRequest",
    "RouteResult",
    "Router",
]


def _import_routing() -> None:
    """Import every built-in router module, so each registers its class: lazily, on the first
    ``ROUTER_CLS`` lookup (it pulls in the store and the judges)."""
    from academy.routing import academy_policy  # noqa: F401


ROUTER_CLS.discover_with(_import_routing)
