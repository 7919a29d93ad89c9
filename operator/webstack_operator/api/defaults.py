"""Defaults of the spec beyond a field's literal: database and cache ports, each container's resources.

The ports are also what the builders open when the spec leaves them unset, so both read them here.
"""

from webstack_operator.api.compute_resources import container_resources

DEFAULT_POSTGRES_PORT = 5432
DEFAULT_REDIS_PORT = 6379

# Requests (CPU, memory) and limits (CPU, memory) of each container when the spec does not set them.
DEFAULT_BACKEND_RESOURCES = container_resources("100m", "128Mi", "1", "256Mi")
DEFAULT_FRONTEND_RESOURCES = container_resources("50m", "32Mi", "500m", "128Mi")
DEFAULT_POSTGRES_RESOURCES = container_resources("250m", "256Mi", None, "1Gi")
