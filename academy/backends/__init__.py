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


def _import_backends() -> None:
    """Import every built-in backend module, so each registers its class: lazily, on the first
    ``BACKEND_CLS`` lookup (``hf`` pulls in torch)."""
    from academy.backends import hf, openai_compat, reference, replay  # noqa: F401


BACKEND_CLS.discover_with(_import_backends)
