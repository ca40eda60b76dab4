"""The digest's summarizer as the settings describe it: the one place that wires it."""

from __future__ import annotations

from prosora_pipelines.lib.digest.summaries import ExtractiveSummarizer, LLMSummarizer, Summarizer
from prosora_pipelines.settings import Settings


def summarizer_from_settings(settings: Settings) -> Summarizer:
    """Extractive summaries, or the configured LLM's held to the grounding check."""
    if settings.generator == "extractive":
        return ExtractiveSummarizer()
    from prosora_pipelines.lib.llm.providers import make_chat_client

    return LLMSummarizer(make_chat_client(settings))
