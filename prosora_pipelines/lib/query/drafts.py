"""Drafts: what each format holds, how it is rendered, and the rules a rendered draft obeys.

Generators (the extractive one and the LLMs) fill the content models below; the renderers
here turn them into text, so the format rules are enforced in one place whoever wrote the
words. Every claim names the evidence it rests on (``refs``, the 1-based numbers of
``evidence.Evidence``), and the rendered text keeps those numbers as markers (``[2]``).

Format rules (``format_violations`` checks them on the rendered text):

- ``linkedin_post``: at most 3,000 characters; a hook line of at most 210 characters (what
  LinkedIn shows before "see more"), a body, an optional takeaway and at most 5 hashtags.
- ``x_thread``: numbered posts (``1/6``), each at most 280 characters; the closing post is
  optional.
- ``blog_outline``: a ``#`` title and at least two ``##`` sections, each with its
  ``Evidence:`` line naming the articles behind it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.query.evidence import Evidence

HookType = Literal["data", "contrarian", "story", "question"]
HOOK_TYPES: tuple[HookType, ...] = ("data", "contrarian", "story", "question")

LINKEDIN_MAX_CHARACTERS = 3000
LINKEDIN_MAX_HOOK_CHARACTERS = 210
MAX_HASHTAGS = 5
X_POST_MAX_CHARACTERS = 280
MAX_LINE_CHARACTERS = 400

Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LINE_CHARACTERS)
]
Hashtag = Annotated[str, StringConstraints(pattern=r"^#[A-Za-z][A-Za-z0-9_]{0,40}$")]


class _Content(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Claim(_Content):
    """A sentence that states something, with the evidence it rests on."""

    text: Line
    refs: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=4)


class Hook(_Content):
    """The opening line; it cites evidence (``refs``) when it states a fact."""

    text: Line
    refs: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=4)


class LinkedInPostContent(_Content):
    hook: Hook
    body: list[Claim] = Field(min_length=1, max_length=6)
    takeaway: Line | None = None
    hashtags: list[Hashtag] = Field(default_factory=list, max_length=MAX_HASHTAGS)


class XThreadContent(_Content):
    hook: Hook
    posts: list[Claim] = Field(min_length=1, max_length=10)
    closing: Line | None = None


class BlogSection(_Content):
    heading: Line
    points: list[Claim] = Field(min_length=1, max_length=5)


class BlogOutlineContent(_Content):
    title: Line
    sections: list[BlogSection] = Field(min_length=2, max_length=8)


DraftContent = LinkedInPostContent | XThreadContent | BlogOutlineContent
CONTENT_MODELS: dict[ContentFormat, type[DraftContent]] = {
    "linkedin_post": LinkedInPostContent,
    "x_thread": XThreadContent,
    "blog_outline": BlogOutlineContent,
}


class DraftError(ValueError):
    """Content that breaks its format's rules or cites evidence that does not exist."""


@dataclass(frozen=True)
class Draft:
    format: ContentFormat
    hook_type: HookType
    angle: str
    text: str
    refs: tuple[int, ...]


def _cited(content: DraftContent) -> list[Claim | Hook]:
    if isinstance(content, LinkedInPostContent):
        return [content.hook, *content.body]
    if isinstance(content, XThreadContent):
        return [content.hook, *content.posts]
    return [point for section in content.sections for point in section.points]


def _marked(claim: Claim | Hook) -> str:
    if not claim.refs:
        return claim.text
    return claim.text + " " + "".join(f"[{ref}]" for ref in sorted(set(claim.refs)))


def _render_linkedin(content: LinkedInPostContent) -> str:
    parts = [_marked(content.hook), *(_marked(claim) for claim in content.body)]
    if content.takeaway:
        parts.append(content.takeaway)
    if content.hashtags:
        parts.append(" ".join(content.hashtags))
    return "\n\n".join(parts)


def _render_thread(content: XThreadContent) -> str:
    posts = [_marked(content.hook), *(_marked(claim) for claim in content.posts)]
    if content.closing:
        posts.append(content.closing)
    return "\n\n".join(f"{n}/{len(posts)} {post}" for n, post in enumerate(posts, start=1))


def _render_outline(content: BlogOutlineContent, evidence: Mapping[int, Evidence]) -> str:
    lines = [f"# {content.title}"]
    for section in content.sections:
        lines += ["", f"## {section.heading}", *(f"- {_marked(point)}" for point in section.points)]
        refs = sorted({ref for point in section.points for ref in point.refs})
        lines.append(
            "Evidence: "
            + "; ".join(
                f"[{ref}] {evidence[ref].title} ({evidence[ref].source_id})" for ref in refs
            )
        )
    return "\n".join(lines)


def render(content: DraftContent, evidence: Mapping[int, Evidence]) -> str:
    if isinstance(content, LinkedInPostContent):
        return _render_linkedin(content)
    if isinstance(content, XThreadContent):
        return _render_thread(content)
    return _render_outline(content, evidence)


def format_violations(fmt: ContentFormat, text: str) -> list[str]:
    """How rendered ``text`` breaks the rules of ``fmt`` (see the module docstring)."""
    problems: list[str] = []
    if fmt == "linkedin_post":
        paragraphs = [part for part in text.split("\n\n") if part.strip()]
        if len(text) > LINKEDIN_MAX_CHARACTERS:
            problems.append(f"{len(text)} characters, over {LINKEDIN_MAX_CHARACTERS}")
        if not paragraphs or len(paragraphs[0]) > LINKEDIN_MAX_HOOK_CHARACTERS:
            problems.append(f"no hook line of at most {LINKEDIN_MAX_HOOK_CHARACTERS} characters")
        hashtags = re.findall(r"(?<!\S)#\w+", text)
        body = [part for part in paragraphs if not part.startswith("#")]
        if len(body) < 2:
            problems.append("needs a hook and a body")
        if len(hashtags) > MAX_HASHTAGS:
            problems.append(f"{len(hashtags)} hashtags, over {MAX_HASHTAGS}")
    elif fmt == "x_thread":
        posts = text.split("\n\n")
        for n, post in enumerate(posts, start=1):
            if not post.startswith(f"{n}/{len(posts)} "):
                problems.append(f"post {n} is not numbered {n}/{len(posts)}")
            if len(post) > X_POST_MAX_CHARACTERS:
                problems.append(
                    f"post {n} has {len(post)} characters, over {X_POST_MAX_CHARACTERS}"
                )
    else:
        sections = text.split("\n## ")
        if not text.startswith("# "):
            problems.append("no title")
        if len(sections) < 3:
            problems.append("fewer than two sections")
        for n, section in enumerate(sections[1:], start=1):
            if "\nEvidence: [" not in section:
                problems.append(f"section {n} names no evidence")
    return problems


def build_draft(
    fmt: ContentFormat,
    hook_type: HookType,
    angle: str,
    content: DraftContent,
    evidence: Sequence[Evidence],
) -> Draft:
    """The rendered draft, or ``DraftError`` when it cites unknown evidence or breaks a rule."""
    if not isinstance(content, CONTENT_MODELS[fmt]):
        raise DraftError(f"{fmt} content expected, got {type(content).__name__}")
    by_ref = {item.ref: item for item in evidence}
    refs = sorted({ref for claim in _cited(content) for ref in claim.refs})
    unknown = [ref for ref in refs if ref not in by_ref]
    if unknown:
        raise DraftError(f"cites evidence that does not exist: {unknown}")
    text = render(content, by_ref)
    problems = format_violations(fmt, text)
    if problems:
        raise DraftError("; ".join(problems))
    return Draft(format=fmt, hook_type=hook_type, angle=angle, text=text, refs=tuple(refs))
