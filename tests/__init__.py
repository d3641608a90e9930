"""The test suite, a package so that tests import shared builders as ``tests.factories``.

Layout: ``unit/`` (one component in-process, fast), ``integration/`` (real components wired together
in-process: router, store and runtime, Prefect flows, MLflow, training, Dask, helper subprocesses),
``e2e/`` (the HTTP server started for real, the CLI as a subprocess, the demo, PostgreSQL, Chromium).
tests/conftest.py marks each test ``unit``, ``integration`` or ``e2e`` by its folder.
"""
