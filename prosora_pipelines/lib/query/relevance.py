"""Which evidence sentences speak to the question, and which read on their own.

An article found for a question is rarely about the question from its first sentence to its
last, and a draft built from its sentences by keyword is only as on-topic as its weakest
sentence. So every sentence a draft or an answer may use is judged twice, on its own:

1. It reads on its own. A sentence that leans on the one before it (it opens with "This",
   "It", "However", a bare share such as "Roughly 30% sits..." or "Twenty-one of them")
   makes no sense out of its place: it is taken together with the sentence before it, as one
   statement, when that sentence is whole and does not lean itself; otherwise it is skipped.
   A sentence that speaks for its publisher ("We reviewed...") is skipped: quoted in a
   user's draft, "we" would be the user.
2. It speaks to the question. Each statement and each article title is embedded with the
   project's encoder and compared (cosine) with the question: the query's vector plus the
   vector of its analysed keywords, normalized. A statement's relevance is the mean of its
   own similarity and its article's title similarity, because a sentence that merely sounds
   like the question ("The Super Bowl wasn't the only event...") is mostly found in an
   article about something else. Only statements whose relevance reaches
   ``ON_TOPIC_SIMILARITY`` and whose own similarity reaches ``STATEMENT_FLOOR`` may enter a
   draft or an answer. Both are chosen on the tuning half of the labelled queries over the
   real feeds (``benchmarks/draft_relevance.py --tune``) and reported on the other half.

How much survives says how well the evidence covers the question (``Coverage``): enough
statements from more than one article, a thin few, or none; thin and missing evidence is
said plainly, with searches and sources to try instead of padding.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.query.analysis import QueryAnalysis
from prosora_pipelines.lib.query.evidence import Evidence
from prosora_pipelines.lib.query.voice import Voice
from prosora_pipelines.lib.query.words import STOP_WORDS, content_words
from prosora_pipelines.lib.query.words import words as words_of

# Chosen on the tuning half of the labelled real-feed queries; see the module docstring.
ON_TOPIC_SIMILARITY = 0.48
STATEMENT_FLOOR = 0.3
MIN_SENTENCE = 40
MAX_SENTENCE = 240
# A statement of two sentences may be longer than one sentence, but still fits a draft line.
MAX_STATEMENT = 380
# Ample evidence: at least this many on-topic statements, from at least two articles.
AMPLE_STATEMENTS = 4
AMPLE_ARTICLES = 2

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")
# Headings and paragraphs end where a line does, or (once flattened) at a run of spaces.
_BLOCK_END = re.compile(r"\n+|\s{2,}")
_LEANING_OPENERS_TEXT = """
this that these those it its they them their he she his her such but and or so also then
there here which however still instead meanwhile moreover furthermore thus hence therefore
yet besides nonetheless nevertheless similarly likewise otherwise indeed another others both
either neither
"""
LEANING_OPENERS = frozenset(_LEANING_OPENERS_TEXT.split())
# Openers that speak for the publisher: out of the article, "we" would be the user.
PUBLISHER_OPENERS = frozenset({"we", "our", "us", "i", "my", "me"})
_LEANING_PHRASE = re.compile(
    r"^(?:as a result|in contrast|by contrast|on the other hand|at the same time|in turn|"
    r"even so|the same|the rest|the remainder|the former|the latter)\b",
    re.IGNORECASE,
)
_APPROXIMATELY = r"(?:roughly|about|around|nearly|almost|some|just|over|under|only|more than|"
_APPROXIMATELY += r"less than|fewer than|up to)\s+"
# A share with nothing it is a share of: "Roughly 30% sits...", "Half goes to..."; "30% of
# deposits sits..." names it and reads on its own.
_BARE_SHARE = re.compile(
    rf"^(?:{_APPROXIMATELY})?(?:\d[\d,.]*\s*(?:%|percent\b|per cent\b)|half\b|a third\b|"
    r"a quarter\b|two-thirds\b|one-third\b|three-quarters\b)(?!\s+of\b)",
    re.IGNORECASE,
)
_POINTING_BACK = re.compile(
    r"\b(?:of|among|from|with|for)\s+(?:them|these|those|it|this|that)\b"
    r"|\b(?:these|those)\s+(?!who\b|that\b|which\b)[a-z]+",
    re.IGNORECASE,
)

CoverageLevel = Literal["ample", "thin", "none"]


@dataclass(frozen=True)
class Statement:
    """One or two consecutive sentences of an evidence passage that read on their own."""

    text: str
    ref: int
    # The positions of its first and last sentence in the passage.
    first: int
    position: int
    # Cosine similarity of the statement, and of its article's title, to the question.
    similarity: float
    article_similarity: float

    @property
    def relevance(self) -> float:
        return (self.similarity + self.article_similarity) / 2


def split_sentences(passage: str) -> list[str]:
    """The passage's sentences, including the cut-off ones at its edges."""
    return [
        sentence.strip()
        for block in _BLOCK_END.split(passage)
        for sentence in _SENTENCE_END.split(block)
        if sentence.strip()
    ]


_REFERENCE = re.compile(r"https?://|www\.|doi\.org|^\(\d{4}\)")


def _whole(text: str, voice: Voice) -> bool:
    """A complete sentence of a usable length, quotes balanced, free of avoided phrases and
    not a reference (a link, a bibliography entry)."""
    whole = text[:1].isupper() or text[:1] in '“"(' or text[:1].isdigit()
    ends = text.rstrip('"”’)')[-1:] in (".", "!", "?")
    quotes_balanced = (text.count("“") == text.count("”")) and text.count('"') % 2 == 0
    return (
        whole
        and ends
        and quotes_balanced
        and MIN_SENTENCE <= len(text) <= MAX_SENTENCE
        and not voice.avoided_phrases_in(text)
        and not _REFERENCE.search(text)
    )


def leans_on_previous(text: str) -> bool:
    """Whether ``text`` needs the sentence before it to make sense (see the docstring)."""
    first_words = words_of(text)[:8]
    if not first_words:
        return False
    # "Those who..." introduces its own referent.
    introduces = first_words[0] in ("those", "these") and first_words[1:2] == ["who"]
    return (
        (first_words[0] in LEANING_OPENERS and not introduces)
        or bool(_LEANING_PHRASE.match(text.lstrip('“"(')))
        or bool(_BARE_SHARE.match(text.lstrip('“"(')))
        or bool(_POINTING_BACK.search(" ".join(first_words)))
    )


def _speaks_for_publisher(text: str) -> bool:
    first = words_of(text)[:1]
    return bool(first) and first[0] in PUBLISHER_OPENERS


def standalone_statements(
    evidence: Sequence[Evidence], voice: Voice
) -> list[tuple[int, int, int, str]]:
    """``(ref, first, last, text)`` of every statement that reads on its own (step 1):
    ``first`` and ``last`` are the positions of its sentences in the passage."""
    found: list[tuple[int, int, int, str]] = []
    for item in evidence:
        sentences = split_sentences(item.passage)
        for position, text in enumerate(sentences):
            if not _whole(text, voice) or _speaks_for_publisher(text):
                continue
            if not leans_on_previous(text):
                found.append((item.ref, position, position, text))
                continue
            if position == 0:
                continue
            previous = sentences[position - 1]
            joined = f"{previous} {text}"
            if (
                _whole(previous, voice)
                and not leans_on_previous(previous)
                and not _speaks_for_publisher(previous)
                and len(joined) <= MAX_STATEMENT
            ):
                found.append((item.ref, position - 1, position, joined))
    return found


def question_vector(
    embedder: Embedder, query_vector: npt.NDArray[np.float32], analysis: QueryAnalysis
) -> npt.NDArray[np.float32]:
    """The question as one unit vector: the query's, plus its analysed keywords'."""
    if not analysis.keywords:
        return query_vector
    keywords = embedder.encode_queries([" ".join(analysis.keywords)])[0]
    combined = query_vector + keywords
    return np.asarray(combined / np.linalg.norm(combined), dtype=np.float32)


def scored_statements(
    embedder: Embedder,
    question: npt.NDArray[np.float32],
    evidence: Sequence[Evidence],
    voice: Voice,
) -> list[Statement]:
    """Every standalone statement of the evidence with its similarity to the question."""
    candidates = standalone_statements(evidence, voice)
    if not candidates:
        return []
    vectors = embedder.encode_queries(
        [text for _, _, _, text in candidates] + [item.title for item in evidence]
    )
    similarities = vectors @ question
    titles = dict(
        zip(
            (item.ref for item in evidence),
            similarities[len(candidates) :].tolist(),
            strict=True,
        )
    )
    return [
        Statement(
            text=text,
            ref=ref,
            first=first,
            position=last,
            similarity=float(similarity),
            article_similarity=titles[ref],
        )
        for (ref, first, last, text), similarity in zip(
            candidates, similarities[: len(candidates)], strict=True
        )
    ]


def on_topic(statements: Sequence[Statement], threshold: float) -> tuple[Statement, ...]:
    """The statements relevant to the question (step 2), most relevant first;
    a sentence appears in one of them only (alone or with the one before it, whichever is
    closer to the question)."""
    ranked = sorted(
        (s for s in statements if s.relevance >= threshold and s.similarity >= STATEMENT_FLOOR),
        key=lambda s: (-s.relevance, s.ref, s.position),
    )
    used: set[tuple[int, int]] = set()
    kept: list[Statement] = []
    for statement in ranked:
        sentences = {(statement.ref, n) for n in range(statement.first, statement.position + 1)}
        if used.isdisjoint(sentences):
            kept.append(statement)
            used |= sentences
    return tuple(kept)


def relevant_statements(
    embedder: Embedder,
    query_vector: npt.NDArray[np.float32],
    analysis: QueryAnalysis,
    evidence: Sequence[Evidence],
    voice: Voice,
    threshold: float = ON_TOPIC_SIMILARITY,
) -> tuple[Statement, ...]:
    """The evidence's statements that read on their own and speak to the question."""
    question = question_vector(embedder, query_vector, analysis)
    return on_topic(scored_statements(embedder, question, evidence, voice), threshold)


@dataclass(frozen=True)
class Coverage:
    """How well the evidence covers the question, and what to try when it does not."""

    level: CoverageLevel
    statements: int
    articles: int
    message: str | None
    suggestions: tuple[str, ...]


def _searches(analysis: QueryAnalysis, statements: Sequence[Statement]) -> list[str]:
    """Narrower searches: the keywords the on-topic statements do cover, then each keyword
    pair, so the user can see which part of the question the index can answer."""
    keywords = list(analysis.keywords)
    covered = {word for s in statements for word in content_words(s.text)}
    present = [word for word in keywords if word in covered]
    searches: list[str] = []
    if present and len(present) < len(keywords):
        searches.append(" ".join(present))
    if len(keywords) >= 3:
        searches += [f"{keywords[0]} {word}" for word in keywords[1:3]]
    return searches


def coverage(
    analysis: QueryAnalysis, evidence: Sequence[Evidence], statements: Sequence[Statement]
) -> Coverage:
    """Ample, thin or none (see ``AMPLE_STATEMENTS``), with searches and sources to try."""
    articles = len({s.ref for s in statements})
    if len(statements) >= AMPLE_STATEMENTS and articles >= AMPLE_ARTICLES:
        return Coverage("ample", len(statements), articles, None, ())
    by_ref = {item.ref: item for item in evidence}
    sources = Counter(by_ref[s.ref].source_id for s in statements)
    suggestions = [f"search: {search}" for search in _searches(analysis, statements)]
    suggestions += [
        f"source: {source} covers it most closely" for source, _ in sources.most_common(2)
    ]
    if not suggestions:
        suggestions.append(
            "add sources that cover this question to the catalog and materialize them"
        )
    if not statements:
        message = (
            f"the evidence does not speak to this question: none of its sentences is close"
            f" enough to it in meaning (of {len(evidence)} articles found)"
        )
        return Coverage("none", 0, 0, message, tuple(suggestions))
    message = (
        f"thin evidence: only {len(statements)} sentence{'s' if len(statements) != 1 else ''}"
        f" from {articles} article{'s' if articles != 1 else ''}"
        f" {'speaks' if len(statements) == 1 else 'speak'} to this question,"
        " so the drafts are fewer and shorter"
    )
    return Coverage("thin", len(statements), articles, message, tuple(suggestions))


def evidence_hashtags(cited: Sequence[Evidence], limit: int = 3) -> list[str]:
    """Hashtags from what the cited articles are about: the domains their sources cover,
    most covered first, then words shared by the titles of two or more of them; never from
    the query as typed."""
    domains = Counter(domain for item in cited for domain in item.domains)
    title_words = Counter(
        word
        for item in cited
        for word in set(content_words(item.title))
        if word not in STOP_WORDS and len(word) > 3 and word.isalpha()
    )
    terms = [d for d, _ in sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))]
    terms += [w for w, n in sorted(title_words.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2]
    tags: list[str] = []
    for term in terms:
        if len(tags) >= limit:
            break
        parts = [part for part in re.split(r"[^A-Za-z]+", term) if part]
        if not parts:
            continue
        tag = "#" + "".join(part.upper() if len(part) <= 2 else part.capitalize() for part in parts)
        if tag.lower() not in {existing.lower() for existing in tags}:
            tags.append(tag)
    return tags
