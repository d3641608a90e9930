"""A built wheel holds every package of the project (a module split into a package included) and
its package data, and nothing from tests/ or datasets/."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.factories import REPO


def test_the_wheel_holds_every_package_and_its_data(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("academy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        p.parent.relative_to(REPO).as_posix()
        for root in ("academy", "models", "registry", "flows", "tasks", "bench")
        for p in (REPO / root).rglob("__init__.py")
        if "results" not in p.parts
    )
    assert packages and all(f"{package}/__init__.py" in names for package in packages)
    assert "academy/cli/__main__.py" in names  # python -m academy.cli
    assert any(n.startswith("academy/metrics/token_f1/") for n in names)  # the local evaluate modules
    assert any(n.startswith("academy/dashboard/static/") for n in names)
    assert not any(n.startswith(("tests/", "datasets/")) for n in names)
