"""Prefect tasks: thin wrappers over pure functions (nightly evolution arrives with its issue)."""
