"""`academy demo` end to end: the quick run on the shipped config, and a user's trace with domains the
school does not know. The week's plan and accounting: tests/unit/test_demo.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from academy.cli import app
from academy.simulation.report import PLOTS
from tests.factories import REPO, make_config

runner = CliRunner()


def run_demo_cli(args: list[str]) -> dict:
    result = runner.invoke(app, ["demo", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_result_shape(result: dict, days: int) -> None:
    assert result["days"] == days and result["wall_seconds"] > 0
    for figure in ("cost_ratio", "quality_ratio"):
        assert set(result[figure]) == {"last_day", "overall"}
        for baseline in ("always_teacher", "static", "best_single_student", "oracle"):
            assert set(result["baselines"][baseline][figure]) == {"last_day", "overall"}
    assert result["baselines"]["always_teacher"]["cost_ratio"]["overall"] == pytest.approx(1.0)
    report = Path(result["report"])
    assert report.is_file() and all((report.parent / name).is_file() for name in PLOTS)


@pytest.fixture(scope="module")
def quick_week(tmp_path_factory, prefect_harness):
    home = tmp_path_factory.mktemp("quick") / "demo"
    return run_demo_cli(["--quick", "--config", str(REPO / "academy.yaml"), "--home", str(home)])


def test_quick_demo_runs_a_week_with_a_night_and_baselines(quick_week):
    check_result_shape(quick_week, days=2)
    day1, day2 = quick_week["per_day"]
    assert "capitals" not in day1["domains"] and day2["domains"].get("capitals", 0) > 0
    assert day1["academy"]["judge_calls"]["online"] > 0 and day1["academy"]["training_seconds"] > 0
    assert day1["academy"]["training_cpu_seconds"] > 0 and day2["academy"]["training_cpu_seconds"] > 0
    assert set(day1["academy"]["cost"]) == {"answers", "judge", "training", "practice"}
    # Night 1 ran nightly_evolution; whether 100 queries make a gap of min_queries is the traffic's
    # business, but every student it trained is a new registered version on the timeline.
    assert day1["night"]["seconds"] > 0 and day1["night"]["cpu_seconds"] > 0
    students = day1["night"]["students"]
    assert all(s["spawn"] or s["version"] >= 2 for s in students)
    trained = {(s["student"], s["version"]) for s in students}
    assert trained == {
        (e["model"], e["version"]) for e in quick_week["timeline"] if e["day"] == 1 and e["version"]
    }
    assert day2["night"] is None and day2["academy"]["judge_calls"]["nightly"] >= 0
    for day in (day1, day2):
        teacher, oracle = day["policies"]["always_teacher"], day["policies"]["oracle"]
        assert oracle["cost"] <= teacher["cost"] + 1e-12 and oracle["quality"] >= teacher["quality"] - 1e-12
        assert sum(day["academy"]["served_by_model"].values()) == day["queries"]


def test_quick_demo_report_is_in_mlflow_and_linked_from_prefect(quick_week):
    from mlflow import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    home = Path(quick_week["home"])
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    run = client.get_run(quick_week["mlflow_run_id"])
    assert run.data.tags["academy.kind"] == "demo"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "report")} >= {
        f"report/{name}" for name in (*PLOTS, "report.html")
    }
    with get_client(sync_client=True) as prefect:
        links = prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["demo-report"]))
        )
    # Prefect 3 stores a link artifact as markdown: [text](link)
    assert links and f"({Path(quick_week['report']).resolve().as_uri()})" in links[0].data


def test_demo_replays_a_trace_of_domains_the_school_does_not_know(tmp_path, prefect_harness):
    trace = tmp_path / "trace.jsonl"
    colours = ["red", "blue", "green", "yellow", "purple", "orange"]
    rows = [
        {"query": f"Which colour is paint pot number {i}?", "reference": colours[i % 6], "domain": "paint"}
        for i in range(60)
    ]
    trace.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = make_config(tmp_path, Path("students/student-1"))  # relative: created in the demo's home
    cfg.demo.night_steps, cfg.demo.warm_start_steps = 10, 10
    cfg.evolution.gaps.min_queries = 3
    config_file = tmp_path / "academy.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    result = run_demo_cli(
        [
            "--config",
            str(config_file),
            "--home",
            str(tmp_path / "demo"),
            "--traffic",
            str(trace),
            "--days",
            "2",
            "--queries",
            "30",
        ]
    )
    check_result_shape(result, days=2)
    assert [d["domains"] for d in result["per_day"]] == [{"paint": 30}, {"paint": 30}]
    assert result["per_day"][0]["policies"]["always_teacher"]["quality"] == pytest.approx(1.0)  # error_rate 0
    saved = json.loads((Path(result["report"]).parent / "summary.json").read_text())
    assert set(saved["per_day"][1]["academy"]["domain_quality"]) == {"paint"}


def test_demo_rejects_a_bad_trace_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = runner.invoke(app, ["demo", "--traffic", str(bad), "--home", str(tmp_path / "demo")])
    assert result.exit_code == 2 and "invalid trace" in result.output and "Traceback" not in result.output
