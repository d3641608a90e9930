"""The live dashboard at ``/dashboard``: the school as it evolves, from the traffic store and the
model registry (``panels``: what each panel computes; ``sources``: where it reads; ``http``: the
routes, the page and auth)."""

from academy.dashboard.http import build_router

__all__ = ["build_router"]
