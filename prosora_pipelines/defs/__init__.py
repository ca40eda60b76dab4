"""Dagster definitions, one folder per domain; loaded by ``prosora_pipelines.definitions``."""
