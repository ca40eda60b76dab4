"""The API's routes, one module per area; each handler is a thin wrapper over library code."""

# Set on each router rather than at include time, so a route's own path (what metrics and
# logs label requests with) is the full path clients call.
API_PREFIX = "/api/v1"
