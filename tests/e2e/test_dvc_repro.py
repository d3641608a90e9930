"""DVC as its users run it, in temporary clones: what a git clone holds (dvc.yaml, dvc.lock,
academy.yaml, .dvcignore, .dvc/config) plus links to the code and the venv.

* the committed dvc.lock records the current code and params of the stages it holds;
* ``dvc repro`` on a fresh clone (no night yet) says what to run first and runs through, exit 0;
* ``dvc push`` to the embedded home's remote, ``dvc pull`` in another clone: the same bytes;
* ``dvc metrics show`` / ``dvc plots show`` read the gap report and the nightly gate's figures.

A night's datasets rebuilt byte for byte by ``dvc repro`` are tested on a real night in
test_nightly.py (``test_dvc_repro_rebuilds_the_datasets_byte_for_byte``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from academy.evolution.promotion import GateDecision, GroupCheck

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
CLONED = ("dvc.yaml", "dvc.lock", "academy.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore")
LINKED = (".venv", "academy", "models")
DVC = [sys.executable, "-m", "dvc"]


def clone(path: Path, lock: Path | None = None) -> Path:
    """A fresh clone's tracked DVC files at ``path`` (``lock``: another dvc.lock than the repo's)."""
    path.mkdir(parents=True)
    for name in CLONED:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, path / name)
    if lock is not None:
        shutil.copy(lock, path / "dvc.lock")
    for name in LINKED:
        (path / name).symlink_to(REPO / name)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    return path


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ACADEMY_CONFIG"} | {"DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([*DVC, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


def outputs(lock: Path) -> list[str]:
    stages = yaml.safe_load(lock.read_text())["stages"]
    return [o["path"] for stage in stages.values() for o in stage.get("outs", [])]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_dvc_lock_records_the_current_code_and_params(tmp_path):
    """Fails when a stage's code or params changed since dvc.lock: run `make dvc-lock`."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "school_trace" in lock and set(lock) <= set(stages)
    status = json.loads(dvc(clone(tmp_path / "clone"), "status", "--json", *lock).stdout or "{}")
    stale = {
        stage: change
        for stage, changes in status.items()
        for change in changes
        if isinstance(change, str)  # e.g. "changed checksum"
        or "changed command" in change
        or any(not str(dep).startswith("datasets/") for dep in change.get("changed deps", {}))
    }
    assert not stale, f"dvc.lock is stale, run `make dvc-lock`: {stale}"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh clone after `dvc repro` (no night has run: the traffic store is empty)."""
    path = clone(tmp_path_factory.mktemp("dvc") / "fresh")
    return path, dvc(path, "repro")


def test_repro_on_a_fresh_clone_says_what_to_run_first(fresh):
    path, done = fresh
    assert "run a night first" in done.stdout and "academy evolve run" in done.stdout
    for out in outputs(path / "dvc.lock"):
        assert (path / out).is_file(), out
    assert json.loads(dvc(path, "status", "--json").stdout or "{}") == {}
    rerun = dvc(path, "repro").stdout
    assert "run a night first" not in rerun  # the snapshot is kept, never re-exported


def test_push_then_pull_moves_the_datasets_to_another_clone(fresh, tmp_path):
    path, _ = fresh
    config = dict(line.split("=", 1) for line in dvc(path, "config", "--list").stdout.splitlines())
    assert config["remote.cluster.url"].startswith("s3://")  # the cluster profile's placeholder
    remote = config[f"remote.{config['core.remote']}.url"]  # the default: the embedded home's folder
    assert Path(remote) == path / ".academy" / "dvc-remote"
    dvc(path, "push")
    other = clone(tmp_path / "other", lock=path / "dvc.lock")
    dvc(other, "remote", "modify", "--local", config["core.remote"], "url", remote)
    dvc(other, "pull")
    outs = outputs(path / "dvc.lock")
    assert {o for o in outs if o.startswith("datasets/distill/")}  # the night's datasets among them
    assert {o: md5(other / o) for o in outs} == {o: md5(path / o) for o in outs}
    assert json.loads(dvc(other, "status", "--json").stdout or "{}") == {}


def test_metrics_and_plots_show_the_gap_report_and_the_gate(fresh):
    path, _ = fresh
    candidate = path / ".academy" / "nightly" / "candidates" / "student-1"
    groups = [
        asdict(GroupCheck("3", 30, 0, 3, 0.1, 0.2, False)),
        asdict(GroupCheck("7", 20, 1, 2, 0.05, 0.15, False)),
    ]
    decision = GateDecision(True, ["gain"], n=80, b=2, c=30, difference=0.35, low=0.25, groups=groups)
    promotion = {"student": "student-1", "version": 2, "stage": "production", "gate": decision.evidence()}
    (candidate / "model").mkdir(parents=True)
    (candidate / "promotion.json").write_text(json.dumps(promotion))
    (candidate / "train.json").write_text(json.dumps({"stats": {"train_seconds": 1.0}}))
    (candidate / "model" / "config.json").write_text("{}")
    try:
        (workspace,) = json.loads(dvc(path, "metrics", "show", "--json").stdout).values()
        metrics = workspace["data"]
        plots = json.loads(dvc(path, "plots", "show", "--json").stdout)["data"]
    finally:
        shutil.rmtree(path / ".academy" / "nightly")
    assert metrics["datasets/gaps/gaps.json"]["data"]["quality_gate"] == 0.9
    gate = metrics[".academy/nightly/candidates/student-1/promotion.json"]["data"]["gate"]
    assert (gate["n"], gate["difference"], gate["low"]) == (80, 0.35, 0.25)
    assert not any("train.json" in m or "model" in m for m in metrics)  # .dvcignore: only promotion.json
    (plot,) = plots[".academy/nightly/candidates/student-1/promotion.json"]
    assert [p["group"] for p in plot["content"]["data"]["values"]] == ["3", "7"]
