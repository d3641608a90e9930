"""The overhead benchmark runs end to end and reports what the issue asks for (no timing asserted)."""

from bench.router_overhead import run_overhead_bench
from tests.conftest import make_config


def test_overhead_bench_reports_decision_percentiles_and_http_throughput(tmp_path):
    cfg = make_config(tmp_path)
    report = run_overhead_bench(cfg, rows=[300], queries=10, http_requests=6, quiet=True)
    [size] = report["sizes"]
    assert size["rows"] == 300 and 0 < size["p50_ms"] <= size["p99_ms"]
    assert report["http_rps"] > 0
    assert report["http_served_by"] == {"student-1": 7}  # warm-up + 6: the seeded student always wins


def test_fanout_bench_adds_students_and_compares_outcomes_without_timings(tmp_path, tiny_student_dir):
    from bench.fanout import same_outcome, with_students

    cfg = with_students(make_config(tmp_path, student_dir=tiny_student_dir), 3)
    students = [m for m in cfg.models if m.backend == "hf"]
    assert [m.name for m in students] == ["student-1", "student-2", "student-3"]
    assert [m.options["path"] for m in students[1:]] == ["students/student-2", "students/student-3"]
    night = {
        "students": [{"student": "student-1", "version": 2, "stage": "production", "train_seconds": 5.0}],
        "lineage": {"distill/train.parquet": "abc"},
        "registry": [["student-1", 2, "production"]],
    }
    slower = night | {"students": [night["students"][0] | {"train_seconds": 9.0}]}
    assert same_outcome(night, slower) == {"registry": True, "datasets": True, "students": True}
    rejected = night | {"students": [night["students"][0] | {"stage": "rejected"}]}
    assert same_outcome(night, rejected)["students"] is False


def test_fanout_bench_refuses_an_unknown_runner():
    from typer.testing import CliRunner

    from academy.cli import app

    result = CliRunner().invoke(app, ["bench", "fanout", "--runner", "ray"])
    assert result.exit_code == 2 and "unknown runner 'ray'" in result.output
