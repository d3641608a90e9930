"""A version's life: registration, stage transitions with their aliases, rollback, who serves it.

Stages (``academy.stage`` version tag; ``@staging`` and ``@production`` are also aliases)::

    candidate -> staging -> production -> archived (automatic, when another version takes production)
    candidate | staging -> rejected;     archived -> production (``rollback``)

Guarantees: only the moves in ``registry.core.TRANSITIONS`` happen; an aliased stage has at most one
version and its alias points at it; every transition, the implicit ones included, is appended to
the version tag ``academy.transitions`` (JSON: from, to, reason, metrics, time) and handed to the
registry's audit sink as an ``academy.audit.AuditEvent`` (``registry.transition`` or
``registry.rollback``, actor ``ACADEMY_ACTOR`` or the OS user). A failing audit sink only warns: it
must not undo a transition the registry already made.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from academy.audit import AuditEvent, default_actor
from academy.roles import DEFAULT_ROLE
from registry.core import (
    ALIASED_STAGES,
    GIT_COMMIT_TAG,
    MODEL_VERSIONS_TAG,
    PARENT_RUN_TAG,
    ROLES,
    ROUTER_ARTIFACT_NAME,
    ROUTER_KIND,
    ROUTER_MODEL_FILE,
    ROUTER_ROLE,
    STAGES,
    TAG_KIND,
    TAG_ROLLBACK,
    TAG_SERVED_AT,
    TAG_STAGE,
    TAG_TRANSITIONS,
    TRANSITIONS,
    RegistryError,
    VersionInfo,
    capped_json,
    now_iso,
    wrap_errors,
)
from registry.runs import RunLogging, git_commit

log = logging.getLogger(__name__)


class Lifecycle(RunLogging):
    """Registering versions and moving them between stages; see the module docstring."""

    # ---- registering ------------------------------------------------------------------------------

    @wrap_errors
    def register_student(
        self,
        name: str,
        model_dir: Path,
        *,
        role: str = DEFAULT_ROLE,
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

    def register_learned_router(
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

    @wrap_errors
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

    # ---- transitions ------------------------------------------------------------------------------

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
            "time": now_iso(),
        }
        if rollback:
            entry[TAG_ROLLBACK] = True
        transitions.append(entry)
        text = capped_json(transitions)  # keeps the newest
        self.client.set_model_version_tag(name, str(version), TAG_TRANSITIONS, text)
        self.client.set_model_version_tag(name, str(version), TAG_STAGE, to_stage)
        self._audit(name, version, entry)
        return entry

    def _audit(self, name: str, version: int, entry: dict[str, Any]) -> None:
        """Promotions and rollbacks also go to the audit sink (who, what, when). The actor is
        ``ACADEMY_ACTOR`` (flows set it) or the OS user. A failing audit sink must not undo a
        transition the registry already made, so it only warns."""
        if self.audit is None:
            return
        action = "registry.rollback" if entry.get(TAG_ROLLBACK) else "registry.transition"
        actor = os.environ.get("ACADEMY_ACTOR") or default_actor()
        details = {k: entry[k] for k in ("from", "to", "reason")}
        try:
            self.audit(AuditEvent(actor, action, f"{name} v{version}", details))
        except Exception as exc:
            log.warning("could not write the audit log at %s: %s", self.audit, exc)

    @wrap_errors
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

    @wrap_errors
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

    @wrap_errors
    def history(self, name: str) -> list[dict[str, Any]]:
        """Every transition of every version of ``name``, oldest first, each with its ``version``."""
        self._registered(name)
        events = []
        for mv in self._versions(name):
            for entry in json.loads(mv.tags.get(TAG_TRANSITIONS) or "[]"):
                events.append({"version": int(mv.version), **entry})
        return sorted(events, key=lambda e: (e["time"], e["version"]))

    # ---- serving ----------------------------------------------------------------------------------

    @wrap_errors
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
