"""Materialising a registered version's files into a local cache folder.

``download`` copies a version's artifacts once into ``cache_dir/<name>/<version>/`` and returns
that folder. The copy lands in a temporary sibling folder first and is moved into place only when
the version's marker file is there, so a reader never sees a half-written version and an
interrupted download is redone on the next call.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from registry.core import (
    DELEGATION_FILE,
    DELEGATION_KIND,
    ROUTER_KIND,
    ROUTER_MODEL_FILE,
    RegistryCore,
    RegistryError,
    wrap_errors,
)


class Artifacts(RegistryCore):
    """Downloading versions into a local cache; see the module docstring."""

    @wrap_errors
    def download(self, name: str, version: int, cache_dir: Path, required_file: str | None = None) -> Path:
        """Materialise a version's model into ``cache_dir/<name>/<version>/`` (once) and return it:
        an MLflow transformers-flavor directory (``MLmodel`` at its root) that the hf backend loads,
        or for a router model the folder ``LearnedRouter.load`` reads. ``required_file`` (default:
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
