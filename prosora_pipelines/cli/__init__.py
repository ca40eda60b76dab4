"""The ``prosora`` command, one module per command group; ``app`` is its entry point."""

from prosora_pipelines.cli.main import app

__all__ = ["app"]
