"""Model backends behind one interface. ``BACKEND_CLS.get(name)`` finds the class for a config name."""

from academy.backends.base import (
    BACKEND_CLS,
    Backend,
    BackendOverloaded,
    BackendTimeout,
    Completion,
    build_backend,
)

__all__ = ["BACKEND_CLS", "Backend", "BackendOverloaded", "BackendTimeout", "Completion", "build_backend"]
