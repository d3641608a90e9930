"""Prefect flows: thin compositions of tasks (nightly evolution arrives with its issue)."""
