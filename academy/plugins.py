"""A tiny name -> class registry for plugins, shared by backends, judges and routers.

Each implementation registers itself with ``@REGISTRY.register("name")`` in its own module. The
package that owns a registry names its implementation modules in one discovery function, with plain
imports (so the import-layer contract sees them), and hands it over with :meth:`discover_with`; it runs
once, on the first lookup, so an implementation that pulls in heavy libraries (``hf``: torch) loads
only when something asks for a plugin by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    """Maps a config name (``backend: hf``) to the class that implements it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[T]] = {}
        self._discover: Callable[[], object] | None = None
        self._discovered = False

    def register(self, name: str):
        def decorate(cls: type[T]) -> type[T]:
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._classes[name] = cls
            cls.registry_name = name  # type: ignore[attr-defined]
            return cls

        return decorate

    def discover_with(self, import_implementations: Callable[[], object]) -> None:
        """The function that imports every built-in implementation module (run on first lookup)."""
        self._discover = import_implementations
        self._discovered = False

    def _discover_once(self) -> None:
        if not self._discovered and self._discover is not None:
            self._discover()
            self._discovered = True

    def get(self, name: str) -> type[T]:
        self._discover_once()
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {sorted(self._classes)}") from None

    def names(self) -> list[str]:
        self._discover_once()
        return sorted(self._classes)
