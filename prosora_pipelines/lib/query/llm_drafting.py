"""Drafting and analysis refinement by an LLM, held to the same rules as the extractive
generator, which stands in whenever the LLM cannot deliver.

The prompt gives the model the numbered evidence, each article shown by its sentences that
speak to the question (the request's on-topic statements; an article with none is left out),
and forbids anything not in it. Its answer
must be JSON of ``DraftsPayload``; every variant is then rendered and checked exactly like
an extractive one (format rules, citations that exist, the grounding check, phrases to
avoid). A first answer with problems gets one repair request that lists them. A format
still short of variants after that is filled by the fallback generator, and a provider
error (after the client's own retries, past its deadline, with no free slot or with its
circuit breaker open) hands the whole request to the fallback; either way the result is
marked degraded with the reason. A provider failure is reported by its category only
(``rate limited``, ``timed out``...): the provider's own words, redacted, go to the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.llm.chat import ChatClient, ChatRequest, ProviderError, TokenUsage
from prosora_pipelines.lib.query.analysis import Complexity, EvidenceLevel, Intent, QueryAnalysis
from prosora_pipelines.lib.query.drafts import (
    BlogOutlineContent,
    Draft,
    DraftError,
    HookType,
    LinkedInPostContent,
    XThreadContent,
    build_draft,
)
from prosora_pipelines.lib.query.generation import DraftRequest, Generation, Generator
from prosora_pipelines.lib.query.grounding import ungrounded_facts
from prosora_pipelines.lib.query.prototypes import DOMAIN_PROTOTYPES
from prosora_pipelines.lib.telemetry.tracing import span

logger = logging.getLogger(__name__)

Angle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkedInVariant(_Payload):
    hook_type: HookType
    angle: Angle
    content: LinkedInPostContent


class XThreadVariant(_Payload):
    hook_type: HookType
    angle: Angle
    content: XThreadContent


class BlogOutlineVariant(_Payload):
    hook_type: HookType
    angle: Angle
    content: BlogOutlineContent


class DraftsPayload(_Payload):
    """What the LLM must answer: the variants of each requested format."""

    linkedin_post: list[LinkedInVariant] = Field(default_factory=list, max_length=6)
    x_thread: list[XThreadVariant] = Field(default_factory=list, max_length=6)
    blog_outline: list[BlogOutlineVariant] = Field(default_factory=list, max_length=6)


SYSTEM_PROMPT = """You write drafts for a professional who publishes on LinkedIn, X and a blog.
Rules you must follow:
- Use only facts stated in the numbered evidence. Never invent statistics, numbers, names,
  anecdotes or quotations. Every number and every quotation you write must appear word for
  word in an evidence item you cite.
- Every claim cites the evidence it comes from by number in "refs".
- If the evidence does not support a point, leave the point out.
- linkedin_post: a hook under 210 characters, 1 to 6 body claims, a takeaway only when it
  applies one of the frameworks given (else null), at most 5 hashtags naming what the cited
  evidence is about, never the query's own words (letters and digits only, starting with #);
  the whole post under 3000 characters.
- x_thread: a hook, 1 to 10 posts, a closing line only when it applies one of the frameworks
  given (else null); each post under 250 characters.
- Write fewer and shorter variants rather than pad with what does not answer the query.
- blog_outline: a title and 2 to 8 sections, each with 1 to 5 cited points.
- Give each variant a different hook_type (data, contrarian, story, question) and angle.
Answer with JSON only, following the given schema."""


def _voice_lines(request: DraftRequest) -> list[str]:
    profile = request.voice.profile
    return [
        f"Voice: {profile.voice_description}",
        f"Audience: {profile.audience}",
        f"Frameworks to apply: {', '.join(profile.frameworks) or 'none'}",
        f"Phrases to use: {', '.join(profile.phrases_to_use) or 'none'}",
        f"Phrases never to use: {', '.join(profile.phrases_to_avoid) or 'none'}",
    ]


def _shape_lines(request: DraftRequest) -> list[str]:
    """What learning patterns ask of the drafts' shape, when they ask anything."""
    shape = request.shape
    lines: list[str] = []
    lines += [
        f"Length of each {fmt}: {low} to {high} characters"
        for fmt, (low, high) in shape.characters.items()
        if fmt in request.formats
    ]
    if shape.hashtags is not None:
        lines.append(f"Hashtags per LinkedIn post: {shape.hashtags}")
    if shape.link is not None:
        lines.append(
            "End each LinkedIn takeaway with the URL of the first article it cites"
            if shape.link
            else "No URLs in the drafts"
        )
    return lines


def drafting_prompt(request: DraftRequest) -> str:
    """The user message: the task, the voice, and the evidence, numbered."""
    on_topic: dict[int, list[str]] = {}
    for statement in sorted(request.statements, key=lambda s: (s.ref, s.position)):
        on_topic.setdefault(statement.ref, []).append(statement.text)
    evidence = "\n\n".join(
        f"[{item.ref}] {item.title} ({item.source_id}, {item.tier})\n"
        + " ".join(on_topic[item.ref])
        for item in request.evidence
        if item.ref in on_topic
    )
    return "\n".join(
        [
            f"Query: {request.query}",
            f"Formats: {', '.join(request.formats)}",
            f"Variants per format: {request.variants_per_format}, hook types in this order of "
            f"preference: {', '.join(request.hook_order)}",
            *_voice_lines(request),
            *_shape_lines(request),
            "",
            "Evidence:",
            evidence,
        ]
    )


def _variants(
    payload: DraftsPayload, fmt: ContentFormat
) -> Sequence[LinkedInVariant | XThreadVariant | BlogOutlineVariant]:
    variants: Sequence[LinkedInVariant | XThreadVariant | BlogOutlineVariant] = getattr(
        payload, fmt
    )
    return variants


def checked_drafts(payload: DraftsPayload, request: DraftRequest) -> tuple[list[Draft], list[str]]:
    """The payload's variants that pass every check, and what is wrong with the others."""
    by_ref = {item.ref: item for item in request.evidence}
    drafts: list[Draft] = []
    problems: list[str] = []
    for fmt in request.formats:
        for number, variant in enumerate(_variants(payload, fmt), start=1):
            label = f"{fmt} variant {number}"
            try:
                draft = build_draft(
                    fmt, variant.hook_type, variant.angle, variant.content, request.evidence
                )
            except DraftError as error:
                problems.append(f"{label}: {error}")
                continue
            issues = ungrounded_facts(draft.text, [by_ref[ref].text for ref in draft.refs])
            issues += [
                f"uses “{p}”, a phrase to avoid"
                for p in request.voice.avoided_phrases_in(draft.text)
            ]
            if issues:
                problems.append(f"{label}: {'; '.join(issues)}")
            else:
                drafts.append(draft)
    return drafts, problems


def _parse(text: str) -> DraftsPayload:
    return DraftsPayload.model_validate_json(text)


def _short_formats(drafts: Sequence[Draft], request: DraftRequest) -> list[ContentFormat]:
    needed = min(3, request.variants_per_format)
    return [fmt for fmt in request.formats if sum(d.format == fmt for d in drafts) < needed]


class LLMDraftGenerator:
    """Drafts by an LLM, checked, repaired once, and backed by ``fallback``."""

    def __init__(self, client: ChatClient, fallback: Generator) -> None:
        self.client = client
        self.fallback = fallback

    @property
    def name(self) -> str:
        return self.client.name

    def _ask(self, prompt: str) -> tuple[str, TokenUsage]:
        with span("llm.complete", generator=self.name) as traced:
            completion = self.client.complete(
                ChatRequest(
                    system=SYSTEM_PROMPT,
                    user=prompt,
                    json_schema=DraftsPayload.model_json_schema(),
                )
            )
            if traced is not None:
                traced.set_attribute("llm.completion_tokens", completion.usage.completion_tokens)
        return completion.text, completion.usage

    def _attempt(self, text: str, request: DraftRequest) -> tuple[list[Draft], list[str]]:
        try:
            payload = _parse(text)
        except ValidationError as error:
            return [], [f"the answer is not valid JSON of the schema: {error.errors()[:5]}"]
        drafts, problems = checked_drafts(payload, request)
        return drafts[: request.variants_per_format * len(request.formats)], problems

    def generate(self, request: DraftRequest) -> Generation:
        prompt = drafting_prompt(request)
        usage = TokenUsage()
        try:
            answer, spent = self._ask(prompt)
            usage += spent
            drafts, problems = self._attempt(answer, request)
            if _short_formats(drafts, request):
                repair = (
                    f"{prompt}\n\nYour previous answer:\n{answer}\n\nIt had these problems:\n- "
                    + "\n- ".join(problems or ["too few variants"])
                    + "\nAnswer again with the whole corrected JSON."
                )
                answer, spent = self._ask(repair)
                usage += spent
                drafts, problems = self._attempt(answer, request)
        except ProviderError as error:
            logger.warning("drafting falls back to extractive drafts: %s", error)
            fallback = self.fallback.generate(request)
            return replace(
                fallback,
                degraded_reason=f"{self.name} failed ({error.category}); extractive drafts instead",
                usage=usage,
            )
        short = _short_formats(drafts, request)
        if not short:
            return Generation(
                drafts=tuple(drafts), generator=self.name, usage=usage, rejected=tuple(problems)
            )
        filled = self.fallback.generate(replace(request, formats=tuple(short)))
        kept = [draft for draft in drafts if draft.format not in short]
        return Generation(
            drafts=tuple(kept) + filled.drafts,
            generator=f"{self.name}+{filled.generator}",
            degraded_reason=(
                f"{self.name} gave too few valid variants for {', '.join(short)} after one repair;"
                " extractive drafts fill them"
            ),
            usage=usage,
            rejected=tuple(problems) + filled.rejected,
        )


class RefinedAnalysis(_Payload):
    """What an LLM may change in an analysis; the rest stays offline."""

    intent: Intent
    domains: dict[str, Annotated[float, Field(ge=0, le=1)]]
    complexity: Complexity
    evidence_level: EvidenceLevel
    keywords: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    ] = Field(max_length=12)


REFINE_SYSTEM_PROMPT = f"""You check the analysis of a content request.
Intent is one of linkedin_post, x_thread, blog_outline, comprehensive (several formats or
none named). Domains come only from: {", ".join(DOMAIN_PROTOTYPES)}, with weights from 0 to 1.
Complexity is low, medium or high; evidence_level is light, standard or deep.
Keywords are the words naming the topic. Answer with the corrected analysis as JSON only."""


class LLMAnalysisRefiner:
    """Asks the LLM to correct the offline analysis; keeps the offline one when it fails."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def refine(self, text: str, offline: QueryAnalysis) -> tuple[QueryAnalysis, TokenUsage]:
        current = offline.model_dump(include=set(RefinedAnalysis.model_fields))
        try:
            completion = self.client.complete(
                ChatRequest(
                    system=REFINE_SYSTEM_PROMPT,
                    user=f"Request: {text}\nOffline analysis: {json.dumps(current)}",
                    json_schema=RefinedAnalysis.model_json_schema(),
                    max_output_tokens=512,
                )
            )
        except ProviderError as error:
            logger.warning("analysis refinement falls back to the offline analysis: %s", error)
            return _noted(
                offline, f"LLM refinement failed ({error.category}); offline analysis kept"
            ), TokenUsage()
        try:
            refined = RefinedAnalysis.model_validate_json(completion.text)
        except ValidationError as error:
            note = (
                f"LLM refinement rejected ({error.error_count()} schema errors);"
                " offline analysis kept"
            )
            return _noted(offline, note), completion.usage
        domains = {
            name: weight
            for name, weight in refined.domains.items()
            if name in DOMAIN_PROTOTYPES and weight > 0
        }
        total = sum(domains.values())
        if not total:
            return _noted(
                offline, "LLM refinement named no known domain; offline analysis kept"
            ), completion.usage
        return (
            QueryAnalysis(
                intent=refined.intent,
                domains={
                    name: round(weight / total, 3)
                    for name, weight in sorted(domains.items(), key=lambda item: -item[1])
                },
                complexity=refined.complexity,
                evidence_level=refined.evidence_level,
                keywords=refined.keywords,
                signals=[*offline.signals, f"refined by {self.client.name}"],
                source="llm",
            ),
            completion.usage,
        )


def _noted(analysis: QueryAnalysis, note: str) -> QueryAnalysis:
    return analysis.model_copy(update={"signals": [*analysis.signals, note]})
