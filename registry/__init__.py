"""MLflow model registry helpers: versions, aliases (@staging, @production) and transition history."""
