"""The interface every draft writer implements, the extractive one and the LLM ones alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.llm.chat import TokenUsage
from prosora_pipelines.lib.query.analysis import QueryAnalysis
from prosora_pipelines.lib.query.drafts import Draft, HookType
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.relevance import Statement
from prosora_pipelines.lib.query.voice import Voice


@dataclass(frozen=True)
class DraftShape:
    """What the drafts should look like beyond their hook, as learning patterns ask for it;
    None leaves the generator's own default. Generators honour it where the format allows
    (``x_thread`` and ``blog_outline`` carry no hashtags or links)."""

    # Per format, the rendered characters to aim for, lowest and highest, inclusive.
    characters: Mapping[ContentFormat, tuple[int, int]] = field(default_factory=dict)
    hashtags: int | None = None
    link: bool | None = None


@dataclass(frozen=True)
class DraftRequest:
    query: str
    analysis: QueryAnalysis
    evidence: tuple[Evidence, ...]
    voice: Voice
    formats: tuple[ContentFormat, ...]
    variants_per_format: int
    # Hooks in the order to try them: what learning patterns say works comes first.
    hook_order: tuple[HookType, ...]
    # The evidence's statements that read on their own and speak to the question, most
    # similar first (``relevance.on_topic``): the only sentences a draft may be built from.
    statements: tuple[Statement, ...]
    shape: DraftShape = field(default_factory=DraftShape)


@dataclass(frozen=True)
class Generation:
    drafts: tuple[Draft, ...]
    generator: str
    # Why the drafts are not what was asked for (an LLM failed and the extractive generator
    # stood in, or the evidence could not support every format); None when they are.
    degraded_reason: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    # Variants a generator tried and dropped, with the reason (format rule, grounding).
    rejected: tuple[str, ...] = ()


class Generator(Protocol):
    @property
    def name(self) -> str: ...

    def generate(self, request: DraftRequest) -> Generation: ...
