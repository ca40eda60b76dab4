"""The digest's summarizer: extractive, or the configured LLM held to the grounding check."""

from dataclasses import dataclass

import dagster as dg

from prosora_pipelines.lib.digest.summaries import Summarizer, make_summarizer
from prosora_pipelines.lib.llm.providers import ChatClientConfig
from prosora_pipelines.settings import get_settings


@dataclass(frozen=True)
class DigestSummarizerResource:
    """Holds the LLM configuration read when the definitions load; the client (and its SDK)
    is made only when a digest is."""

    chat: ChatClientConfig

    def summarizer(self) -> Summarizer:
        return make_summarizer(self.chat)


@dg.definitions
def digest_resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "digest_summarizer": DigestSummarizerResource(chat=get_settings().chat_client_config())
        }
    )
