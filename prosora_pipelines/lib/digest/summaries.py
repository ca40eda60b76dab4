"""Two or three sentences per story: extracted from the article, or written by an LLM and
held to the grounding check drafts pass.

The extractive summary keeps the lead sentence (news puts the gist first) and adds the
sentences sharing most words with the title, in the article's order. An LLM summary is
accepted only when it has two or three sentences and every number and quotation in it is in
one of the story's copies; otherwise, or when the provider fails, the extractive summary
stands in and the method says why.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from prosora_pipelines.lib.llm.chat import ChatClient, ChatRequest, ProviderError
from prosora_pipelines.lib.llm.providers import ChatClientConfig
from prosora_pipelines.lib.query.grounding import ungrounded_facts
from prosora_pipelines.lib.query.relevance import split_sentences

logger = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
MIN_SENTENCES = 2
MAX_SENTENCES = 3
_MIN_WORDS = 5
_MAX_WORDS = 60
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Summary:
    text: str
    method: str
    """``extractive``, the LLM's name, or ``extractive (<why the LLM's was not used>)``."""


class Summarizer(Protocol):
    def summarize(self, title: str, text: str, evidence_texts: Sequence[str]) -> Summary: ...


def _words(text: str) -> set[str]:
    return {word.casefold() for word in _WORD.findall(text) if len(word) > 3}


def extractive_summary(title: str, text: str, sentences: int = MAX_SENTENCES) -> str:
    """The lead sentence and the ones closest to the title, up to ``sentences``, in order."""
    usable = [
        (position, sentence)
        for position, sentence in enumerate(split_sentences(text))
        if _MIN_WORDS <= len(sentence.split()) <= _MAX_WORDS and sentence[-1] in '.!?”"'
    ]
    if not usable:
        return " ".join(text.split()[:_MAX_WORDS])
    title_words = _words(title)
    lead, rest = usable[0], usable[1:]
    by_overlap = sorted(rest, key=lambda item: (-len(_words(item[1]) & title_words), item[0]))[
        : sentences - 1
    ]
    return " ".join(sentence for _, sentence in sorted([lead, *by_overlap]))


class ExtractiveSummarizer:
    def summarize(
        self,
        title: str,
        text: str,
        evidence_texts: Sequence[str],  # noqa: ARG002 (extracts from the canonical copy only)
    ) -> Summary:
        return Summary(extractive_summary(title, text), EXTRACTIVE)


SYSTEM_PROMPT = f"""You summarize news stories for a daily digest.
Write {MIN_SENTENCES} or {MAX_SENTENCES} plain sentences saying what happened and why it matters,
using only facts stated in the given texts. Never add a number, name or quotation that is not
in the texts; copy numbers exactly as written. No headings, lists or links.
Answer with JSON only: {{"summary": "..."}}"""

_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
}


def _problems(summary: str, evidence_texts: Sequence[str]) -> list[str]:
    count = len(split_sentences(summary))
    problems = [] if MIN_SENTENCES <= count <= MAX_SENTENCES else [f"{count} sentences"]
    return problems + ungrounded_facts(summary, evidence_texts)


class LLMSummarizer:
    """Summaries by ``client``; the extractive summary whenever the LLM's cannot be used."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def summarize(self, title: str, text: str, evidence_texts: Sequence[str]) -> Summary:
        fallback = extractive_summary(title, text)
        texts = "\n\n".join(
            f"Text {number}:\n{body}" for number, body in enumerate(evidence_texts, start=1)
        )
        request = ChatRequest(
            system=SYSTEM_PROMPT,
            user=f"Story: {title}\n\n{texts}",
            json_schema=_SCHEMA,
            max_output_tokens=512,
        )
        try:
            answer = self.client.complete(request)
        except ProviderError as error:
            logger.warning("digest summary of %r by %s failed: %s", title, self.client.name, error)
            return Summary(fallback, f"{EXTRACTIVE} ({self.client.name} {error.category})")
        try:
            summary = " ".join(str(json.loads(answer.text)["summary"]).split())
        except (ValueError, KeyError, TypeError):
            return Summary(fallback, f"{EXTRACTIVE} ({self.client.name} malformed answer)")
        problems = _problems(summary, evidence_texts)
        if problems:
            logger.warning("digest summary of %r rejected: %s", title, "; ".join(problems))
            return Summary(fallback, f"{EXTRACTIVE} ({self.client.name} ungrounded)")
        return Summary(summary, self.client.name)


def make_summarizer(chat: ChatClientConfig) -> Summarizer:
    """Extractive summaries for the extractive generator, else the configured LLM's, held
    to the grounding check."""
    if chat.generator == "extractive":
        return ExtractiveSummarizer()
    from prosora_pipelines.lib.llm.providers import make_chat_client

    return LLMSummarizer(make_chat_client(chat))
