"""The CLI's commands and error paths, in process (the entry point as a subprocess:
tests/e2e/test_demo_cli.py; the demo itself: tests/e2e/test_demo.py)."""

import json

import yaml
from typer.testing import CliRunner

from academy.cli import app
from academy.config import load_config
from academy.simulation import accounting as acc
from academy.simulation import week
from academy.simulation.day import Answers
from tests.factories import REPO

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


def test_demo_seed_flag_is_the_same_as_editing_demo_seed(tmp_path, monkeypatch):
    """`academy demo --seed 7` builds exactly the config a file with demo.seed 7 gives (stopped
    before the week starts), its traffic differs from seed 0's, and the JSON's settings show it."""
    import flows.demo

    built = {}

    def stop_before_the_week(cfg):
        built["cfg"] = cfg
        raise ValueError("stopped before the week")

    monkeypatch.setattr(flows.demo, "simulated_week", flows.demo.simulated_week.fn)  # no Prefect run
    monkeypatch.setattr(flows.demo.t, "prepare_demo", stop_before_the_week)
    home = tmp_path / "demo"
    shipped = REPO / "academy.yaml"
    args = ["demo", "--seed", "7", "--config", str(shipped), "--home", str(home)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "stopped before the week" in result.output
    cfg = built["cfg"]

    data = yaml.safe_load(shipped.read_text())
    data["demo"]["seed"] = 7
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    assert cfg.model_dump() == week.demo_config(load_config(edited), home=home).model_dump()
    seed0 = week.demo_config(load_config(shipped), home=home)
    assert cfg.demo.seed == 7 and seed0.demo.seed == 0
    assert cfg.model_dump() != seed0.model_dump()
    queries = [e.query for e in week.plan(cfg, None)[0].examples]
    assert queries != [e.query for e in week.plan(seed0, None)[0].examples]

    day = acc.account_day(
        1,
        [],
        [],
        [],
        Answers(texts={"teacher": []}, costs={"teacher": []}, quality={"teacher": []}),
        "teacher",
        acc.NightCosts(),
    )
    assert week.result(cfg, [day], {}, 1.0, None)["settings"]["seed"] == 7
