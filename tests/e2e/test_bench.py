"""The overhead benchmark runs end to end, through a real server, and reports what the issue asks for
(no timing asserted)."""

from bench.router_overhead import run_overhead_bench
from tests.factories import make_config


def test_overhead_bench_reports_decision_percentiles_and_http_throughput(tmp_path):
    cfg = make_config(tmp_path)
    report = run_overhead_bench(cfg, rows=[300], queries=10, http_requests=6, quiet=True)
    [size] = report["sizes"]
    assert size["rows"] == 300 and 0 < size["p50_ms"] <= size["p99_ms"]
    assert report["http_rps"] > 0
    assert report["http_served_by"] == {"student-1": 7}  # warm-up + 6: the seeded student always wins
