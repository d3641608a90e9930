"""The model registry: student versions, their stages, roles and lineage, on MLflow.

MLflow 3 deprecates registry stages, so a stage here is a version tag (``academy.stage``) and the two
stages the router cares about are also **aliases**: ``@staging`` and ``@production`` point at the
versions in those stages, so ``models:/student-1@production`` is what serves.

Lifecycle (``transition``)::

    candidate -> staging -> production -> archived (automatic, when another version takes production)
    candidate | staging -> rejected;     archived -> production (``rollback``)

Every transition is appended to the version tag ``academy.transitions`` (JSON) with its reason and
metrics, so ``history`` reconstructs who served when and why. The model-level tag ``academy.role``
(student / ta / teacher) says how the router treats the model; ``academy.role_history`` records
changes. Registered models created here carry ``academy.managed=true``; the router serves every
managed student's ``@production`` version (``academy.registry_watch``).

The learned router (``academy.routing.quality_model``) is versioned here too
(``register_router_model``): a registered model tagged ``academy.kind=router`` with role "router",
whose versions are plain artifact folders (``quality_model.json`` + weights), gated and promoted
through the same stages. Models without a kind tag are students.

Only ``MlflowClient`` instances with explicit tracking and registry URIs are used: nothing here sets
MLflow's global tracking URI or starts a fluent run, and importing this module loads no MLflow.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import wraps
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from academy.gateway.db import gateway_db_path

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from academy.config import AcademyConfig

log = logging.getLogger(__name__)

STAGES = ("candidate", "staging", "production", "archived", "rejected")
ROLES = ("student", "ta", "teacher")
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
ROUTER_ARTIFACT_NAME = "router_model"  # the run artifact folder a router version points at
ROUTER_MODEL_FILE = "quality_model.json"
DELEGATION_KIND = "delegation"  # academy.judges.delegation.DelegationState versions
DELEGATION_FILE = "delegation.json"  # academy.judges.delegation.STATE_FILE: a delegation version's marker  # academy.routing.quality_model.META_FILE: a router version's marker
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _iso_ms(millis: int | None) -> str:
    if not millis:
        return ""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


def _wrap_errors(method: Callable[..., T]) -> Callable[..., T]:
    """Turn any MLflow / SQL / IO failure into ``RegistryError`` naming the registry."""

    @wraps(method)
    def wrapper(self: ModelRegistry, *args: Any, **kwargs: Any) -> T:
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


def git_commit(cwd: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the code's checkout, or ``"unknown"`` outside a git repo."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pip_requirements() -> list[str]:
    """Exact pins of what loading the model needs, as installed (local tags like ``+cpu`` dropped)."""
    pins = []
    for package in PIP_PACKAGES:
        try:
            pins.append(f"{package}=={metadata.version(package).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def _kind(model: Any) -> str:
    """A registered model's kind: its ``academy.kind`` tag; students (older models too) have none."""
    return (model.tags or {}).get(TAG_KIND, STUDENT_KIND)


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text[:MAX_PARAM_LEN]


def _model_card(name: str, run_id: str) -> Any:
    from huggingface_hub import ModelCard

    return ModelCard(
        f"---\nlicense: other\nlibrary_name: transformers\npipeline_tag: text-generation\n---\n"
        f"# {name}\n\nAn Academy student (tiny Llama) trained locally in MLflow run {run_id}.\n"
    )


class ModelRegistry:
    """A typed wrapper over ``MlflowClient`` for Academy's students; see the module docstring."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_location: str | None = None,
        experiment: str = "academy-nightly",
        registry_uri: str | None = None,
        audit_db: Path | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_location = artifact_location
        self.experiment = experiment
        self.audit_db = audit_db  # the gateway database whose audit log records every transition
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    @classmethod
    def from_config(cls, cfg: AcademyConfig) -> ModelRegistry:
        home = cfg.paths.home
        return cls(
            cfg.registry.resolved_tracking_uri(home),
            cfg.registry.resolved_artifact_location(home),
            cfg.registry.experiment,
            audit_db=gateway_db_path(cfg),
        )

    def __repr__(self) -> str:
        return f"ModelRegistry({self.tracking_uri!r}, experiment={self.experiment!r})"

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
            role=model.tags.get(TAG_ROLE, "student"),
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

    # ---- writing ----------------------------------------------------------------------------------

    @_wrap_errors
    def register_student(
        self,
        name: str,
        model_dir: Path,
        *,
        role: str = "student",
        params: dict[str, Any],
        metrics: dict[str, float],
        step_metrics: dict[str, list[float]] | None = None,
        lineage: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        text_artifacts: dict[str, str] | None = None,
        parent_run_id: str | None = None,
        run_name: str | None = None,
    ) -> VersionInfo:
        """Log one run for a trained student and register it as a new ``candidate`` version.

        The run holds ``params``, final ``metrics``, per-step ``step_metrics`` (list index = step),
        ``lineage`` (as ``lineage.<key>`` params and ``academy.lineage.<key>`` tags), the git
        commit, ``text_artifacts`` (file name -> text) and the student's ``student.json``. The
        model is saved in MLflow's transformers flavor as an MLflow 3 LoggedModel of that run,
        and the version points at the LoggedModel's artifacts.
        """
        if role not in ROLES:
            raise RegistryError(f"unknown role {role!r}; roles: {list(ROLES)}")
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise RegistryError(f"no student model at {model_dir} (config.json missing)")
        client = self.client
        run_tags = {
            GIT_COMMIT_TAG: git_commit(),
            "academy.kind": "student",
            "academy.model": name,
            **{f"academy.lineage.{k}": str(v) for k, v in (lineage or {}).items()},
            **(tags or {}),
        }
        if parent_run_id:
            run_tags[PARENT_RUN_TAG] = parent_run_id
        run = client.create_run(self._experiment(), tags=run_tags, run_name=run_name or f"{name}-train")
        run_id = run.info.run_id
        try:
            all_params = {**params, **{f"lineage.{k}": v for k, v in (lineage or {}).items()}}
            self._log_params_metrics(run_id, all_params, {}, step_metrics)
            texts = dict(text_artifacts or {})
            student_json = model_dir / "student.json"
            if student_json.is_file() and "student.json" not in texts:
                texts["student.json"] = student_json.read_text()
            for file_name, text in texts.items():
                client.log_text(run_id, text, file_name)
            model_id, source = self._log_transformers_model(run_id, model_dir, name, metrics)
            self._ensure_registered(name, role)
            mv = client.create_model_version(
                name,
                source=source,
                run_id=run_id,
                tags={TAG_STAGE: "candidate", TAG_TRANSITIONS: "[]", "academy.model_id": model_id},
                description=f"{name} trained in run {run_id}",
                model_id=model_id,
            )
            self._append_transition(name, int(mv.version), None, "candidate", "registered", metrics)
            link = [{"name": name, "version": str(mv.version)}]  # the LoggedModel page links the version
            client.set_logged_model_tags(model_id, {MODEL_VERSIONS_TAG: json.dumps(link)})
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        return self._info(client.get_model_version(name, mv.version))

    def register_router_model(
        self,
        name: str,
        model_dir: Path,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str] | None = None,
        run_name: str | None = None,
    ) -> VersionInfo:
        """A trained router quality model as a new ``candidate`` version of ``name`` (kind router);
        see :meth:`register_artifact_model`."""
        return self.register_artifact_model(
            name,
            model_dir,
            required_file=ROUTER_MODEL_FILE,
            kind=ROUTER_KIND,
            params=params,
            metrics=metrics,
            tags=tags,
            run_name=run_name,
        )

    @_wrap_errors
    def register_artifact_model(
        self,
        name: str,
        model_dir: Path,
        *,
        required_file: str,
        kind: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str] | None = None,
        run_name: str | None = None,
        text_artifacts: dict[str, str] | None = None,
    ) -> VersionInfo:
        """Log one run for a non-student artifact (the learned router, the judges' delegation
        state) and register it as a new ``candidate`` version of ``name``, created as a managed
        model tagged ``academy.kind=<kind>`` with role "router" (never served as a backend, never
        on the role ladder).

        The run (tag ``academy.kind=<kind>``) holds ``params``, ``metrics`` (non-finite values are
        left out), ``text_artifacts`` and ``model_dir`` as the artifact folder
        ``router_model/``; the version's source is that folder, so ``download`` materialises
        exactly what the loader reads (``required_file`` marks it).
        """
        model_dir = Path(model_dir)
        if not (model_dir / required_file).is_file():
            raise RegistryError(f"no {kind} model at {model_dir} ({required_file} missing)")
        client = self.client
        self._ensure_registered(name, ROUTER_ROLE, kind)  # refuses a student of that name early
        run_tags = {
            GIT_COMMIT_TAG: git_commit(),
            TAG_KIND: kind,
            "academy.model": name,
            **(tags or {}),
        }
        run = client.create_run(self._experiment(), tags=run_tags, run_name=run_name or f"{name}-train")
        run_id = run.info.run_id
        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        try:
            self._log_params_metrics(run_id, params, finite, None)
            for file_name, text in (text_artifacts or {}).items():
                client.log_text(run_id, text, file_name)
            client.log_artifacts(run_id, str(model_dir), ROUTER_ARTIFACT_NAME)
            source = f"{run.info.artifact_uri.rstrip('/')}/{ROUTER_ARTIFACT_NAME}"
            mv = client.create_model_version(
                name,
                source=source,
                run_id=run_id,
                tags={TAG_STAGE: "candidate", TAG_TRANSITIONS: "[]"},
                description=f"{name} ({kind}) trained in run {run_id}",
            )
            self._append_transition(name, int(mv.version), None, "candidate", "registered", finite)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        return self._info(client.get_model_version(name, mv.version))

    def _log_params_metrics(
        self,
        run_id: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        step_metrics: dict[str, list[float]] | None,
    ) -> None:
        from mlflow.entities import Metric, Param

        client = self.client
        param_list = [Param(str(k), _param_value(v)) for k, v in params.items()]
        for chunk in _chunks(param_list, BATCH):
            client.log_batch(run_id, params=chunk, synchronous=True)
        now = int(time.time() * 1000)
        metric_list = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        for key, values in (step_metrics or {}).items():
            metric_list += [Metric(key, float(v), now, step) for step, v in enumerate(values)]
        for chunk in _chunks(metric_list, 1000):
            client.log_batch(run_id, metrics=chunk, synchronous=True)

    def _log_transformers_model(
        self, run_id: str, model_dir: Path, name: str, metrics: dict[str, float]
    ) -> tuple[str, str]:
        """Save ``model_dir`` in the transformers flavor as a LoggedModel of ``run_id``.

        Returns ``(model_id, artifact_location)``. The version's source is the LoggedModel's
        artifact location rather than ``models:/<model_id>``: MLflow's SQL registry resolves a
        ``models:/`` source with a *default* ``MlflowClient()`` (the global tracking URI), which
        would read or create the wrong store.
        """
        import mlflow.transformers
        from mlflow.entities import LoggedModelOutput, Metric
        from mlflow.models import Model

        from models.student import load_student

        client = self.client
        logged = client.create_logged_model(
            self._experiment(),
            name=MODEL_ARTIFACT_NAME,
            source_run_id=run_id,
            tags={"academy.model": name},
            model_type="transformers",
        )
        try:
            client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
            model, tokenizer = load_student(model_dir)
            with tempfile.TemporaryDirectory(prefix="academy-mlflow-") as tmp:
                local = Path(tmp) / MODEL_ARTIFACT_NAME
                mlflow_model = Model(
                    artifact_path=logged.artifact_location,
                    model_uuid=logged.model_id,
                    run_id=run_id,
                    model_id=logged.model_id,
                )
                mlflow.transformers.save_model(
                    {"model": model, "tokenizer": tokenizer},
                    str(local),
                    task="text-generation",
                    mlflow_model=mlflow_model,
                    pip_requirements=pip_requirements(),
                    model_card=_model_card(name, run_id),  # else MLflow asks the Hub for one
                )
                client.log_model_artifacts(logged.model_id, str(local))
            if metrics:  # final metrics, linked to the LoggedModel so its page shows them too
                now = int(time.time() * 1000)
                linked = [Metric(k, float(v), now, 0, model_id=logged.model_id) for k, v in metrics.items()]
                client.log_batch(run_id, metrics=linked, synchronous=True)
            client.finalize_logged_model(logged.model_id, "READY")
        except BaseException:
            client.finalize_logged_model(logged.model_id, "FAILED")
            raise
        return logged.model_id, logged.artifact_location

    @_wrap_errors
    def log_night(
        self,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        text_artifacts: dict[str, str],
        tags: dict[str, str] | None = None,
    ) -> str:
        """A plain run (the nightly parent run); returns its id. Student runs nest under it via
        ``register_student(parent_run_id=...)``."""
        return self.log_run(
            run_name, params, metrics, text_artifacts, {"academy.kind": "night", **(tags or {})}
        )

    def log_run(
        self,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        text_artifacts: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        step_metrics: dict[str, list[float]] | None = None,
        artifact_dir: Path | None = None,
    ) -> str:
        """A plain run with params, metrics (``step_metrics``: one value per step), text files and
        a folder of artifacts (the demo's report); returns its id."""
        client = self.client
        run = client.create_run(
            self._experiment(), tags={GIT_COMMIT_TAG: git_commit(), **(tags or {})}, run_name=run_name
        )
        run_id = run.info.run_id
        try:
            self._log_params_metrics(run_id, params, metrics, step_metrics)
            for file_name, text in (text_artifacts or {}).items():
                client.log_text(run_id, text, file_name)
            if artifact_dir is not None:
                client.log_artifacts(run_id, str(artifact_dir), artifact_dir.name)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        return run_id

    def artifact_uri(self, run_id: str) -> str:
        """Where a run's artifacts live (a local path on the embedded default)."""
        return self.client.get_run(run_id).info.artifact_uri

    def _append_transition(
        self,
        name: str,
        version: int,
        from_stage: str | None,
        to_stage: str,
        reason: str,
        metrics: dict[str, float] | None,
        rollback: bool = False,
    ) -> dict[str, Any]:
        mv = self.client.get_model_version(name, str(version))
        transitions = json.loads(mv.tags.get(TAG_TRANSITIONS) or "[]")
        entry: dict[str, Any] = {
            "from": from_stage,
            "to": to_stage,
            "reason": reason,
            "metrics": {k: float(v) for k, v in (metrics or {}).items()},
            "time": _now(),
        }
        if rollback:
            entry[TAG_ROLLBACK] = True
        transitions.append(entry)
        text = json.dumps(transitions)
        while len(text) > MAX_TAG_JSON and len(transitions) > 1:  # keep the newest
            transitions.pop(0)
            text = json.dumps(transitions)
        self.client.set_model_version_tag(name, str(version), TAG_TRANSITIONS, text)
        self.client.set_model_version_tag(name, str(version), TAG_STAGE, to_stage)
        self._audit(name, version, entry)
        return entry

    def _audit(self, name: str, version: int, entry: dict[str, Any]) -> None:
        """Promotions and rollbacks also go to the audit log (who, what, when). The actor is
        ``ACADEMY_ACTOR`` (flows set it) or the OS user. A failing audit log must not undo a
        transition the registry already made, so it only warns."""
        if self.audit_db is None:
            return
        from academy.gateway.db import GatewayDB, default_actor

        action = "registry.rollback" if entry.get(TAG_ROLLBACK) else "registry.transition"
        actor = os.environ.get("ACADEMY_ACTOR") or default_actor()
        try:
            db = GatewayDB(self.audit_db)
            try:
                db.audit(
                    actor, action, f"{name} v{version}", **{k: entry[k] for k in ("from", "to", "reason")}
                )
            finally:
                db.close()
        except Exception as exc:
            log.warning("could not write the audit log at %s: %s", self.audit_db, exc)

    def _aliased_version(self, name: str, alias: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                self._registered(name)  # unknown model -> ModelNotFound
                return None
            raise

    @_wrap_errors
    def transition(
        self,
        name: str,
        version: int,
        to_stage: str,
        reason: str,
        metrics: dict[str, float] | None = None,
    ) -> None:
        """Move a version to ``to_stage`` (see ``TRANSITIONS``), keeping aliases in step.

        Promoting to production archives the previous production version; entering staging sends
        the previous staging version back to candidate.
        """
        self._transition(name, int(version), to_stage, reason, metrics)

    def _transition(
        self,
        name: str,
        version: int,
        to_stage: str,
        reason: str,
        metrics: dict[str, float] | None,
    ) -> None:
        if to_stage not in STAGES:
            raise RegistryError(f"unknown stage {to_stage!r}; stages: {list(STAGES)}")
        mv = self._model_version(name, version)
        current = mv.tags.get(TAG_STAGE, "candidate")
        if to_stage not in TRANSITIONS.get(current, frozenset()):
            allowed = sorted(TRANSITIONS.get(current, frozenset())) or "none (terminal)"
            raise RegistryError(
                f"{name} v{version}: cannot go from {current} to {to_stage}; allowed from {current}: {allowed}"
            )
        client = self.client
        if to_stage in ALIASED_STAGES:
            previous = self._aliased_version(name, to_stage)
            if previous is not None and int(previous.version) != version:
                displaced = "archived" if to_stage == "production" else "candidate"
                why = f"v{version} took {to_stage}: {reason}"
                self._append_transition(name, int(previous.version), to_stage, displaced, why, None)
        self._append_transition(name, version, current, to_stage, reason, metrics)
        if current in ALIASED_STAGES and current != to_stage:
            holder = self._aliased_version(name, current)
            if holder is not None and int(holder.version) == version:
                client.delete_registered_model_alias(name, current)
        if to_stage in ALIASED_STAGES:
            client.set_registered_model_alias(name, to_stage, str(version))

    @_wrap_errors
    def rollback(self, name: str, reason: str = "manual rollback") -> VersionInfo:
        """Point ``@production`` back at the most recent earlier production version.

        The current production version is archived (marked as rolled back, so a second rollback
        walks further back instead of returning to it). Raises ``RegistryError`` when no earlier
        production version exists.
        """
        current = self._aliased_version(name, "production")
        if current is None:
            raise RegistryError(f"{name} has no @production version to roll back from")
        target = self._rollback_target(name, int(current.version))
        if target is None:
            raise RegistryError(
                f"{name}: nothing to roll back to (no earlier production version than v{current.version})"
            )
        self._append_transition(
            name, int(current.version), "production", "archived", f"rolled back: {reason}", None, True
        )
        self._append_transition(name, target, "archived", "production", f"rollback: {reason}", None)
        self.client.set_registered_model_alias(name, "production", str(target))
        return self._info(self.client.get_model_version(name, str(target)))

    def _rollback_target(self, name: str, current: int) -> int | None:
        best: tuple[str, int] | None = None
        for mv in self._versions(name):
            if int(mv.version) == current or mv.tags.get(TAG_STAGE) != "archived":
                continue
            transitions = json.loads(mv.tags.get(TAG_TRANSITIONS) or "[]")
            last = transitions[-1] if transitions else {}
            if last.get("from") != "production" or last.get(TAG_ROLLBACK):
                continue  # never served, or itself rolled back
            if best is None or last["time"] > best[0]:
                best = (last["time"], int(mv.version))
        return best[1] if best else None

    @_wrap_errors
    def set_served_at(self, name: str, url: str | None, version: int | None = None) -> int:
        """Say that ``url`` (an OpenAI-compatible base URL, ``http://host:port/v1``) serves ``name``
        ``version`` (default: the ``@production`` one), or with ``url=None`` that nobody does. A
        version tag, not a model tag: a server loaded one version's weights, so a newly promoted
        version is loaded by the routers again until someone serves it and tags it. Returns the
        version tagged."""
        if version is None:
            production = self._aliased_version(name, "production")
            if production is None:
                raise RegistryError(f"{name} has no @production version; pass the version to tag")
            version = int(production.version)
        mv = self._model_version(name, int(version))  # unknown version -> ModelNotFound
        if url is None:
            if TAG_SERVED_AT in mv.tags:
                self.client.delete_model_version_tag(name, str(version), TAG_SERVED_AT)
        else:
            if not url.startswith(("http://", "https://")):
                raise RegistryError(f"served-at URL must start with http:// or https://, got {url!r}")
            self.client.set_model_version_tag(name, str(version), TAG_SERVED_AT, url.rstrip("/"))
        return int(version)

    @_wrap_errors
    def set_role(self, name: str, role: str, reason: str) -> None:
        if role not in ROLES:
            raise RegistryError(f"unknown role {role!r}; roles: {list(ROLES)}")
        model = self._registered(name)
        old = model.tags.get(TAG_ROLE, "student")
        history = json.loads(model.tags.get(TAG_ROLE_HISTORY) or "[]")
        history.append({"from": old, "to": role, "reason": reason, "time": _now()})
        text = json.dumps(history)
        while len(text) > MAX_TAG_JSON and len(history) > 1:
            history.pop(0)
            text = json.dumps(history)
        self.client.set_registered_model_tag(name, TAG_ROLE_HISTORY, text)
        self.client.set_registered_model_tag(name, TAG_ROLE, role)

    @_wrap_errors
    def record_win_rate(self, name: str, night: str, win_rate: float, contested: int) -> None:
        """Record one night's judged win rate (model tag ``academy.win_rates``, oldest first); a
        night recorded again replaces its entry in place, so re-running a night is idempotent."""
        model = self._registered(name)
        rates = json.loads(model.tags.get(TAG_WIN_RATES) or "[]")
        entry = {"night": night, "win_rate": float(win_rate), "contested": int(contested), "time": _now()}
        nights = [r.get("night") for r in rates]
        if night in nights:
            rates[nights.index(night)] = entry  # keeps its place in the sequence
        else:
            rates.append(entry)
        text = json.dumps(rates)
        while len(text) > MAX_TAG_JSON and len(rates) > 1:
            rates.pop(0)
            text = json.dumps(rates)
        self.client.set_registered_model_tag(name, TAG_WIN_RATES, text)

    @_wrap_errors
    def win_rates(self, name: str) -> list[dict[str, Any]]:
        """Recorded nights as ``{"night", "win_rate", "contested", "time"}``, in recording order."""
        return json.loads(self._registered(name).tags.get(TAG_WIN_RATES) or "[]")

    # ---- reading ----------------------------------------------------------------------------------

    def _versions(self, name: str) -> list[Any]:
        escaped = name.replace("'", "\\'")
        return list(self.client.search_model_versions(f"name = '{escaped}'"))

    @_wrap_errors
    def role(self, name: str) -> str:
        return self._registered(name).tags.get(TAG_ROLE, "student")

    @_wrap_errors
    def role_history(self, name: str) -> list[dict[str, Any]]:
        return json.loads(self._registered(name).tags.get(TAG_ROLE_HISTORY) or "[]")

    @_wrap_errors
    def production(self, name: str) -> VersionInfo | None:
        mv = self._aliased_version(name, "production")
        return None if mv is None else self._info(mv)

    @_wrap_errors
    def aliased(self, name: str, alias: str) -> VersionInfo | None:
        """The version ``@alias`` points at (None: the alias is not set)."""
        mv = self._aliased_version(name, alias)
        return None if mv is None else self._info(mv)

    @_wrap_errors
    def version(self, name: str, version: int) -> VersionInfo:
        return self._info(self._model_version(name, int(version)))

    @_wrap_errors
    def history(self, name: str) -> list[dict[str, Any]]:
        """Every transition of every version of ``name``, oldest first, each with its ``version``."""
        self._registered(name)
        events = []
        for mv in self._versions(name):
            for entry in json.loads(mv.tags.get(TAG_TRANSITIONS) or "[]"):
                events.append({"version": int(mv.version), **entry})
        return sorted(events, key=lambda e: (e["time"], e["version"]))

    @_wrap_errors
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
            names += [m.name for m in page if kind is None or _kind(m) == kind]
            token = page.token
            if not token:
                return sorted(names)

    @_wrap_errors
    def kind(self, name: str) -> str:
        """``"student"`` or ``"router"`` (the registered model's ``academy.kind`` tag)."""
        return _kind(self._registered(name))

    @_wrap_errors
    def status(self) -> list[VersionInfo]:
        """Every version of every managed model, by model name then version."""
        infos: list[VersionInfo] = []
        for name in self.models():
            model = self._registered(name)
            for mv in sorted(self._versions(name), key=lambda m: int(m.version)):
                infos.append(self._info(mv, model))
        return infos

    @_wrap_errors
    def download(self, name: str, version: int, cache_dir: Path, required_file: str | None = None) -> Path:
        """Materialise a version's model into ``cache_dir/<name>/<version>/`` (once) and return it:
        an MLflow transformers-flavor directory (``MLmodel`` at its root) that the hf backend loads,
        or for a router model the folder ``QualityModel.load`` reads. ``required_file`` (default:
        ``quality_model.json`` for a router model, else ``MLmodel``) must be at the folder's root."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        if required_file is None:
            markers = {ROUTER_KIND: ROUTER_MODEL_FILE, DELEGATION_KIND: DELEGATION_FILE}
            required_file = markers.get(self.kind(name), "MLmodel")
        target = Path(cache_dir) / name / str(int(version))
        if (target / required_file).is_file():
            return target
        location = self.client.get_model_version_download_uri(name, str(int(version)))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            repo = get_artifact_repository(location, tracking_uri=self.tracking_uri)
            repo.download_artifacts("", dst_path=str(staging))
            if not (staging / required_file).is_file():
                raise RegistryError(f"{name} v{version}: no {required_file} file at {location}")
            if target.exists():  # a half-written directory from an interrupted download
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target
