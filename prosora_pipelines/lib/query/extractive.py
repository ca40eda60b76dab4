"""The extractive generator: drafts composed from the evidence's own sentences, no LLM.

Facts come only from the evidence, word for word; the generator adds nothing but framing
(hook questions, lead-ins, the closing line from the user's frameworks, headings), and that
framing holds no numbers or quotations of its own, so its drafts pass the grounding check by
construction (the engine checks anyway).

1. Statements: only the request's on-topic statements (``relevance``): sentences of the
   evidence that read on their own and are close enough in meaning to the question. An
   article's off-topic sentences never enter a draft, however well the article ranked.
2. Relevance: a statement's relevance to the question relative to the best one, blended
   80/20 with the rank score of the article it comes from.
3. Selection: maximal marginal relevance, so each draft covers different facts and sources:
   a statement's score is its relevance plus the angle's preference (numbers for ``data``,
   contrast words for ``contrarian``, recent articles for ``story``), minus its word overlap
   with statements already chosen and a penalty per statement already taken from its
   article. Nothing pads a selection: a draft has only as many statements as speak to the
   question.
4. Each hook is one angle; each format has a template per angle (see ``_linkedin``,
   ``_thread`` and ``_outline``). Thin evidence (fewer than ``AMPLE_STATEMENTS``) gets at
   most ``THIN_VARIANTS`` variants per format. The closing line comes from the user's
   frameworks or is left out; hashtags come from the cited articles' domains and titles.
   Ties break on the evidence order and the text, so the same inputs always give the same
   drafts.
5. Shape (``generation.DraftShape``, from learning patterns): a length band is met by
   taking more or fewer of the selected statements (the count whose rendered draft falls in
   the band, else the one closest to it); a hashtag count caps how many of the evidence's
   hashtags a LinkedIn post carries; a link ends a LinkedIn post's takeaway with the URL of
   the article its first claim cites. Without a shape, a LinkedIn post has up to three body
   statements and three hashtags, a thread up to four posts, an outline up to eight points.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from prosora_pipelines.lib.appdb.repository import ContentFormat
from prosora_pipelines.lib.index.search import recency_weight
from prosora_pipelines.lib.query.drafts import (
    MAX_LINE_CHARACTERS,
    BlogOutlineContent,
    BlogSection,
    Claim,
    Draft,
    DraftContent,
    DraftError,
    Hook,
    HookType,
    LinkedInPostContent,
    XThreadContent,
    build_draft,
    render,
)
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.generation import DraftRequest, DraftShape, Generation
from prosora_pipelines.lib.query.relevance import (
    AMPLE_STATEMENTS,
    Statement,
    evidence_hashtags,
)
from prosora_pipelines.lib.query.voice import Voice
from prosora_pipelines.lib.query.words import content_words
from prosora_pipelines.lib.query.words import words as words_of

GENERATOR_NAME = "extractive"
GENERATOR_VERSION = "extractive-2"
MAX_HOOK_SENTENCE = 190
# A thread post holds one statement with its number and markers in 280 characters.
MAX_THREAD_STATEMENT = 250
THIN_VARIANTS = 2
# Recency for the story angle: relative to the newest article in the evidence.
STORY_HALF_LIFE_DAYS = 30.0

_DIGIT = re.compile(r"\d")
_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:write|draft|create|compose|make|give\s+me|outline|turn|prepare)\b"
    r".*?\b(?:about|on|regarding|covering)\s+(.+)$",
    re.IGNORECASE,
)
CONTRAST_WORDS = frozenset(
    {
        "but",
        "however",
        "yet",
        "although",
        "though",
        "despite",
        "risk",
        "risks",
        "warn",
        "warns",
        "warned",
        "concern",
        "concerns",
        "unlike",
        "fail",
        "failed",
        "fails",
        "not",
        "instead",
        "rather",
    }
)


@dataclass(frozen=True)
class Sentence:
    text: str
    ref: int
    position: int
    relevance: float
    has_number: bool
    contrast: bool
    recency: float
    words: frozenset[str]


def scored_sentences(
    statements: Sequence[Statement], evidence: Sequence[Evidence]
) -> list[Sentence]:
    """The on-topic statements, scored for selection (step 2)."""
    if not statements:
        return []
    by_ref = {item.ref: item for item in evidence}
    best_relevance = max(s.relevance for s in statements) or 1.0
    best_score = max(item.score for item in evidence) or 1.0
    dated = [item.published_at for item in evidence if item.published_at is not None]
    newest = max(dated) if dated else None
    return [
        Sentence(
            text=statement.text,
            ref=statement.ref,
            position=statement.position,
            relevance=0.8 * statement.relevance / best_relevance
            + 0.2 * by_ref[statement.ref].score / best_score,
            has_number=bool(_DIGIT.search(statement.text)),
            contrast=not CONTRAST_WORDS.isdisjoint(words_of(statement.text)),
            recency=recency_weight(by_ref[statement.ref].published_at, newest, STORY_HALF_LIFE_DAYS)
            if newest
            else 0.0,
            words=frozenset(content_words(statement.text)),
        )
        for statement in statements
    ]


ANGLE_PREFERENCE: dict[HookType, Callable[[Sentence], float]] = {
    "data": lambda s: 0.5 * s.has_number,
    "contrarian": lambda s: 0.5 * s.contrast,
    "story": lambda s: 0.4 * s.recency,
    "question": lambda _: 0.0,
}
ANGLES: dict[HookType, str] = {
    "data": "data-led: opens with a figure from the evidence",
    "contrarian": "contrarian: questions the easy reading, leads with tensions and risks",
    "story": "story: opens with a headline and follows the most recent reporting",
    "question": "question: opens with the question the audience is asking",
}


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def select(sentences: Sequence[Sentence], count: int, hook: HookType) -> list[Sentence]:
    """``count`` sentences by maximal marginal relevance for this angle (step 3).

    Each candidate's largest overlap with the chosen ones is kept up to date as sentences
    are chosen, rather than recomputed, so a selection costs count × candidates overlaps.
    """
    prefer = ANGLE_PREFERENCE[hook]
    remaining = list(sentences)
    base = [sentence.relevance + prefer(sentence) for sentence in remaining]
    overlap = [0.0] * len(remaining)
    per_article: Counter[int] = Counter()
    chosen: list[Sentence] = []
    while remaining and len(chosen) < count:
        best = max(
            range(len(remaining)),
            key=lambda i: (
                base[i] - 0.6 * overlap[i] - 0.25 * per_article[remaining[i].ref],
                -remaining[i].ref,
                -remaining[i].position,
            ),
        )
        picked = remaining.pop(best)
        del base[best], overlap[best]
        chosen.append(picked)
        per_article[picked.ref] += 1
        overlap = [
            max(current, _jaccard(sentence.words, picked.words))
            for current, sentence in zip(overlap, remaining, strict=True)
        ]
    return chosen


def topic_of(query: str, keywords: Sequence[str]) -> str:
    """The query as a topic for templates: without a leading request ("write a post about")
    and without digits, which the grounding check would have to find in the evidence."""
    match = _REQUEST.match(query)
    topic = (match.group(1) if match else query).strip().rstrip("?.!")
    if _DIGIT.search(topic) or '"' in topic or "“" in topic:
        topic = " ".join(keywords[:4])
    return topic[:1].lower() + topic[1:] if topic[1:2].islower() else topic


def _asked_as_question(query: str) -> bool:
    """A question the user typed can open a draft: it holds no digits or quotes to ground."""
    text = query.strip()
    return (
        text.endswith("?")
        and len(text) <= MAX_HOOK_SENTENCE
        and not _DIGIT.search(text)
        and '"' not in text
        and "“" not in text
        and not _REQUEST.match(text)
    )


@dataclass(frozen=True)
class _Angle:
    """What one variant is built from: its hook, sentences, and the voice's choices for it."""

    hook: HookType
    variant: int
    query: str
    topic: str
    voice: Voice
    sentences: list[Sentence]
    evidence: dict[int, Evidence]

    def opening(self) -> Sentence | None:
        """The statement the data and contrarian hooks open with: the first chosen one short
        enough for a hook line."""
        if self.hook not in ("data", "contrarian"):
            return None
        return next((s for s in self.sentences if len(s.text) <= MAX_HOOK_SENTENCE), None)

    def hook_line(self, max_characters: int) -> Hook:
        first = self.sentences[0]
        opening = self.opening()
        if opening is not None:
            return Hook(text=opening.text, refs=[opening.ref])
        if self.hook == "story":
            title = self.evidence[first.ref].title
            line = f"It starts with one headline: “{title}”"
            if len(line) <= max_characters and not self.voice.avoided_phrases_in(title):
                return Hook(text=line, refs=[first.ref])
        if _asked_as_question(self.query):
            return Hook(text=self.query.strip())
        topic = self.topic[:1].upper() + self.topic[1:]
        return Hook(text=f"{topic}: what should {self.voice.audience} take from the reporting?")

    def body(self) -> list[Sentence]:
        """The sentences the hook did not open with."""
        opening = self.opening()
        return [s for s in self.sentences if s is not opening]

    def claims(self, sentences: Sequence[Sentence], with_lead_in: bool = True) -> list[Claim]:
        lead_in = self.voice.lead_in(self.variant) if with_lead_in else None
        claims = []
        for index, sentence in enumerate(sentences):
            text = sentence.text
            if index == 0 and lead_in and len(text) + len(lead_in) + 2 <= MAX_LINE_CHARACTERS:
                text = f"{lead_in}: {text}"
            claims.append(Claim(text=text, refs=[sentence.ref]))
        return claims

    def heading(self, ref: int) -> str:
        """An outline section's heading: the article's title, unless it holds an avoided
        phrase, in which case the source's name stands in."""
        item = self.evidence[ref]
        if self.voice.avoided_phrases_in(item.title):
            return f"What {item.source_id} reports"
        if self.hook == "question":
            return f"What does “{item.title}” tell us?"
        return item.title

    def hashtags(self, limit: int) -> list[str]:
        return evidence_hashtags(
            [self.evidence[ref] for ref in sorted({s.ref for s in self.sentences})], limit
        )


def _linkedin(angle: _Angle, hashtag_count: int, link: bool, claims: int) -> LinkedInPostContent:
    body = angle.body()[:claims]
    if not body:
        raise DraftError("no on-topic statement left for the body")
    claimed = angle.claims(body)
    takeaway = angle.voice.closing(angle.variant)
    if link:
        read = f"Read the reporting: {angle.evidence[claimed[0].refs[0]].url}"
        takeaway = f"{takeaway} {read}" if takeaway else read
    return LinkedInPostContent(
        hook=angle.hook_line(MAX_HOOK_SENTENCE),
        body=claimed,
        takeaway=takeaway,
        hashtags=angle.hashtags(hashtag_count),
    )


def _thread(angle: _Angle, posts: int) -> XThreadContent:
    fitting = [s for s in angle.body() if len(s.text) <= MAX_THREAD_STATEMENT][:posts]
    if not fitting:
        raise DraftError("no on-topic statement short enough for a post")
    closing = angle.voice.closing(angle.variant)
    return XThreadContent(
        hook=angle.hook_line(MAX_THREAD_STATEMENT),
        posts=angle.claims(fitting, with_lead_in=False),
        closing=closing if closing and len(closing) <= MAX_THREAD_STATEMENT else None,
    )


OUTLINE_TITLES: dict[HookType, str] = {
    "data": "{topic}: what the numbers say",
    "contrarian": "{topic}: the case against the easy reading",
    "story": "{topic}: the story so far",
    "question": "{topic}: the questions that matter",
}


def _outline(angle: _Angle, points: int) -> BlogOutlineContent:
    angle = replace(angle, sentences=angle.sentences[:points])
    by_article: dict[int, list[Sentence]] = {}
    for sentence in angle.sentences:
        by_article.setdefault(sentence.ref, []).append(sentence)
    sections = [
        BlogSection(
            heading=angle.heading(ref),
            points=angle.claims(sentences[:3], with_lead_in=index == 0),
        )
        for index, (ref, sentences) in enumerate(by_article.items())
    ]
    if len(sections) < 2 and len(angle.sentences) >= 2:
        half = len(angle.sentences) // 2
        sections = [
            BlogSection(heading="What happened", points=angle.claims(angle.sentences[:half])),
            BlogSection(heading="Why it matters", points=angle.claims(angle.sentences[half:])),
        ]
    title = OUTLINE_TITLES[angle.hook].format(topic=angle.topic)
    return BlogOutlineContent(title=title[:1].upper() + title[1:], sections=sections[:5])


SENTENCES_PER_FORMAT: dict[ContentFormat, int] = {
    "linkedin_post": 4,
    "x_thread": 5,
    "blog_outline": 8,
}
# What each format needs at least: a hook and a body; an outline two sections.
MIN_SENTENCES: dict[ContentFormat, int] = {
    "linkedin_post": 1,
    "x_thread": 1,
    "blog_outline": 2,
}


DEFAULT_HASHTAGS = 3
# The default count of the part a length band stretches or shrinks (LinkedIn body claims,
# thread posts, outline points), and the range it may take.
PARTS_PER_FORMAT: dict[ContentFormat, tuple[int, range]] = {
    "linkedin_post": (3, range(1, 7)),
    "x_thread": (4, range(1, 10)),
    "blog_outline": (8, range(2, 13)),
}
MAX_SENTENCES = 13


def _content(
    fmt: ContentFormat, angle: _Angle, hashtag_count: int, link: bool, parts: int
) -> DraftContent:
    if fmt == "linkedin_post":
        return _linkedin(angle, hashtag_count, link, parts)
    if fmt == "x_thread":
        return _thread(angle, parts)
    return _outline(angle, parts)


def _distance(characters: int, band: tuple[int, int]) -> int:
    low, high = band
    return max(low - characters, characters - high, 0)


def shaped_content(fmt: ContentFormat, angle: _Angle, shape: DraftShape) -> DraftContent:
    """The format's content for this angle, as long as ``shape`` asks (step 5): the default
    number of parts without a length band, else the fewest parts whose rendered text falls
    in the band, or the count that comes closest to it."""
    link = bool(shape.link) and fmt == "linkedin_post"
    hashtag_count = DEFAULT_HASHTAGS if shape.hashtags is None else shape.hashtags
    default, counts = PARTS_PER_FORMAT[fmt]
    band = shape.characters.get(fmt)
    if band is None:
        return _content(fmt, angle, hashtag_count, link, default)
    available = len(angle.body()) if fmt != "blog_outline" else len(angle.sentences)
    best: tuple[int, DraftContent] | None = None
    for parts in counts:
        if parts > max(available, counts.start):
            break
        try:
            content = _content(fmt, angle, hashtag_count, link, parts)
        except ValueError:
            continue
        distance = _distance(len(render(content, angle.evidence)), band)
        if best is None or distance < best[0]:
            best = (distance, content)
        if distance == 0:
            break
    return best[1] if best is not None else _content(fmt, angle, hashtag_count, link, default)


class ExtractiveGenerator:
    """Deterministic, grounded drafts without an LLM (see the module docstring)."""

    @property
    def name(self) -> str:
        return GENERATOR_NAME

    def generate(self, request: DraftRequest) -> Generation:
        sentences = scored_sentences(request.statements, request.evidence)
        if not sentences:
            return Generation(
                drafts=(),
                generator=GENERATOR_VERSION,
                degraded_reason="the evidence holds no sentence that speaks to the question",
            )
        evidence = {item.ref: item for item in request.evidence}
        topic = topic_of(request.query, request.analysis.keywords)
        wanted = request.variants_per_format
        if len(sentences) < AMPLE_STATEMENTS:
            wanted = min(wanted, THIN_VARIANTS)
        shape = request.shape
        hooks = [
            hook
            for hook in request.hook_order
            if hook != "data"
            or any(s.has_number and len(s.text) <= MAX_HOOK_SENTENCE for s in sentences)
        ][:wanted]
        drafts: list[Draft] = []
        rejected: list[str] = []
        # Greedy selection never revisits a choice, so the longest selection per hook serves
        # every format as a prefix.
        longest = (
            max(SENTENCES_PER_FORMAT[fmt] for fmt in request.formats)
            if not shape.characters
            else MAX_SENTENCES
        )
        selected = {hook: select(sentences, longest, hook) for hook in hooks}
        for fmt in request.formats:
            if len(sentences) < MIN_SENTENCES[fmt]:
                continue
            texts: set[str] = set()
            for variant, hook in enumerate(hooks):
                chosen = selected[hook][
                    : SENTENCES_PER_FORMAT[fmt] if fmt not in shape.characters else MAX_SENTENCES
                ]
                if hook == "data":
                    numbered = [
                        s for s in chosen if s.has_number and len(s.text) <= MAX_HOOK_SENTENCE
                    ]
                    chosen = numbered[:1] + [s for s in chosen if s not in numbered[:1]]
                if hook == "story":
                    chosen.sort(key=lambda s: -s.recency)
                angle = _Angle(hook, variant, request.query, topic, request.voice, chosen, evidence)
                try:
                    draft = build_draft(
                        fmt, hook, ANGLES[hook], shaped_content(fmt, angle, shape), request.evidence
                    )
                except (DraftError, ValueError) as error:
                    rejected.append(f"{fmt}/{hook}: {error}")
                    continue
                # Thin evidence can make two angles pick the same statements: one is enough.
                if draft.text not in texts:
                    texts.add(draft.text)
                    drafts.append(draft)
        short = [
            fmt
            for fmt in request.formats
            if sum(d.format == fmt for d in drafts) < min(3, request.variants_per_format)
        ]
        reason = (
            f"fewer than 3 variants for {', '.join(short)}: evidence too thin" if short else None
        )
        return Generation(
            drafts=tuple(drafts),
            generator=GENERATOR_VERSION,
            degraded_reason=reason,
            rejected=tuple(rejected),
        )
