"""The direct answer to a question asked as a question: a few of the evidence's own sentences
that answer it, each with its citation, before the drafts.

Only on-topic statements (``relevance``) may answer: the most similar to the question
first, skipping one that mostly repeats a chosen one (word overlap over ``MAX_OVERLAP``) and
taking at most ``MAX_PER_ARTICLE`` from one article, up to ``MAX_SENTENCES``. The sentences
are quoted word for word, so every number and quotation in them is in the article they cite
(the engine checks anyway). When the evidence is thin the answer is what it supports and
says so; when nothing speaks to the question there is no answer, only the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prosora_pipelines.lib.query.relevance import Coverage, Statement
from prosora_pipelines.lib.query.words import content_words

MAX_SENTENCES = 3
MAX_PER_ARTICLE = 2
MAX_OVERLAP = 0.5

AnswerStatus = Literal["answered", "thin", "unanswered"]


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    ref: int


@dataclass(frozen=True)
class DirectAnswer:
    status: AnswerStatus
    sentences: tuple[AnswerSentence, ...]
    # Why the answer is short or missing; None when the evidence covers the question.
    message: str | None

    @property
    def text(self) -> str:
        """The answer as one paragraph, each sentence followed by its marker (``[2]``)."""
        return " ".join(f"{sentence.text} [{sentence.ref}]" for sentence in self.sentences)

    @property
    def refs(self) -> tuple[int, ...]:
        return tuple(sorted({sentence.ref for sentence in self.sentences}))


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def direct_answer(statements: Sequence[Statement], coverage: Coverage) -> DirectAnswer:
    """The answer from the on-topic ``statements`` (most similar first)."""
    if coverage.level == "none":
        return DirectAnswer("unanswered", (), coverage.message)
    chosen: list[tuple[Statement, frozenset[str]]] = []
    per_article: Counter[int] = Counter()
    for statement in statements:
        if len(chosen) == MAX_SENTENCES:
            break
        words = frozenset(content_words(statement.text))
        if per_article[statement.ref] >= MAX_PER_ARTICLE or any(
            _overlap(words, taken) > MAX_OVERLAP for _, taken in chosen
        ):
            continue
        chosen.append((statement, words))
        per_article[statement.ref] += 1
    sentences = tuple(AnswerSentence(s.text, s.ref) for s, _ in chosen)
    status: AnswerStatus = "answered" if coverage.level == "ample" else "thin"
    return DirectAnswer(status, sentences, coverage.message)
