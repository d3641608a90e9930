"""Profile settings the profile tests share (tests/unit/test_profiles.py, tests/e2e/test_profiles.py)."""

CLUSTER = {
    "mlflow_tracking_uri": "http://mlflow.internal:5000",
    "lancedb_uri": "s3://academy-traffic/prod",
    "prefect_api_url": "http://prefect.internal:4200/api",
    "work_pool": "academy-k8s",
}
