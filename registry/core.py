"""The registry's shared ground: its vocabulary (stages, transitions, tags, kinds), its errors, the
``VersionInfo`` it returns, and ``RegistryCore``, the connection and the lookups every part uses.

``RegistryCore`` holds the MLflow client (created on first use, with explicit tracking and registry
URIs: nothing here sets MLflow's global tracking URI, and importing this module loads no MLflow),
finds registered models, versions and aliases, and answers the read-only questions (which models,
of which kind, which versions in which stage). The parts that change the registry build on it:
``registry.runs``, ``registry.lifecycle``, ``registry.roles`` and ``registry.artifacts``;
``registry.model_registry.ModelRegistry`` puts them together.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from academy.audit import AuditLog, AuditSink
from academy.roles import DEFAULT_ROLE, LADDER

if TYPE_CHECKING:
    from mlflow import MlflowClient

STAGES = ("candidate", "staging", "production", "archived", "rejected")
ROLES = LADDER  # the role ladder, lowest first (academy.roles)
ALIASED_STAGES = ("staging", "production")  # stages that are also registry aliases

# Allowed moves; production -> archived also happens implicitly when another version is promoted.
TRANSITIONS: dict[str, frozenset[str]] = {
    "candidate": frozenset({"staging", "rejected"}),
    "staging": frozenset({"production", "rejected", "candidate"}),
    "production": frozenset({"archived"}),
    "archived": frozenset({"production"}),
    "rejected": frozenset(),
}

TAG_MANAGED = "academy.managed"
TAG_ROLE = "academy.role"
TAG_ROLE_HISTORY = "academy.role_history"
TAG_WIN_RATES = "academy.win_rates"
TAG_STAGE = "academy.stage"
TAG_TRANSITIONS = "academy.transitions"
TAG_ROLLBACK = "academy.rollback"  # set on a transition dict that a rollback made
TAG_SERVED_AT = "academy.served_at"  # version tag: the OpenAI-compatible base URL serving that version
TAG_KIND = "academy.kind"  # on runs (student / router / night / demo) and on router registered models
STUDENT_KIND = "student"  # the kind of a registered model without a kind tag
ROUTER_KIND = "router"
ROUTER_ROLE = "router"  # the role tag of a router model: never served as a backend, never on the ladder
ROUTER_ARTIFACT_NAME = "router_model"  # the run artifact folder a learned-router version points at (a stored name: kept so existing registries load)
ROUTER_MODEL_FILE = (
    "quality_model.json"  # academy.routing.learned_router.META_FILE: a router version's marker
)
DELEGATION_KIND = "delegation"  # academy.judges.delegation.DelegationState versions
DELEGATION_FILE = "delegation.json"  # academy.judges.delegation.STATE_FILE: a delegation version's marker
GIT_COMMIT_TAG = "mlflow.source.git.commit"
PARENT_RUN_TAG = "mlflow.parentRunId"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
MODEL_ARTIFACT_NAME = "model"
PIP_PACKAGES = ("torch", "transformers", "tokenizers")  # what loading the flavor needs; no torchvision
MAX_TAG_JSON = 90_000  # MLflow caps registry tag values at 100k characters
MAX_PARAM_LEN = 6000
BATCH = 100  # MLflow's limit of params/tags per log_batch (metrics: 1000)

T = TypeVar("T")


class RegistryError(RuntimeError):
    """The registry is unreachable, a model or version is unknown, or a transition is not allowed."""


class ModelNotFound(RegistryError):
    """No registered model (or version) by that name."""


@dataclass
class VersionInfo:
    name: str
    version: int
    stage: str
    aliases: list[str]
    role: str
    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    created: str = ""
    description: str = ""
    served_at: str | None = None  # the OpenAI-compatible base URL serving it (None: routers load it)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def now_iso() -> str:
    """Now (UTC) as an ISO timestamp with microseconds: the ``time`` of every recorded entry."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _iso_ms(millis: int | None) -> str:
    if not millis:
        return ""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


def capped_json(entries: list[Any]) -> str:
    """``entries`` as JSON for a tag value, dropping the oldest (first) entries in place until it
    fits ``MAX_TAG_JSON``; the newest entry is always kept."""
    text = json.dumps(entries)
    while len(text) > MAX_TAG_JSON and len(entries) > 1:
        entries.pop(0)
        text = json.dumps(entries)
    return text


def wrap_errors(method: Callable[..., T]) -> Callable[..., T]:
    """Turn any MLflow / SQL / IO failure into ``RegistryError`` naming the registry."""

    @wraps(method)
    def wrapper(self: RegistryCore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"MLflow registry at {self.tracking_uri}: {method.__name__} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    return wrapper


def kind_of(model: Any) -> str:
    """A registered model's kind: its ``academy.kind`` tag; students (older models too) have none."""
    return (model.tags or {}).get(TAG_KIND, STUDENT_KIND)


class RegistryCore:
    """The MLflow connection and the lookups the registry's parts share; see the module docstring.

    ``audit`` receives an ``academy.audit.AuditEvent`` for every stage transition
    (``registry.lifecycle``); with ``audit=None`` and an ``audit_db`` path, the default sink appends
    to that database's audit log; with neither, nothing is audited.
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_location: str | None = None,
        experiment: str = "academy-nightly",
        registry_uri: str | None = None,
        audit_db: Path | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_location = artifact_location
        self.experiment = experiment
        self.audit_db = audit_db  # the gateway database whose audit log records every transition
        self.audit: AuditSink | None = audit
        if audit is None and audit_db is not None:
            self.audit = AuditLog(audit_db)  # the default sink: that database's audit log
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    # ---- plumbing ---------------------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        """The MLflow client, created on first use (creating it opens, and for SQLite creates, the DB)."""
        if self._client is None:
            from mlflow import MlflowClient

            sqlite = self._sqlite_file()
            if sqlite is not None and sqlite.exists() and not sqlite.is_file():
                # MLflow would retry opening it for ~100 s before failing
                raise RegistryError(f"MLflow registry at {self.tracking_uri}: {sqlite} is not a file")
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        return self._client

    def _sqlite_file(self) -> Path | None:
        prefix = "sqlite:///"
        if not self.tracking_uri.startswith(prefix):
            return None
        filename = unquote(self.tracking_uri[len(prefix) :].split("?", 1)[0])
        return None if filename in ("", ":memory:") else Path(filename)

    def exists(self) -> bool:
        """False when the store is an SQLite file that does not exist yet (nothing registered, and
        reading would create it); True otherwise (a server or another database: only a call can
        tell). Never connects."""
        sqlite = self._sqlite_file()
        return sqlite is None or sqlite.exists()

    def _experiment(self) -> str:
        """The experiment id, creating the experiment (with our artifact location) if missing."""
        if self._experiment_id is None:
            existing = self.client.get_experiment_by_name(self.experiment)
            if existing is not None:
                self._experiment_id = existing.experiment_id
            else:
                self._experiment_id = self.client.create_experiment(
                    self.experiment, artifact_location=self.artifact_location or None
                )
        return self._experiment_id

    def _registered(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise ModelNotFound(f"no registered model named {name!r} in {self.tracking_uri}") from None
            raise

    def _model_version(self, name: str, version: int) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                self._registered(name)  # a clearer message when the model itself is unknown
                raise ModelNotFound(f"model {name!r} has no version {version}") from None
            raise

    def _aliased_version(self, name: str, alias: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                self._registered(name)  # unknown model -> ModelNotFound
                return None
            raise

    def _versions(self, name: str) -> list[Any]:
        escaped = name.replace("'", "\\'")
        return list(self.client.search_model_versions(f"name = '{escaped}'"))

    def _ensure_registered(self, name: str, role: str, kind: str | None = None) -> None:
        """Create ``name`` (managed, with ``role`` and, for non-students, ``kind``) or complete its tags."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            what = {
                ROUTER_KIND: "The learned router model",
                DELEGATION_KIND: "The judges' delegation state",
            }.get(kind or STUDENT_KIND, "An Academy student")
            self.client.create_registered_model(
                name,
                tags={TAG_MANAGED: "true", TAG_ROLE: role, **({TAG_KIND: kind} if kind else {})},
                description=f"{what} (managed by registry.model_registry).",
            )
            return
        if model.tags.get(TAG_MANAGED) != "true":
            self.client.set_registered_model_tag(name, TAG_MANAGED, "true")
        if TAG_ROLE not in model.tags:
            self.client.set_registered_model_tag(name, TAG_ROLE, role)
        if kind and model.tags.get(TAG_KIND, STUDENT_KIND) != kind:
            raise RegistryError(
                f"{name} is registered as a {model.tags.get(TAG_KIND, STUDENT_KIND)}, not a {kind}"
            )

    def _info(self, mv: Any, model: Any = None) -> VersionInfo:
        """A ``VersionInfo`` for model version ``mv``; ``model`` is its registered model (fetched
        if not given). Aliases come from the registered model: MLflow's ``search_model_versions``
        leaves ``ModelVersion.aliases`` empty."""
        model = model or self._registered(mv.name)
        aliases = sorted(a for a, v in (model.aliases or {}).items() if str(v) == str(mv.version))
        return VersionInfo(
            name=mv.name,
            version=int(mv.version),
            stage=mv.tags.get(TAG_STAGE, "candidate"),
            aliases=aliases,
            role=model.tags.get(TAG_ROLE, DEFAULT_ROLE),
            run_id=mv.run_id or None,
            metrics=self._run_metrics(mv.run_id),
            created=_iso_ms(mv.creation_timestamp),
            description=mv.description or "",
            served_at=mv.tags.get(TAG_SERVED_AT) or None,
        )

    def _run_metrics(self, run_id: str | None) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            return dict(self.client.get_run(run_id).data.metrics)
        except Exception:  # a deleted run must not hide the version
            return {}

    # ---- reading ----------------------------------------------------------------------------------

    @wrap_errors
    def production(self, name: str) -> VersionInfo | None:
        mv = self._aliased_version(name, "production")
        return None if mv is None else self._info(mv)

    @wrap_errors
    def aliased(self, name: str, alias: str) -> VersionInfo | None:
        """The version ``@alias`` points at (None: the alias is not set)."""
        mv = self._aliased_version(name, alias)
        return None if mv is None else self._info(mv)

    @wrap_errors
    def version(self, name: str, version: int) -> VersionInfo:
        return self._info(self._model_version(name, int(version)))

    @wrap_errors
    def models(self, kind: str | None = None) -> list[str]:
        """Names of the registered models this class manages (tag ``academy.managed=true``); with
        ``kind``, only those of that kind (``"student"``: no ``academy.kind`` tag, or that value)."""
        from mlflow.store.entities.paged_list import PagedList

        names: list[str] = []
        token = None
        while True:
            page: PagedList = self.client.search_registered_models(
                filter_string=f"tags.`{TAG_MANAGED}` = 'true'", max_results=100, page_token=token
            )
            names += [m.name for m in page if kind is None or kind_of(m) == kind]
            token = page.token
            if not token:
                return sorted(names)

    @wrap_errors
    def kind(self, name: str) -> str:
        """``"student"`` or ``"router"`` (the registered model's ``academy.kind`` tag)."""
        return kind_of(self._registered(name))

    @wrap_errors
    def stages(self, name: str, metric: str | None = None) -> list[tuple[str, float | None]]:
        """The stage of each version of ``name``, oldest first (empty: not registered), with the
        ``metric`` it was registered with (None where absent): the run of refusals a night's step
        budget reads (academy/evolution/step_budget.py), without the run metrics ``status`` fetches
        per version."""
        if name not in self.models():
            return []
        out = []
        for mv in sorted(self._versions(name), key=lambda m: int(m.version)):
            transitions = json.loads(mv.tags.get(TAG_TRANSITIONS) or "[]")
            registered = next((t for t in transitions if t.get("from") is None), {})
            value = registered.get("metrics", {}).get(metric) if metric else None
            out.append((mv.tags.get(TAG_STAGE, "candidate"), None if value is None else float(value)))
        return out

    @wrap_errors
    def status(self) -> list[VersionInfo]:
        """Every version of every managed model, by model name then version."""
        infos: list[VersionInfo] = []
        for name in self.models():
            model = self._registered(name)
            for mv in sorted(self._versions(name), key=lambda m: int(m.version)):
                infos.append(self._info(mv, model))
        return infos
