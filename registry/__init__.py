"""MLflow model registry: versions, aliases (@staging, @production), transition history and roles,
behind ``registry.model_registry.ModelRegistry`` (parts: core, runs, lifecycle, roles, artifacts)."""
