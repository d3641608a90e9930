"""The model registry on a real MLflow (SQLite store in a temporary home) and ``academy registry``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from academy.backends.hf import HFBackend
from academy.cli import app
from academy.config import ModelConfig
from academy.gateway.db import GatewayDB
from registry.model_registry import STAGES, ModelNotFound, ModelRegistry, RegistryError, VersionInfo
from tests.factories import make_config

runner = CliRunner()
NAME = "student-1"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry-home")


@pytest.fixture(scope="module")
def config_file(home: Path) -> Path:
    """The CLI reads this file, not the repository's academy.yaml."""
    path = home / "academy.yaml"
    path.write_text(yaml.safe_dump(make_config(home).model_dump(mode="json")))
    return path


@pytest.fixture(scope="module")
def registry(home: Path) -> ModelRegistry:
    return ModelRegistry.from_config(make_config(home))


@pytest.fixture(scope="module")
def night(registry: ModelRegistry) -> str:
    return registry.log_night(
        "night-1", {"gaps": 2}, {"traffic": 300.0}, {"summary.md": "# night 1"}, tags={"night": "1"}
    )


@pytest.fixture(scope="module")
def versions(registry: ModelRegistry, tiny_student_dir: Path, night: str) -> list[VersionInfo]:
    """Three versions of one student, registered once for the module."""
    return [
        registry.register_student(
            NAME,
            tiny_student_dir,
            params={"steps": 10 * i, "learning_rate": 0.002, "domains": ["units", "reverse"]},
            metrics={"gap_score": 0.5 + i / 10, "regression_score": 0.8},
            step_metrics={"train_loss": [3.0, 2.0, 1.0 / i]},
            lineage={"dataset_md5": f"md5-{i}", "snapshot_md5": "snap"},
            tags={"night": "1"},
            text_artifacts={"gap_report.md": f"# Gaps\n\nversion {i}\n"},
            parent_run_id=night,
            run_name=f"distill-{i}",
        )
        for i in (1, 2, 3)
    ]


def test_register_logs_a_complete_run_and_a_candidate_version(registry, versions, night, tmp_path) -> None:
    v1 = versions[0]
    assert [v.version for v in versions] == [1, 2, 3]
    assert (v1.name, v1.stage, v1.aliases, v1.role) == (NAME, "candidate", [], "student")
    assert v1.metrics == {"gap_score": pytest.approx(0.6), "regression_score": 0.8, "train_loss": 1.0}
    assert v1.created and v1.run_id

    client = registry.client
    run = client.get_run(v1.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "distill-1"
    assert run.data.params["steps"] == "10" and run.data.params["domains"] == '["units", "reverse"]'
    assert run.data.params["lineage.dataset_md5"] == "md5-1"
    tags = run.data.tags
    assert tags["academy.lineage.snapshot_md5"] == "snap" and tags["night"] == "1"
    assert tags["mlflow.parentRunId"] == night
    commit = tags["mlflow.source.git.commit"]
    assert commit == "unknown" or len(commit) == 40
    history = client.get_metric_history(v1.run_id, "train_loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 3.0),
        (1, 2.0),
        (2, 1.0),
    ]
    artifacts = {a.path for a in client.list_artifacts(v1.run_id)}
    assert {"gap_report.md", "student.json"} <= artifacts
    report = Path(client.download_artifacts(v1.run_id, "gap_report.md", str(tmp_path)))
    assert report.read_text() == "# Gaps\n\nversion 1\n"

    # MLflow 3: the model is a LoggedModel of the run; the version points at its artifacts.
    mv = client.get_model_version(NAME, "1")
    logged = client.get_logged_model(mv.tags["academy.model_id"])
    assert logged.source_run_id == v1.run_id and mv.source == logged.artifact_location
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": NAME, "version": "1"}]
    assert client.get_registered_model(NAME).tags["academy.managed"] == "true"

    parent = client.get_run(night)
    assert parent.data.params["gaps"] == "2" and parent.data.metrics["traffic"] == 300.0
    assert registry.version(NAME, 2).metrics["gap_score"] == pytest.approx(0.7)


def test_lifecycle_aliases_history_rollback_and_invalid_moves(registry, versions) -> None:
    assert registry.production(NAME) is None
    registry.transition(NAME, 1, "staging", "gate passed", {"gap_score": 0.6})
    assert registry.version(NAME, 1).aliases == ["staging"]
    registry.transition(NAME, 1, "production", "first production")
    v1 = registry.production(NAME)
    assert (v1.version, v1.stage, v1.aliases) == (1, "production", ["production"])

    registry.transition(NAME, 2, "staging", "gate passed")
    registry.transition(NAME, 2, "production", "beats v1 by 0.1", {"gap_score": 0.7})
    assert registry.production(NAME).version == 2
    old = registry.version(NAME, 1)
    assert (old.stage, old.aliases) == ("archived", [])

    history = registry.history(NAME)
    moves = [(e["version"], e["from"], e["to"]) for e in history]
    assert moves[:3] == [(1, None, "candidate"), (2, None, "candidate"), (3, None, "candidate")]
    assert moves[3:] == [
        (1, "candidate", "staging"),
        (1, "staging", "production"),
        (2, "candidate", "staging"),
        (1, "production", "archived"),
        (2, "staging", "production"),
    ]
    assert history[4]["reason"] == "first production" and history[3]["metrics"] == {"gap_score": 0.6}
    assert "beats v1" in history[-2]["reason"]
    assert [e["time"] for e in history] == sorted(e["time"] for e in history)

    with pytest.raises(RegistryError, match="cannot go from candidate to production"):
        registry.transition(NAME, 3, "production", "skip the gate")
    with pytest.raises(RegistryError, match="unknown stage"):
        registry.transition(NAME, 3, "shipped", "typo")
    registry.transition(NAME, 3, "rejected", "regressed on units by 0.2")
    with pytest.raises(RegistryError, match="cannot go from rejected"):
        registry.transition(NAME, 3, "staging", "second chance")

    restored = registry.rollback(NAME, "v2 answers garbage")
    assert (restored.version, restored.stage, restored.aliases) == (1, "production", ["production"])
    assert registry.version(NAME, 2).stage == "archived"
    last = registry.history(NAME)[-2:]
    assert [(e["version"], e["from"], e["to"]) for e in last] == [
        (2, "production", "archived"),
        (1, "archived", "production"),
    ]
    assert all("v2 answers garbage" in e["reason"] for e in last)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback(NAME)  # v2 was rolled back from, v1 has nothing earlier

    status = registry.status()
    assert [(v.name, v.version, v.stage) for v in status] == [
        (NAME, 1, "production"),
        (NAME, 2, "archived"),
        (NAME, 3, "rejected"),
    ]
    assert [v.aliases for v in status] == [["production"], [], []]
    assert {v.stage for v in status} <= set(STAGES) and registry.models() == [NAME]

    # every promotion and rollback is also in the audit log: who, what, when
    audit = GatewayDB(registry.audit_db).audit_log(limit=1000, action="registry.")
    promoted = [e for e in audit if e["target"] == f"{NAME} v2" and e["details"]["to"] == "production"]
    assert promoted and promoted[0]["details"]["reason"] == "beats v1 by 0.1"
    rollbacks = [e for e in audit if e["action"] == "registry.rollback"]
    assert [e["target"] for e in rollbacks] == [f"{NAME} v2"] and "v2 answers garbage" in rollbacks[0][
        "details"
    ]["reason"]
    assert all(e["actor"] and e["ts"] for e in audit) and len(audit) == len(registry.history(NAME))


def test_roles_and_unknown_models(registry, versions) -> None:
    assert registry.role(NAME) == "student"
    registry.set_role(NAME, "ta", "won 65% of judged answers for 2 nights")
    assert registry.role(NAME) == "ta" and registry.version(NAME, 1).role == "ta"
    assert registry.role_history(NAME)[-1]["reason"].startswith("won 65%")
    registry.set_role(NAME, "student", "back to student for the other tests")
    registry.record_win_rate(NAME, "2026-01-01", 0.5, 80)
    registry.record_win_rate(NAME, "2026-01-02", 0.6, 90)
    registry.record_win_rate(NAME, "2026-01-01", 0.55, 81)  # a night re-run replaces its entry
    rates = [(r["night"], r["win_rate"], r["contested"]) for r in registry.win_rates(NAME)]
    assert rates == [("2026-01-01", 0.55, 81), ("2026-01-02", 0.6, 90)]
    with pytest.raises(RegistryError, match="unknown role"):
        registry.set_role(NAME, "dean", "no such role")
    with pytest.raises(ModelNotFound, match="nobody"):
        registry.production("nobody")
    with pytest.raises(ModelNotFound, match="no version 9"):
        registry.version(NAME, 9)


def test_downloaded_version_loads_in_the_hf_backend(registry, versions, tiny_student_dir, tmp_path) -> None:
    path = registry.download(NAME, 1, tmp_path / "cache")
    assert path == tmp_path / "cache" / NAME / "1" and (path / "MLmodel").is_file()
    assert registry.download(NAME, 1, tmp_path / "cache") == path  # cached: no second download
    requirements = (path / "requirements.txt").read_text()
    assert "transformers==" in requirements and "torchvision" not in requirements

    config = ModelConfig(name=NAME, backend="hf", price_in=0.05, price_out=0.1, options={"path": str(path)})
    backend = HFBackend(config)
    assert backend.version is None
    [served] = backend.generate(["What is 2 + 3?"])
    [local] = HFBackend(config.model_copy(update={"options": {"path": str(tiny_student_dir)}})).generate(
        ["What is 2 + 3?"]
    )
    assert served.error is None and served.text == local.text
    backend.reload(str(path), version="1")
    assert backend.version == "1" and backend.generate(["What is 2 + 3?"])[0].extra["version"] == "1"


def test_cli_status_and_rollback(registry, versions, config_file: Path) -> None:
    cfg = ["--config", str(config_file)]
    # one more production move so that the CLI has something to roll back
    if registry.production(NAME).version == 1:
        registry.transition(NAME, 2, "production", "re-promoted after a fix")
    result = runner.invoke(app, ["registry", "status", *cfg, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["version"], r["stage"]) for r in rows] == [(1, "archived"), (2, "production"), (3, "rejected")]

    result = runner.invoke(app, ["registry", "status", *cfg], env={"COLUMNS": "160"})
    assert result.exit_code == 0 and "production" in result.output and "gap_score=0.7" in result.output

    result = runner.invoke(app, ["registry", "rollback", NAME, *cfg, "--reason", "bad night"])
    assert result.exit_code == 0, result.output
    assert f"{NAME}: @production v2 -> v1 (bad night)" in result.output

    for args in (["rollback", "nobody"], ["rollback", NAME]):  # unknown model; nothing left to roll back
        result = runner.invoke(app, ["registry", *args, *cfg])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "nobody" in runner.invoke(app, ["registry", "rollback", "nobody", *cfg]).output


def test_cli_on_a_home_without_a_registry(tmp_path: Path, config_file: Path) -> None:
    cfg = ["--config", str(config_file), "--home", str(tmp_path)]
    result = runner.invoke(app, ["registry", "status", *cfg])
    assert result.exit_code == 0 and "no models registered yet" in result.output
    result = runner.invoke(app, ["registry", "rollback", NAME, *cfg])
    assert result.exit_code == 2 and "no registry" in result.output
    assert not (tmp_path / "mlflow.db").exists()  # reading never creates a store
