"""The API's routes, one module per area; each handler is a thin wrapper over library code."""
