"""End to end: school traffic through the router, ``nightly_evolution`` under a Prefect test
harness with temporary MLflow/LanceDB/DVC homes, then the router serving the promoted version.

One night runs once per module (about a minute on 2 cores); the tests read what it left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from academy.evolution.layout import NightLayout
from academy.evolution.snapshot import file_md5
from bench.cycle import write_config
from registry.model_registry import ModelRegistry
from tests.factories import REPO
from tests.factories.night import DOMAIN, night_config, route


@pytest.fixture(scope="module")
def night(tmp_path_factory, tiny_student_dir, embedder, prefect_harness):
    """A day of units traffic, then one nightly_evolution run."""
    from flows.nightly import nightly_evolution

    home = tmp_path_factory.mktemp("night")
    student = home / "students" / "student-1"
    shutil.copytree(tiny_student_dir, student)
    cfg = night_config(home, student)
    day, _ = route(cfg, embedder, seed=11, n=300)
    config_path = str(write_config(cfg, home / "academy.yaml"))
    started = datetime.now(UTC)
    summary = nightly_evolution(config_path=config_path, home=str(home))
    window = (started, datetime.now(UTC))  # other modules' flows publish artifacts to the same Prefect
    return {
        "cfg": cfg,
        "home": home,
        "config_path": config_path,
        "summary": summary,
        "day": day,
        "window": window,
    }


def test_night_registers_and_promotes_a_better_student(night):
    summary, cfg = night["summary"], night["cfg"]
    assert summary["bootstrapped"] == {"student-1": 1}
    assert summary["scoring"]["judged"] > 0  # familiar answers served unjudged were judged at night
    assert summary["gaps"] and {g["domain"] for g in summary["gaps"]} == {DOMAIN}
    students = {s["student"]: s for s in summary["students"]}
    student = students.pop("student-1")
    assert (student["student"], student["version"], student["stage"]) == ("student-1", 2, "production")
    before = student["evaluation"]["incumbent"]["gap_score"]
    after = student["evaluation"]["candidate"]["gap_score"]
    assert before <= 0.05 and after >= 0.2, (before, after)  # from ~0 to a real figure
    for spawned in students.values():  # clusters no student covered: a new student, gated like any other
        assert spawned["spawn"] and spawned["student"].startswith("student-")
        # A spawned student needs the lower confidence bound of its held-out accuracy at min_spawn_score.
        gate = spawned["gate"]
        passed = gate["low"] is not None and gate["low"] >= cfg.evolution.gate.min_spawn_score
        assert (spawned["stage"] == "production") == passed == gate["passed"]
    registry = ModelRegistry.from_config(cfg)
    assert registry.production("student-1").version == 2
    assert registry.version("student-1", 1).stage == "archived"
    stages = [(h["from"], h["to"]) for h in registry.history("student-1") if h.get("version", 2) == 2]
    assert ("candidate", "staging") in stages and ("staging", "production") in stages


def test_mlflow_run_records_lineage_and_losses(night):
    cfg = night["cfg"]
    registry = ModelRegistry.from_config(cfg)
    run = registry.client.get_run(registry.production("student-1").run_id)
    train_md5 = file_md5(NightLayout.of(cfg).distill / "train.parquet")
    assert run.data.params["lineage.distill/train.parquet"] == train_md5
    assert run.data.tags["mlflow.source.git.commit"]
    losses = registry.client.get_metric_history(run.info.run_id, "train_loss")
    assert len(losses) == 400 and losses[-1].value < losses[0].value
    night_runs = registry.client.search_runs([run.info.experiment_id], "tags.`academy.night` != ''")
    assert any(
        "gap_report.md" in [a.path for a in registry.client.list_artifacts(r.info.run_id)] for r in night_runs
    )


def test_gap_report_is_a_prefect_artifact(night):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["gap-report"]))
        )
    tonight = [a for a in artifacts if night["window"][0] <= a.created <= night["window"][1]]
    assert len(tonight) == 1 and tonight[0].type == "markdown"
    assert "# Knowledge gaps" in tonight[0].data and DOMAIN in tonight[0].data


def test_router_serves_the_promoted_version(night, embedder):
    cfg, day = night["cfg"], night["day"]
    served_before = Counter(r.model for r in day if r.route == "familiar")
    after, versions = route(cfg, embedder, seed=12, n=80)
    assert versions == "2"  # the watcher read @production
    served_after = Counter(r.model for r in after if r.route == "familiar")
    share = lambda c: c["student-1"] / max(sum(c.values()), 1)  # noqa: E731
    assert share(served_after) > share(served_before), (served_before, served_after)


def test_worse_candidate_is_refused_and_rollback_restores(night, embedder):
    from flows.nightly import evolve_student

    home, cfg = (
        night["home"],
        night_config(night["home"], night["home"] / "students" / "student-1", steps=1, learning_rate=1e-6),
    )
    config_path = str(write_config(cfg, home / "worse.yaml"))
    gaps = [g["cluster"] for g in night["summary"]["gaps"]]
    result = evolve_student("student-1", gaps, config_path=config_path, home=str(home))
    assert result["stage"] == "rejected" and any("margin" in r for r in result["reasons"])
    registry = ModelRegistry.from_config(cfg)
    assert registry.production("student-1").version == 2  # the refused version never served
    assert registry.rollback("student-1", "test rollback").version == 1
    _, versions = route(cfg, embedder, seed=13, n=4)
    assert versions == "1"


def test_dvc_repro_rebuilds_the_datasets_byte_for_byte(night, tmp_path):
    """`dvc repro` from the frozen snapshot gives the files the flow trained on, twice."""
    cfg = night["cfg"]
    layout = NightLayout.of(cfg)
    for link in (".venv", "academy", "models"):
        (tmp_path / link).symlink_to(REPO / link)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    local = cfg.model_copy(deep=True)
    local.paths.data = Path("datasets")
    write_config(local, tmp_path / "academy.yaml")
    shutil.copytree(layout.snapshot, tmp_path / "datasets" / "traffic")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True, env=env)
    expected = {
        n: file_md5(layout.distill / n) for n in ("train.parquet", "eval.parquet", "regression.parquet")
    }
    for force in ([], ["--force"]):
        subprocess.run([*dvc, "repro", "-q", *force, "distill_data"], cwd=tmp_path, check=True, env=env)
        rebuilt = {n: file_md5(tmp_path / "datasets" / "distill" / n) for n in expected}
        assert rebuilt == expected
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())
    outs = {o["path"]: o["md5"] for o in lock["stages"]["distill_data"]["outs"]}
    assert outs["datasets/distill/train.parquet"] == expected["train.parquet"]


def test_spawned_student_serves_only_after_passing_the_gate(night):
    """A gap no student covers gets a fresh student (shared tokenizer); too weak -> rejected."""
    from academy.evolution import steps

    cfg = night_config(night["home"], night["home"] / "students" / "student-1", steps=5)
    gaps = [night["summary"]["gaps"][0]["cluster"]]
    trained = steps.distill(cfg, "student-9", gaps, spawn=True)
    assert trained["spawn"] and trained["incumbent_version"] is None
    evaluation = steps.evaluate(cfg, "student-9")
    assert evaluation["incumbent"] is None
    assert steps.register(cfg, "student-9")["version"] == 1
    result = steps.promote(cfg, "student-9")
    assert result["stage"] == "rejected" and any("spawned" in r for r in result["reasons"])
    assert ModelRegistry.from_config(cfg).production("student-9") is None


def test_a_refused_specialist_keeps_its_region_and_trains_on_from_its_candidate(night):
    """Specialising, the next night's plan gives the region back to the refused specialist (found by
    the centre recorded with its candidate), which trains on from that candidate, not from scratch."""
    from academy.evolution import planning, steps

    cfg = night_config(night["home"], night["home"] / "students" / "student-1", steps=5)
    gaps = [night["summary"]["gaps"][0]["cluster"]]
    steps.distill(cfg, "student-8", gaps, spawn=True)
    steps.evaluate(cfg, "student-8"), steps.register(cfg, "student-8")
    assert steps.promote(cfg, "student-8")["stage"] == "rejected"
    specialising = cfg.model_copy(deep=True)
    specialising.evolution.gaps.specialise, specialising.evolution.gaps.max_students = True, 8
    assert "student-8" in planning.specialist_centres(specialising)
    plan = planning.plan(specialising)
    [owner] = [s for s, clusters in plan.items() if gaps[0] in clusters]
    assert owner in {"student-8", "student-9"}  # an earlier specialist of that region, not a new one
    assert "student-1" not in plan  # the generalist's gaps all went to specialists
    assert set(planning.spawning(specialising, plan)) == set(plan)  # none of them serves yet
    again = steps.distill(cfg, "student-8", gaps, spawn=True)
    assert again["carried"] and again["base"].endswith("carried")


def test_a_refused_specialist_gets_a_smaller_share_of_the_night_and_trains_that_many_steps(night):
    """The night's steps follow the region's savings, halved per refusal read from the registry
    (academy/evolution/step_budget.py); a candidate trains exactly its share."""
    from academy.evolution import planning, steps

    cfg = night_config(night["home"], night["home"] / "students" / "student-1", steps=8)
    cfg.evolution.gaps.specialise = True
    gaps = [night["summary"]["gaps"][0]["cluster"]]
    steps.distill(cfg, "student-7", gaps, spawn=True)
    steps.evaluate(cfg, "student-7"), steps.register(cfg, "student-7")
    assert steps.promote(cfg, "student-7")["stage"] == "rejected"
    shares = planning.step_shares(cfg, {"student-7": gaps, "student-new": gaps})
    assert sum(shares.values()) == 16 and shares["student-new"] > shares["student-7"] >= 2
    cfg.evolution.gaps.share_steps = False
    assert planning.step_shares(cfg, {"student-7": gaps, "student-new": gaps}) == {
        "student-7": 8,
        "student-new": 8,
    }
    trained = steps.distill(cfg, "student-7", gaps, spawn=True, steps=shares["student-7"])
    record = (NightLayout.of(cfg).candidate("student-7") / "train.json").read_text()
    assert trained["steps"] == shares["student-7"] and f'"steps": {shares["student-7"]}' in record
