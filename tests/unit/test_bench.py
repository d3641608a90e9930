"""`academy bench fanout` refuses an unknown runner with a message, not a traceback. The benchmark
itself: tests/integration/test_bench.py."""


def test_fanout_bench_refuses_an_unknown_runner():
    from typer.testing import CliRunner

    from academy.cli import app

    result = CliRunner().invoke(app, ["bench", "fanout", "--runner", "ray"])
    assert result.exit_code == 2 and "unknown runner 'ray'" in result.output
