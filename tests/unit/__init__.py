"""Unit tests: one component in-process, each file in seconds (`make test-fast`)."""
