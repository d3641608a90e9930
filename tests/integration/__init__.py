"""Integration tests: real components wired together in-process (router, store and runtime,
Prefect flows, MLflow, training loops, Dask, helper subprocesses)."""
