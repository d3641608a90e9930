"""The CLI's commands and error paths (the demo itself: tests/test_demo.py)."""

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from academy.cli import app

runner = CliRunner()


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
