"""The model registry: student versions, their stages, roles and lineage, on MLflow.

``ModelRegistry`` is the one class callers use; its parts live beside it:

- ``registry.core``: the vocabulary (stages, transitions, tags, kinds), errors, ``VersionInfo``,
  the MLflow connection and the read-only lookups (``production``, ``version``, ``models``, ...);
- ``registry.runs``: plain MLflow runs with params, metrics and artifacts (``log_night``, ``log_run``);
- ``registry.lifecycle``: registering versions and moving them between stages (``register_student``,
  ``transition``, ``rollback``, ``history``, ``set_served_at``), each transition audited;
- ``registry.roles``: the role ladder on models (``set_role``, ``role``, ``record_win_rate``);
- ``registry.artifacts``: downloading a version into a local cache (``download``).

MLflow 3 deprecates registry stages, so a stage here is a version tag (``academy.stage``) and the two
stages the router cares about are also **aliases**: ``@staging`` and ``@production`` point at the
versions in those stages, so ``models:/student-1@production`` is what serves. Every transition is
appended to the version tag ``academy.transitions`` (JSON) with its reason and metrics, so
``history`` reconstructs who served when and why. The model-level tag ``academy.role`` (student /
ta / teacher) says how the router treats the model; ``academy.role_history`` records changes.
Registered models created here carry ``academy.managed=true``; the router serves every managed
student's ``@production`` version (``academy.registry_watch``).

The learned router (``academy.routing.learned_router``) is versioned here too
(``register_learned_router``): a registered model tagged ``academy.kind=router`` with role "router",
whose versions are plain artifact folders (``quality_model.json`` + weights), gated and promoted
through the same stages. Models without a kind tag are students.

Transitions are audited through a callback (``audit``, an ``academy.audit.AuditSink``) so this
package never imports the gateway; ``from_config`` wires the default sink, the audit log in
``paths.home/gateway.db``. Only ``MlflowClient`` instances with explicit tracking and registry URIs
are used: nothing here sets MLflow's global tracking URI or starts a fluent run, and importing this
module loads no MLflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from academy.audit import audit_db_path
from registry.artifacts import Artifacts
from registry.core import (
    ALIASED_STAGES,
    BATCH,
    DELEGATION_FILE,
    DELEGATION_KIND,
    GIT_COMMIT_TAG,
    MAX_PARAM_LEN,
    MAX_TAG_JSON,
    MODEL_ARTIFACT_NAME,
    MODEL_VERSIONS_TAG,
    PARENT_RUN_TAG,
    PIP_PACKAGES,
    ROLES,
    ROUTER_ARTIFACT_NAME,
    ROUTER_KIND,
    ROUTER_MODEL_FILE,
    ROUTER_ROLE,
    STAGES,
    STUDENT_KIND,
    TAG_KIND,
    TAG_MANAGED,
    TAG_ROLE,
    TAG_ROLE_HISTORY,
    TAG_ROLLBACK,
    TAG_SERVED_AT,
    TAG_STAGE,
    TAG_TRANSITIONS,
    TAG_WIN_RATES,
    TRANSITIONS,
    ModelNotFound,
    RegistryError,
    VersionInfo,
)
from registry.lifecycle import Lifecycle
from registry.roles import Roles
from registry.runs import git_commit, pip_requirements

if TYPE_CHECKING:
    from academy.config import AcademyConfig

__all__ = [
    "ALIASED_STAGES",
    "BATCH",
    "DELEGATION_FILE",
    "DELEGATION_KIND",
    "GIT_COMMIT_TAG",
    "MAX_PARAM_LEN",
    "MAX_TAG_JSON",
    "MODEL_ARTIFACT_NAME",
    "MODEL_VERSIONS_TAG",
    "PARENT_RUN_TAG",
    "PIP_PACKAGES",
    "ROLES",
    "ROUTER_ARTIFACT_NAME",
    "ROUTER_KIND",
    "ROUTER_MODEL_FILE",
    "ROUTER_ROLE",
    "STAGES",
    "STUDENT_KIND",
    "TAG_KIND",
    "TAG_MANAGED",
    "TAG_ROLE",
    "TAG_ROLE_HISTORY",
    "TAG_ROLLBACK",
    "TAG_SERVED_AT",
    "TAG_STAGE",
    "TAG_TRANSITIONS",
    "TAG_WIN_RATES",
    "TRANSITIONS",
    "ModelNotFound",
    "ModelRegistry",
    "RegistryError",
    "VersionInfo",
    "git_commit",
    "pip_requirements",
]


class ModelRegistry(Lifecycle, Roles, Artifacts):
    """A typed wrapper over ``MlflowClient`` for Academy's students; see the module docstring.

    ``ModelRegistry(tracking_uri, artifact_location=None, experiment="academy-nightly",
    registry_uri=None, audit_db=None, audit=None)``: ``audit`` is called with every transition's
    ``academy.audit.AuditEvent``; without it, an ``audit_db`` path gets the default sink (that
    database's audit log), and with neither nothing is audited.
    """

    @classmethod
    def from_config(cls, cfg: AcademyConfig) -> ModelRegistry:
        """The registry ``cfg`` names, auditing into the audit log at ``paths.home/gateway.db``."""
        home = cfg.paths.home
        return cls(
            cfg.registry.resolved_tracking_uri(home),
            cfg.registry.resolved_artifact_location(home),
            cfg.registry.experiment,
            audit_db=audit_db_path(cfg),
        )

    def __repr__(self) -> str:
        return f"ModelRegistry({self.tracking_uri!r}, experiment={self.experiment!r})"
