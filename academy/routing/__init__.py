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
