"""HFBackend's refusals without a trained student: a missing path, a broken model folder, unknown
options (academy/backends/hf.py). Serving a trained tiny student: tests/integration/test_hf_backend.py."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the Hub

from academy.backends.hf import BackendError, HFBackend  # noqa: E402
from tests.factories.hf_backend import model_config  # noqa: E402


def test_unknown_path_raises_backend_error_naming_it(tmp_path: Path) -> None:
    backend = HFBackend(model_config("students/missing"), home=tmp_path)
    expected = str(tmp_path / "students" / "missing")
    with pytest.raises(BackendError, match="students/missing") as info:
        backend.load()
    assert expected in str(info.value)
    # agenerate keeps the Backend contract (never raises): every prompt gets an error completion.
    completions = asyncio.run(backend.agenerate(["a", "b"]))
    assert [c.text for c in completions] == ["", ""]
    assert all(c.error and expected in c.error and c.cost == 0 for c in completions)
    asyncio.run(backend.aclose())


def test_broken_model_dir_raises_backend_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(BackendError, match=str(broken)):
        HFBackend(model_config(str(broken)), home=tmp_path).load()


def test_options_are_checked() -> None:
    with pytest.raises(BackendError, match="max_new_token"):
        HFBackend(model_config(max_new_token=5))
    with pytest.raises(BackendError, match="options.path"):
        HFBackend(model_config(""))
