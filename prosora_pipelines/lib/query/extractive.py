"""The extractive generator: drafts composed from the evidence's own sentences, no LLM.

Facts come only from the evidence, word for word; the generator adds nothing but framing
(hook questions, lead-ins, takeaways, headings), and that framing holds no numbers or
quotations of its own, so its drafts pass the grounding check by construction (the engine
checks anyway).

1. Sentences: each evidence passage is split into sentences. A sentence is usable when it
   is whole (a capital first, end punctuation last; chunk edges cut sentences), 40 to 240
   characters (so a numbered thread post with its markers stays under 280), has balanced
   quotation marks, does not lean on the sentence before it ("This", "They", "But": out
   of its place it would not make sense), and holds no phrase the user avoids.
2. Relevance: the query's keywords found in the sentence, each weighted by its inverse
   document frequency over all usable sentences and divided by the square root of the
   sentence's length in content words, normalized to 0..1; blended 60/40 with the rank
   score of the article it comes from.
3. Selection: maximal marginal relevance, so each draft covers different facts and sources:
   a sentence's score is its relevance plus the angle's preference (numbers for ``data``,
   contrast words for ``contrarian``, recent articles for ``story``), minus its word overlap
   with sentences already chosen and a penalty per sentence already taken from its article.
4. Each hook is one angle; each format has a template per angle (see ``_linkedin``,
   ``_thread`` and ``_outline``). Ties break on the evidence order and the text, so the same
   inputs always give the same drafts.
5. Shape (``generation.DraftShape``, from learning patterns): a length band is met by
   taking more or fewer of the selected sentences (the count whose rendered draft falls in
   the band, else the one closest to it); a hashtag count sets how many hashtags a LinkedIn
   post carries; a link ends a LinkedIn post's takeaway with the URL of the article its
   first claim cites. Without a shape, a LinkedIn post has three body sentences and three
   hashtags, a thread four posts between hook and closing, an outline eight points.
"""

from __future__ import annotations

import math
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
from prosora_pipelines.lib.query.voice import Voice
from prosora_pipelines.lib.query.words import content_words
from prosora_pipelines.lib.query.words import words as words_of

GENERATOR_NAME = "extractive"
GENERATOR_VERSION = "extractive-1"
MIN_SENTENCE = 40
MAX_SENTENCE = 240
MAX_HOOK_SENTENCE = 190
# Recency for the story angle: relative to the newest article in the evidence.
STORY_HALF_LIFE_DAYS = 30.0

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")
_DIGIT = re.compile(r"\d")
# Headings and paragraphs end where a line does, or (once flattened) at a run of spaces.
_BLOCK_END = re.compile(r"\n+|\s{2,}")
_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:write|draft|create|compose|make|give\s+me|outline|turn|prepare)\b"
    r".*?\b(?:about|on|regarding|covering)\s+(.+)$",
    re.IGNORECASE,
)
_LEANING_OPENERS_TEXT = """
this that these those it its they them their he she his her such but and or so also then
there here which
"""
LEANING_OPENERS = frozenset(_LEANING_OPENERS_TEXT.split())
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


def split_sentences(passage: str) -> list[str]:
    """The passage's sentences, including the cut-off ones at its edges."""
    return [
        sentence.strip()
        for block in _BLOCK_END.split(passage)
        for sentence in _SENTENCE_END.split(block)
        if sentence.strip()
    ]


def _usable(text: str, voice: Voice) -> bool:
    first_word = text.split(" ", 1)[0].strip('“"(,').lower()
    whole = text[:1].isupper() or text[:1] in '“"(' or text[:1].isdigit()
    ends = text.rstrip('"”’)')[-1:] in (".", "!", "?")
    quotes_balanced = (text.count("“") == text.count("”")) and text.count('"') % 2 == 0
    return (
        whole
        and ends
        and quotes_balanced
        and MIN_SENTENCE <= len(text) <= MAX_SENTENCE
        and first_word not in LEANING_OPENERS
        and not voice.avoided_phrases_in(text)
    )


def usable_sentences(
    evidence: Sequence[Evidence], keywords: Sequence[str], voice: Voice
) -> list[Sentence]:
    """Every usable sentence of the evidence, scored for relevance (steps 1 and 2)."""
    raw = [
        (item, position, text)
        for item in evidence
        for position, text in enumerate(split_sentences(item.passage))
        if _usable(text, voice)
    ]
    if not raw:
        return []
    word_sets = [frozenset(content_words(text)) for _, _, text in raw]
    frequency = Counter(word for words in word_sets for word in words)
    idf = {word: math.log(1 + len(raw) / (1 + count)) for word, count in frequency.items()}
    wanted = set(keywords)
    matches = [
        sum(idf[word] for word in words & wanted) / math.sqrt(max(len(words), 1))
        for words in word_sets
    ]
    best_match = max(matches) or 1.0
    best_score = max(item.score for item in evidence) or 1.0
    dated = [item.published_at for item in evidence if item.published_at is not None]
    newest = max(dated) if dated else None
    return [
        Sentence(
            text=text,
            ref=item.ref,
            position=position,
            relevance=0.6 * match / best_match + 0.4 * item.score / best_score,
            has_number=bool(_DIGIT.search(text)),
            contrast=not CONTRAST_WORDS.isdisjoint(words_of(text)),
            recency=recency_weight(item.published_at, newest, STORY_HALF_LIFE_DAYS)
            if newest
            else 0.0,
            words=words,
        )
        for (item, position, text), words, match in zip(raw, word_sets, matches, strict=True)
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


def hashtags(domains: Sequence[str], keywords: Sequence[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` hashtags from the query's domains, then its keywords: letters only,
    camel-cased."""
    tags: list[str] = []
    if limit <= 0:
        return tags
    for term in [*domains, *keywords]:
        parts = [part for part in re.split(r"[^A-Za-z]+", term) if part]
        if not parts:
            continue
        tag = "#" + "".join(part.upper() if len(part) <= 2 else part.capitalize() for part in parts)
        if tag.lower() not in {existing.lower() for existing in tags}:
            tags.append(tag)
        if len(tags) == limit:
            break
    return tags


@dataclass(frozen=True)
class _Angle:
    """What one variant is built from: its hook, sentences, and the voice's choices for it."""

    hook: HookType
    variant: int
    topic: str
    voice: Voice
    sentences: list[Sentence]
    evidence: dict[int, Evidence]

    def hook_line(self, max_characters: int) -> Hook:
        first = self.sentences[0]
        if self.hook == "data" and len(first.text) <= max_characters:
            return Hook(text=first.text, refs=[first.ref])
        if self.hook == "story":
            title = self.evidence[first.ref].title
            line = f"It starts with one headline: “{title}”"
            if len(line) <= max_characters and not self.voice.avoided_phrases_in(title):
                return Hook(text=line, refs=[first.ref])
        if self.hook == "contrarian":
            return Hook(text=f"The loudest takes on {self.topic} miss what the reporting says.")
        return Hook(text=f"What does {self.topic} really change for {self.voice.audience}?")

    def body(self) -> list[Sentence]:
        """The sentences after the hook (the data hook already used the first one)."""
        return self.sentences[1:] if self.hook == "data" else self.sentences

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

    def takeaway(self) -> str:
        framework = self.voice.framework(self.variant)
        audience = self.voice.audience
        return {
            "data": f"Numbers are a starting point. Through {framework}, ask what they mean for "
            f"{audience} before acting on them.",
            "contrarian": f"My read: through {framework}, {self.topic} is less settled than the "
            "headlines suggest. Weigh the sources, then decide.",
            "story": f"Stories like this are early signals. Through {framework}, ask what happens "
            "next, not only what happened.",
            "question": f"My take for {audience}: apply {framework} to {self.topic} before the "
            "market does it for you.",
        }[self.hook]


def _linkedin(angle: _Angle, tags: list[str], link: bool, claims: int) -> LinkedInPostContent:
    body = angle.claims(angle.body()[:claims])
    takeaway = angle.takeaway()
    if link:
        takeaway = f"{takeaway} Read the reporting: {angle.evidence[body[0].refs[0]].url}"
    return LinkedInPostContent(
        hook=angle.hook_line(MAX_HOOK_SENTENCE), body=body, takeaway=takeaway, hashtags=tags
    )


def _thread(angle: _Angle, posts: int) -> XThreadContent:
    closing = angle.takeaway()
    if len(closing) > 260:
        closing = "Every post above cites its source; read them before the takes."
    return XThreadContent(
        hook=angle.hook_line(MAX_SENTENCE),
        posts=angle.claims(angle.body()[:posts], with_lead_in=False),
        closing=closing,
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
# The default count of the part a length band stretches or shrinks (LinkedIn body claims,
# thread posts, outline points), and the range it may take.
PARTS_PER_FORMAT: dict[ContentFormat, tuple[int, range]] = {
    "linkedin_post": (3, range(1, 7)),
    "x_thread": (4, range(1, 10)),
    "blog_outline": (8, range(2, 13)),
}
MAX_SENTENCES = 13


def _content(
    fmt: ContentFormat, angle: _Angle, tags: list[str], link: bool, parts: int
) -> DraftContent:
    if fmt == "linkedin_post":
        return _linkedin(angle, tags, link, parts)
    if fmt == "x_thread":
        return _thread(angle, parts)
    return _outline(angle, parts)


def _distance(characters: int, band: tuple[int, int]) -> int:
    low, high = band
    return max(low - characters, characters - high, 0)


def shaped_content(
    fmt: ContentFormat, angle: _Angle, tags: list[str], shape: DraftShape
) -> DraftContent:
    """The format's content for this angle, as long as ``shape`` asks (step 5): the default
    number of parts without a length band, else the fewest parts whose rendered text falls
    in the band, or the count that comes closest to it."""
    link = bool(shape.link) and fmt == "linkedin_post"
    default, counts = PARTS_PER_FORMAT[fmt]
    band = shape.characters.get(fmt)
    if band is None:
        return _content(fmt, angle, tags, link, default)
    available = len(angle.body()) if fmt != "blog_outline" else len(angle.sentences)
    best: tuple[int, DraftContent] | None = None
    for parts in counts:
        if parts > max(available, counts.start):
            break
        try:
            content = _content(fmt, angle, tags, link, parts)
        except ValueError:
            continue
        distance = _distance(len(render(content, angle.evidence)), band)
        if best is None or distance < best[0]:
            best = (distance, content)
        if distance == 0:
            break
    return best[1] if best is not None else _content(fmt, angle, tags, link, default)


class ExtractiveGenerator:
    """Deterministic, grounded drafts without an LLM (see the module docstring)."""

    @property
    def name(self) -> str:
        return GENERATOR_NAME

    def generate(self, request: DraftRequest) -> Generation:
        sentences = usable_sentences(
            request.evidence,
            request.analysis.keywords or content_words(request.query),
            request.voice,
        )
        if not sentences:
            return Generation(
                drafts=(),
                generator=GENERATOR_VERSION,
                degraded_reason="the evidence holds no usable sentences to draft from",
            )
        evidence = {item.ref: item for item in request.evidence}
        topic = topic_of(request.query, request.analysis.keywords)
        shape = request.shape
        tags = hashtags(
            list(request.analysis.domains),
            request.analysis.keywords,
            3 if shape.hashtags is None else shape.hashtags,
        )
        hooks = [
            hook
            for hook in request.hook_order
            if hook != "data"
            or any(s.has_number and len(s.text) <= MAX_HOOK_SENTENCE for s in sentences)
        ][: request.variants_per_format]
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
                angle = _Angle(hook, variant, topic, request.voice, chosen, evidence)
                try:
                    content = shaped_content(fmt, angle, tags, shape)
                    drafts.append(build_draft(fmt, hook, ANGLES[hook], content, request.evidence))
                except (DraftError, ValueError) as error:
                    rejected.append(f"{fmt}/{hook}: {error}")
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
