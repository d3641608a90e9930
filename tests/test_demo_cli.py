"""The demo end to end on a temporary home, and the CLI's commands and error paths."""

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from academy.cli import app
from academy.demo import run_demo
from tests.conftest import make_config

runner = CliRunner()


def test_demo_day_runs_through_http_and_accounts_for_every_query(tmp_path):
    cfg = make_config(tmp_path, tmp_path / "students" / "student-1")
    cfg.demo.queries = 30
    console = Console(record=True, width=140)
    report = run_demo(cfg, console=console)
    assert (tmp_path / "students" / "student-1" / "config.json").exists()  # created on the fly
    assert len(report.routes) == 30 and len(report.served_by) == 30 and len(report.academy_costs) == 30
    assert "novel" in report.routes
    assert [t["queries"] for t in report.thirds()] == [10, 10, 10]
    assert report.thirds()[0]["novel_share"] >= report.thirds()[2]["novel_share"]
    assert report.academy_cost > 0 and report.teacher_cost > 0
    assert 0.9 <= report.teacher_quality <= 1.0  # the teacher here makes no mistakes
    assert 0.0 <= report.academy_quality <= 1.0
    text = console.export_text()
    assert "cost vs always-teacher" in text and "route novel" in text and "third 3" in text


def test_demo_replays_a_users_trace(tmp_path):
    trace = tmp_path / "trace.jsonl"
    rows = [{"query": f"What colour is fruit number {i}?", "reference": "red"} for i in range(6)]
    trace.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = make_config(tmp_path)
    report = run_demo(cfg, trace, console=Console(record=True))
    assert report.queries == 6 and report.teacher_quality == 1.0 and report.academy_quality == 1.0


def test_school_export_and_check(tmp_path):
    out = tmp_path / "t.jsonl"
    result = runner.invoke(app, ["school", "export", str(out), "-n", "12", "--domain", "units"])
    assert result.exit_code == 0, result.output
    assert all(json.loads(line)["domain"] == "units" for line in out.read_text().splitlines())
    checked = runner.invoke(app, ["school", "check", str(out)])
    assert checked.exit_code == 0 and "12 examples" in checked.output


def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q"}\n')
    checked = runner.invoke(app, ["school", "check", str(bad)])
    assert checked.exit_code == 2 and "bad.jsonl:1" in checked.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("router: {novel_similarity: 7}\n")
    result = runner.invoke(app, ["demo", "--config", str(broken)])
    assert result.exit_code == 2 and "config error" in result.output
    unknown = runner.invoke(app, ["school", "export", str(tmp_path / "x.jsonl"), "--domain", "poetry"])
    assert unknown.exit_code == 2 and "poetry" in unknown.output
    assert "Traceback" not in checked.output + result.output + unknown.output


def test_ask_without_a_server_says_so():
    result = runner.invoke(app, ["ask", "hi", "--url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 1 and "academy serve" in result.output


def test_installed_entry_point_runs():
    academy = Path(sys.executable).parent / "academy"
    out = subprocess.run([str(academy), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "ask", "demo", "student", "school", "bench", "sim-api"):
        assert command in out
