"""The nightly flow fanned out on a Dask task runner (a local cluster of 2 worker processes) reaches
the same registry outcome and the same DVC datasets as the sequential runner, from the same day."""

from __future__ import annotations

import shutil
from pathlib import Path

from academy.config import AcademyConfig
from bench.cycle import write_config
from registry.model_registry import ModelRegistry
from tests.factories.night import night_config, route


def run_night(cfg: AcademyConfig, home: Path) -> tuple[dict, list[tuple[str, int, str]]]:
    from flows.nightly import nightly_evolution

    config_path = str(write_config(cfg, home / "academy.yaml"))
    summary = nightly_evolution(config_path=config_path, home=str(home))  # runner: cfg.execution
    status = [(v.name, v.version, v.stage) for v in ModelRegistry.from_config(cfg).status()]
    return summary, status


def with_runner(cfg: AcademyConfig, home: Path, runner: str) -> AcademyConfig:
    data = cfg.model_dump(mode="json")
    data["paths"] = {"home": str(home), "data": str(home / "datasets")}
    data["models"][1]["options"]["path"] = str(home / "students" / "student-1")
    data["execution"] = {"task_runner": runner, "dask_workers": 2}
    return AcademyConfig.model_validate(data)


def test_dask_night_matches_the_sequential_night(tmp_path, tiny_student_dir, embedder, prefect_harness):
    day_home = tmp_path / "day"
    shutil.copytree(tiny_student_dir, day_home / "students" / "student-1")
    cfg = night_config(day_home, day_home / "students" / "student-1", steps=10)
    route(cfg, embedder, seed=11, n=90)
    outcomes = {}
    for runner in ("sequential", "dask"):
        home = tmp_path / runner
        shutil.copytree(day_home, home)
        outcomes[runner] = run_night(with_runner(cfg, home, runner), home)
    (seq, seq_status), (dask, dask_status) = outcomes["sequential"], outcomes["dask"]
    assert dask_status == seq_status and seq_status  # same versions in the same stages
    assert dask["lineage"] == seq["lineage"]  # byte-identical datasets (md5 per file)
    assert dask["gaps"] == seq["gaps"]
    keys = ("student", "version", "stage", "gaps", "spawn")
    assert [{k: s[k] for k in keys} for s in dask["students"]] == [
        {k: s[k] for k in keys} for s in seq["students"]
    ]
    assert [s["evaluation"]["candidate"] for s in dask["students"]] == [
        s["evaluation"]["candidate"] for s in seq["students"]
    ]
