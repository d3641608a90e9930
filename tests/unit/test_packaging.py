"""pyproject.toml states loose lower bounds per part (extras); requirements.lock pins every one of them
exactly, and `make install` installs the lock (after torch's CPU wheel). `make lock` regenerates it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
PARTS = ("serving", "training", "flows", "cluster")


def lock() -> dict[str, Version]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, version = line.split(";")[0].strip().split("==")
            assert canonicalize_name(name) not in pins, f"{name} pinned twice"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def requirements(extra: str | None) -> list[Requirement]:
    """The core's (None) or an extra's requirements, with the extras it names of this project."""
    reqs = [Requirement(r) for r in (PROJECT["dependencies"] if extra is None else EXTRAS[extra])]
    own = [r for r in reqs if canonicalize_name(r.name) == PROJECT["name"]]
    return [r for r in reqs if r not in own] + [x for r in own for e in r.extras for x in requirements(e)]


def names(reqs: list[str]) -> list[str]:
    return [canonicalize_name(Requirement(r).name) for r in reqs]


@pytest.mark.parametrize("extra", [None, *EXTRAS])
def test_no_requirement_is_listed_twice(extra):
    listed = names(PROJECT["dependencies"] if extra is None else EXTRAS[extra])
    assert len(listed) == len(set(listed)), f"{extra or 'dependencies'} lists a package twice: {listed}"
    if extra is not None:  # an extra adds to the core, never restates it
        assert not set(listed) & set(names(PROJECT["dependencies"])), extra


@pytest.mark.parametrize("extra", [None, *EXTRAS])
def test_every_requirement_is_pinned_in_the_lock_within_its_bounds(extra):
    pins = lock()
    for req in requirements(extra):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} ([{extra}]) is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"lock pins {name}=={pins[name]}, not {req}"
        )
        assert not re.search(r"==|===", str(req.specifier)), f"pin {req} in requirements.lock, not pyproject"


def test_all_is_every_part_and_dev_has_the_tools():
    assert {r.name for r in requirements("all")} == {r.name for p in PARTS for r in requirements(p)}
    assert {"pytest", "ruff", "import-linter"} <= {r.name for r in requirements("dev")}


def test_the_lock_pins_torch_cpu_and_no_cuda():
    pins = lock()
    assert pins["torch"].local == "cpu"
    assert not [n for n in pins if n.startswith("nvidia-")]


def test_make_install_installs_the_lock():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^LOCK\s*:=\s*requirements\.lock$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\):.*\$\(LOCK\)", makefile, re.M)  # a new lock reinstalls
    assert "pip install --quiet -r $(LOCK)" in makefile and "--no-deps -e ." in makefile
