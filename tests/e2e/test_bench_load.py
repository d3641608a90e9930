"""The load benchmark end to end, tiny: a real `academy serve` process, a few clients for a few
seconds, then the store is checked for every acknowledged request (no speed asserted). Its flags:
tests/unit/test_bench_load.py."""

from bench.load import LoadSettings, run_load_bench

KEYS = {"mode", "clients", "seconds", "requests", "rps", "p50_ms", "p99_ms", "errors_5xx", "errors_4xx"}
KEYS |= {"connection_errors", "acknowledged", "stored", "lost", "routes"}


def test_every_acknowledged_request_is_stored(tmp_path, embedder, tiny_student_dir):
    settings = LoadSettings(clients=3, seconds=3, student_dir=tiny_student_dir, home=tmp_path)
    report = run_load_bench(settings, embedder=embedder, log=lambda _: None)
    assert set(report) >= KEYS, KEYS - set(report)
    assert report["mode"] == "normal" and report["graceful_stop"] is True
    assert report["acknowledged"] > 0 and report["rps"] > 0
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    assert report["errors_5xx"] == 0 and report["connection_errors"] == 0 and report["errors_4xx"] == {}
    assert report["stored"] == report["acknowledged"] and report["lost"] == 0
    assert sum(report["routes"].values()) == report["acknowledged"]
    assert "familiar" in report["routes"]  # the seeded past traffic is found
