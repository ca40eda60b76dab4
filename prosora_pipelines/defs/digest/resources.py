"""The digest's summarizer: extractive, or the configured LLM held to the grounding check."""

from dataclasses import dataclass

import dagster as dg

from prosora_pipelines.lib.digest.from_settings import summarizer_from_settings
from prosora_pipelines.lib.digest.summaries import Summarizer
from prosora_pipelines.settings import Settings, get_settings


@dataclass(frozen=True)
class DigestSummarizerResource:
    """Holds the settings read when the definitions load; the LLM client (and its SDK) is
    made only when a digest is."""

    settings: Settings

    def summarizer(self) -> Summarizer:
        return summarizer_from_settings(self.settings)


@dg.definitions
def digest_resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"digest_summarizer": DigestSummarizerResource(settings=get_settings())}
    )
