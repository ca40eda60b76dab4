"""Whether answered queries' drafts and direct answers cite what the question is about,
scored against graded relevance judgments.

- Citation precision: of every article a draft cites (each draft's citations counted), the
  share judged relevant to the query (grade 1 or 2). An article nobody judged counts as not
  relevant, as in the judgments themselves.
- Off-topic drafts: the share of drafts that cite no relevant article at all.
- Direct answers are scored the same way, apart from the drafts.

A query the engine declines to draft for (nothing on the question) adds no draft and no
citation; how many were declined is counted beside the figures, so precision bought by
refusing to answer shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prosora_pipelines.lib.query.responses import QueryResult


@dataclass(frozen=True)
class DraftRelevance:
    queries: int
    queries_with_drafts: int
    thin_or_declined: int
    drafts: int
    citations: int
    relevant_citations: int
    off_topic_drafts: int
    answers: int
    answer_citations: int
    relevant_answer_citations: int

    @property
    def citation_precision(self) -> float:
        return self.relevant_citations / self.citations if self.citations else 0.0

    @property
    def off_topic_share(self) -> float:
        return self.off_topic_drafts / self.drafts if self.drafts else 0.0

    @property
    def answer_precision(self) -> float:
        if not self.answer_citations:
            return 0.0
        return self.relevant_answer_citations / self.answer_citations


def draft_relevance(
    results: Sequence[tuple[QueryResult, Mapping[str, int]]],
) -> DraftRelevance:
    """The figures for ``(result, grades by article id)`` pairs (see the module docstring)."""
    drafts = citations = relevant = off_topic = with_drafts = thin = 0
    answers = answer_citations = answer_relevant = 0
    for result, grades in results:
        with_drafts += bool(result.variants)
        thin += bool(result.suggestions) or not result.variants
        for variant in result.variants:
            cited = [grades.get(c.article_id, 0) > 0 for c in variant.citations]
            drafts += 1
            citations += len(cited)
            relevant += sum(cited)
            off_topic += not any(cited)
        if result.answer is not None and result.answer.citations:
            answers += 1
            cited = [grades.get(c.article_id, 0) > 0 for c in result.answer.citations]
            answer_citations += len(cited)
            answer_relevant += sum(cited)
    return DraftRelevance(
        queries=len(results),
        queries_with_drafts=with_drafts,
        thin_or_declined=thin,
        drafts=drafts,
        citations=citations,
        relevant_citations=relevant,
        off_topic_drafts=off_topic,
        answers=answers,
        answer_citations=answer_citations,
        relevant_answer_citations=answer_relevant,
    )
