"""Benchmarks: each prints the figures an issue names (never timed assertions in tests)."""
