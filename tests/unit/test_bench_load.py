"""`academy bench load` refuses nonsense flags with exit code 2 and the reason. The load benchmark
itself: tests/e2e/test_bench_load.py."""

import pytest
from typer.testing import CliRunner

from academy.cli import app


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--clients", "0"], "--clients must be at least 1"),
        (["--seconds", "-1"], "--seconds must be a finite number more than 0"),
        (["--teacher-latency-ms", "-5"], "--teacher-latency-ms"),
        (["--student-dir", "/nonexistent/student"], "is not a student"),
    ],
)
def test_nonsense_flags_exit_2_with_a_reason(flags, needle):
    result = CliRunner().invoke(app, ["bench", "load", *flags])
    assert result.exit_code == 2 and needle in result.output
