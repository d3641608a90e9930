"""The router reads the model registry: every hf student serves its ``@production`` version, and
the learned router model its ``@production`` version too.

``RegistryWatcher`` polls the registry (``registry.poll_seconds``). For each hf model in config and
each registered student tagged ``academy.managed=true`` (a student the nightly flow spawned), when
the ``@production`` version differs from what is served it downloads that version into the cache
and swaps it in with ``HFBackend.areload`` (atomic: in-flight requests finish on the old weights).
A managed model the router does not know yet gets a new hf backend, inserted into the ``backends``
dict the router shares, priced like the first configured hf model. The registry's role tag
(student / ta / teacher) is applied to every model it serves. When the ``@production`` version
carries the ``academy.served_at`` tag (``academy registry serve-at``), the model's backend becomes
an ``openai`` backend calling that URL (``academy serve-student``) instead of loading weights here;
a changed or cleared tag is picked up like a new version.

``LearnedRouterWatcher`` does the same for the learned router (``router.learned.registry_name``, a
managed model of kind "router", never served as a backend): when its ``@production`` version
changes it is downloaded, loaded and set as ``router.learned_router``. ``DelegationWatcher`` does it
for the judges' delegation state (``delegation.registry_name``), installed in ``router.panel``.

Nothing here may take the router down: an unreachable registry, a failed download or a broken
version logs a warning, sets ``last_error`` and the last known versions keep serving. Registry calls
and downloads run in worker threads; only the swap itself happens on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from academy.backends.base import Backend
from academy.config import AcademyConfig, ModelConfig
from academy.routing.learned_router import LearnedRouter, LearnedRouterError
from academy.store import EMBEDDING_DIM

if TYPE_CHECKING:
    from academy.routing.base import Router
    from registry.model_registry import ModelRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Target:
    """What the registry says one model should serve."""

    name: str
    version: int | None  # the @production version; None: no alias (keep what serves)
    role: str | None  # the registry's role tag; None: not registered
    served_at: str | None = None  # the @production version's academy.served_at URL; None: load it here


class _Poller:
    """The poll loop of a watcher: ``sync_once`` every ``registry.poll_seconds`` until stopped."""

    config: AcademyConfig
    task_name = "academy-registry-watch"
    _task: asyncio.Task[None] | None = None

    async def sync_once(self) -> object:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, interval_s: float) -> None:
        """Sync every ``interval_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self.sync_once()

    def start(self) -> None:
        """Start the poll loop (``registry.poll_seconds``) on the running event loop; idempotent."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(
            self.run(self.config.registry.poll_seconds), name=self.task_name
        )

    async def stop(self) -> None:
        """Cancel the poll loop and wait for it (a sync in progress is cancelled)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            with contextlib.suppress(asyncio.CancelledError):
                await task


class RegistryWatcher(_Poller):
    """Keeps ``backends`` serving the registry's ``@production`` versions; see the module docstring."""

    def __init__(
        self,
        registry_factory: Callable[[], ModelRegistry],
        backends: dict[str, Backend],
        config: AcademyConfig,
        cache_dir: Path,
    ) -> None:
        self.registry_factory = registry_factory
        self.backends = backends
        self.config = config
        self.cache_dir = Path(cache_dir)
        self.versions: dict[str, int] = {}  # model -> registry version now served
        self.remote: dict[str, str] = {}  # model -> the URL it is called at (served remotely)
        self.last_error: str | None = None
        self.syncs = 0
        self._registry: ModelRegistry | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def configured_hf(self) -> list[str]:
        return [m.name for m in self.config.models if m.backend == "hf"]

    # ---- one pass -------------------------------------------------------------------------------

    async def sync_once(self) -> dict[str, int]:
        """Read the registry and swap in changed versions; returns ``{model: version}`` served from
        the registry. Never raises (except cancellation)."""
        async with self._lock:  # an explicit sync and the poll loop never overlap
            self.syncs += 1
            if not self.config.registry.serve_from_registry:
                return dict(self.versions)
            try:
                targets = await asyncio.to_thread(self._read_registry)
            except Exception as exc:
                self._registry = None  # reconnect next time
                self._fail(f"registry unreachable: {type(exc).__name__}: {exc}")
                return dict(self.versions)
            errors = [await self._apply(target) for target in targets]
            errors = [e for e in errors if e]
            if errors:
                self._fail("; ".join(errors))
            else:
                self.last_error = None
            return dict(self.versions)

    def _fail(self, message: str) -> None:
        self.last_error = message
        log.warning("registry watcher: %s; serving the last known versions %s", message, self.versions)

    def _read_registry(self) -> list[_Target]:
        """Blocking: the ``@production`` version and role of every model the router should serve."""
        from registry.model_registry import STUDENT_KIND, ModelNotFound

        if self._registry is None:
            self._registry = self.registry_factory()
        registry = self._registry
        if not registry.exists():
            return []  # no registry yet: the configured local directories serve
        managed = registry.models(kind=STUDENT_KIND)  # the learned router model is no backend
        names = [*self.configured_hf, *(n for n in managed if n not in self.configured_hf)]
        configured = {m.name: m for m in self.config.models}
        targets = []
        for name in names:
            if name in configured and configured[name].backend != "hf":
                continue  # a teacher API under the same name is not ours to replace
            try:
                production = registry.production(name)
                role = registry.role(name)
            except ModelNotFound:
                continue  # a configured student nobody registered yet
            version, served_at = (production.version, production.served_at) if production else (None, None)
            targets.append(_Target(name, version, role, served_at))
        return targets

    async def _apply(self, target: _Target) -> str | None:
        """Serve ``target``; returns an error message instead of raising."""
        try:
            backend = self.backends.get(target.name)
            if target.version is not None and (
                backend is None
                or self.versions.get(target.name) != target.version
                or self.remote.get(target.name) != target.served_at
            ):
                backend = await self._serve(target, backend)
            if backend is not None and target.role and backend.config.role != target.role:
                log.info("registry watcher: %s role %s -> %s", target.name, backend.config.role, target.role)
                backend.config = backend.config.model_copy(update={"role": target.role})
            return None
        except Exception as exc:
            return f"{target.name} v{target.version}: {type(exc).__name__}: {exc}"

    async def _serve(self, target: _Target, backend: Backend | None) -> Backend:
        """Make ``target``'s version serve: an ``openai`` backend calling the URL its version is
        tagged with, else its weights downloaded and loaded here (in place when hf already serves)."""
        from academy.backends.hf import HFBackend

        if target.served_at:
            new: Backend | None = self._remote_backend(target)
        elif isinstance(backend, HFBackend):
            path = await self._download(target)
            await backend.areload(str(path), version=str(target.version))
            new = None
        else:
            path = await self._download(target)
            new = await asyncio.to_thread(self._new_backend, target, path)
        if new is not None:
            old, self.backends[target.name] = backend, new
            if old is not None:
                asyncio.get_running_loop().create_task(self._retire(old))
            backend = new
        previous = self.versions.get(target.name)
        self.versions[target.name] = target.version  # type: ignore[assignment]
        if target.served_at:
            self.remote[target.name] = target.served_at
        else:
            self.remote.pop(target.name, None)
        log.info(
            "registry watcher: %s now serves v%s%s (was %s)",
            target.name,
            target.version,
            f" at {target.served_at}" if target.served_at else "",
            f"v{previous}" if previous else "the configured directory",
        )
        return backend  # type: ignore[return-value]

    async def _download(self, target: _Target) -> Path:
        return await asyncio.to_thread(
            self._registry.download,  # type: ignore[union-attr]
            target.name,
            target.version,
            self.cache_dir,
        )

    @staticmethod
    async def _retire(backend: Backend) -> None:
        """Close a replaced backend once calls that already hold it are done (its timeout)."""
        await asyncio.sleep(backend.config.timeout_s if backend.registry_name == "openai" else 0)
        await backend.aclose()

    def _template(self, name: str) -> ModelConfig | None:
        """The configured model of that name, else the first hf model: prices and generation options."""
        own = next((m for m in self.config.models if m.name == name), None)
        return own or next((m for m in self.config.models if m.backend == "hf"), None)

    def _remote_backend(self, target: _Target) -> Backend:
        """An ``openai`` backend calling the student's server (``academy serve-student``), carrying
        the registry version so logged answers still say which version answered."""
        from academy.backends.openai_compat import OpenAIBackend

        template = self._template(target.name)
        options = {"base_url": target.served_at, "model": target.name, "max_retries": 1}
        if template is not None:
            options["timeout_s"] = template.timeout_s
        backend = OpenAIBackend(self._model_config(target, "openai", options, template))
        backend.version = str(target.version)
        return backend

    def _model_config(
        self, target: _Target, backend: str, options: dict, template: ModelConfig | None
    ) -> ModelConfig:
        if template is not None and template.name == target.name:
            return template.model_copy(
                update={"backend": backend, "options": options, "role": target.role or template.role}
            )
        return ModelConfig(
            name=target.name,
            backend=backend,
            role=target.role or "student",
            price_in=template.price_in if template else 0.0,
            price_out=template.price_out if template else 0.0,
            options=options,
        )

    def _new_backend(self, target: _Target, path: Path) -> Backend:
        """Blocking: an hf backend for a managed model not in config (or one served remotely until
        now), loaded before it is exposed."""
        from academy.backends.hf import HFBackend

        template = self._template(target.name)
        options = {"path": str(path)}
        if template is not None and template.backend == "hf":
            options.update({k: v for k, v in template.options.items() if k != "path"})
        backend = HFBackend(self._model_config(target, "hf", options, template), home=self.config.paths.home)
        # load now, before the router can see it: a broken version is never routed to
        backend.reload(str(path), version=str(target.version))
        return backend


class ArtifactWatcher(_Poller):
    """Keeps one non-student registry artifact (the learned router, the judges' delegation state)
    at its ``@production`` version; on any failure the last loaded one keeps serving. Subclasses
    say which model (``name``), when it applies (``enabled``), how to load a downloaded version
    (``load``) and where it goes (``install``)."""

    marker = ""  # the file every version's folder holds

    def __init__(
        self,
        registry_factory: Callable[[], ModelRegistry],
        router: Router,
        config: AcademyConfig,
        cache_dir: Path,
    ) -> None:
        self.registry_factory = registry_factory
        self.router = router
        self.config = config
        self.cache_dir = Path(cache_dir)
        self.version: int | None = None  # the registry version loaded into the router
        self.last_error: str | None = None
        self.syncs = 0
        self._registry: ModelRegistry | None = None
        self._task = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        raise NotImplementedError

    def enabled(self) -> bool:
        raise NotImplementedError

    def load(self, version: int, path: Path) -> object:
        raise NotImplementedError

    def install(self, loaded: object) -> None:
        raise NotImplementedError

    async def sync_once(self) -> int | None:
        """Load a changed ``@production`` version into the router; returns the version loaded (None:
        none yet). Never raises (except cancellation)."""
        async with self._lock:
            self.syncs += 1
            if not (self.config.registry.serve_from_registry and self.enabled()):
                return self.version
            try:
                loaded = await asyncio.to_thread(self._load_changed)
            except Exception as exc:
                self._registry = None  # reconnect next time
                self.last_error = f"{self.name}: {type(exc).__name__}: {exc}"
                log.warning(
                    "%s watcher: %s; keeping %s",
                    self.name,
                    self.last_error,
                    f"v{self.version}" if self.version else "nothing loaded",
                )
                return self.version
            self.last_error = None
            if loaded is not None:
                version, artifact = loaded
                self.install(artifact)
                log.info("%s watcher: v%s loaded (was %s)", self.name, version, self.version)
                self.version = version
            return self.version

    def _load_changed(self) -> tuple[int, object] | None:
        """Blocking: the ``@production`` artifact when it differs from the loaded one, else None."""
        from registry.model_registry import ModelNotFound

        if self._registry is None:
            self._registry = self.registry_factory()
        registry = self._registry
        if not registry.exists():
            return None  # no registry yet (reading would create it)
        try:
            production = registry.production(self.name)
        except ModelNotFound:
            return None  # nothing trained yet
        if production is None or production.version == self.version:
            return None
        path = registry.download(self.name, production.version, self.cache_dir, self.marker)
        return production.version, self.load(production.version, path)


class LearnedRouterWatcher(ArtifactWatcher):
    """Keeps ``router.learned_router`` at the registry's ``@production`` version of
    ``router.learned.registry_name``."""

    task_name = "academy-router-model-watch"
    marker = "quality_model.json"  # registry.model_registry.ROUTER_MODEL_FILE

    def __init__(self, *args, dim: int = EMBEDDING_DIM, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dim = dim  # the embedding size the router queries with: a model of another size is refused

    @property
    def name(self) -> str:
        return self.config.router.learned.registry_name

    def enabled(self) -> bool:
        return self.config.router.learned.enabled

    def load(self, version: int, path: Path) -> LearnedRouter:
        model = LearnedRouter.load(path)
        if model.weights.shape[1] != self.dim + 1:
            raise LearnedRouterError(
                f"v{version} expects {model.weights.shape[1] - 1}-d embeddings, the router has {self.dim}"
            )
        return model

    def install(self, loaded: object) -> None:
        self.router.learned_router = loaded


class DelegationWatcher(ArtifactWatcher):
    """Keeps ``router.panel`` judging by the registry's ``@production`` delegation state."""

    task_name = "academy-delegation-watch"
    marker = "delegation.json"  # academy.judges.delegation.STATE_FILE

    @property
    def name(self) -> str:
        return self.config.delegation.registry_name

    def enabled(self) -> bool:
        return self.config.delegation.enabled and self.router.panel is not None

    def load(self, version: int, path: Path) -> object:
        from academy.judges.delegation import DelegationState

        return DelegationState.load(path)

    def install(self, loaded: object) -> None:
        self.router.panel.install(loaded)
