"""MLflow runs: params, metrics, text files and artifacts, and a student's transformers-flavor model.

``RunLogging`` writes plain runs (the nightly parent run, the demo's, the benchmarks') and the
pieces ``registry.lifecycle`` needs to register a version: batched params and metrics, and a
student saved as an MLflow 3 LoggedModel. Every run is tagged with the code's git commit. A run
that fails part-way is marked FAILED, never left RUNNING.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from registry.core import (
    BATCH,
    GIT_COMMIT_TAG,
    MAX_PARAM_LEN,
    MODEL_ARTIFACT_NAME,
    PIP_PACKAGES,
    RegistryCore,
    wrap_errors,
)

T = TypeVar("T")


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


class RunLogging(RegistryCore):
    """Plain runs and the logging helpers registration uses; see the module docstring."""

    @wrap_errors
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
