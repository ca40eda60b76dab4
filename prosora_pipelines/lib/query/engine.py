"""``QueryEngine.process_query``: the five phases run in order, timed, and recorded.

The engine holds what is slow to make (the embedding model, the index handle, the database
engine, the generator) and reads only what is materialized: a query never fetches a feed.
Every answered query is stored with its analysis, evidence, variants, model versions and
phase timings (all but the storing itself, which the returned result adds), so feedback on
a variant joins back to everything that produced it. A query that fails midway is stored as
``failed`` with the error before the error is raised.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.lib.appdb.engine import reading
from prosora_pipelines.lib.appdb.models import LearningPattern, User, utc_now
from prosora_pipelines.lib.appdb.repository import (
    ContentFormat,
    InvalidInputError,
    NotFoundError,
    QueryRecord,
    StorableText,
    VariantRecord,
    active_learning_patterns,
    get_voice_profile,
    record_query,
    text_problem,
)
from prosora_pipelines.lib.date_times import DATE_TIME_TEXT
from prosora_pipelines.lib.embedding import Embedder
from prosora_pipelines.lib.llm.chat import TokenUsage
from prosora_pipelines.lib.query.analysis import QueryAnalysis, analyze_query
from prosora_pipelines.lib.query.drafts import Draft
from prosora_pipelines.lib.query.evidence import Evidence, gather_evidence
from prosora_pipelines.lib.query.generation import DraftRequest, Generator
from prosora_pipelines.lib.query.grounding import ungrounded_facts
from prosora_pipelines.lib.query.learned_preferences import preferences
from prosora_pipelines.lib.query.prediction import EngagementPredictor, Prediction
from prosora_pipelines.lib.query.voice import Voice
from prosora_pipelines.lib.search import SearchFilters
from prosora_pipelines.lib.vector_store import CurrentIndex, IndexUnavailableError

logger = logging.getLogger(__name__)
PHASES = ("analysis", "evidence", "voice", "drafting", "prediction", "persistence")
MAX_QUERY_CHARACTERS = 2000


class QueryOptions(BaseModel):
    """What a caller may ask of one query; everything is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    formats: list[ContentFormat] | None = Field(
        None, min_length=1, max_length=3, description="Formats to draft; default: the intent's."
    )
    variants_per_format: int = Field(4, ge=3, le=4, description="Variants per format, 3 or 4.")
    max_evidence: int | None = Field(
        None, ge=1, le=20, description="Articles to draw on; default: by evidence level."
    )
    sources: list[StorableText] = Field(default_factory=list, max_length=100)
    since: Annotated[AwareDatetime, DATE_TIME_TEXT] | None = Field(
        None, description="Only articles published since."
    )


class AnalysisRefiner(Protocol):
    """Something that may improve an offline analysis (an LLM; see ``llm_drafting``); it
    returns the offline analysis unchanged when it cannot do better."""

    def refine(self, text: str, offline: QueryAnalysis) -> tuple[QueryAnalysis, TokenUsage]: ...


class CitationOut(BaseModel):
    ref: int
    article_id: str
    title: str
    url: str
    source_id: str


class PredictionOut(BaseModel):
    rate: float
    kind: str
    model_version: str
    reasons: list[str]
    factors: dict[str, float]

    @classmethod
    def of(cls, prediction: Prediction) -> PredictionOut:
        return cls(
            rate=round(prediction.rate, 5),
            kind=prediction.kind,
            model_version=prediction.model_version,
            reasons=prediction.reasons,
            factors={f.name: round(f.contribution, 4) for f in prediction.factors},
        )


class VariantOut(BaseModel):
    id: uuid.UUID
    format: ContentFormat
    hook_type: str
    angle: str
    text: str
    citations: list[CitationOut]
    prediction: PredictionOut
    generator: str


class QueryResult(BaseModel):
    query_id: uuid.UUID
    user_id: uuid.UUID
    text: str
    status: Literal["completed", "partial"]
    degraded_reason: str | None
    analysis: QueryAnalysis
    evidence: list[dict[str, Any]]
    variants: list[VariantOut]
    rejected: list[str]
    timings_ms: dict[str, float]
    processing_time_ms: float
    model_versions: dict[str, str]
    patterns_applied: list[uuid.UUID]
    token_usage: dict[str, int]
    created_at: datetime


def _ignore(_event: str, _payload: Any) -> None:
    return None


@dataclass
class QueryProgress:
    """How a caller follows a query while it runs and stops it early (the API's event
    stream): ``emit`` receives ``("analysis", QueryAnalysis)``, ``("evidence", [...])`` and
    one ``("variant", VariantOut)`` per stored variant, from the thread running the query;
    setting ``cancel`` before drafting skips the drafting, and the query is stored as
    ``partial`` with the reason."""

    emit: Callable[[str, Any], None] = _ignore
    cancel: threading.Event = field(default_factory=threading.Event)

    def report(self, event: str, payload: Any) -> None:
        """``emit``, whose failure (a listener gone) cancels what is left instead of failing
        the query: the answer is still stored once, whole or partial."""
        try:
            self.emit(event, payload)
        except Exception:
            logger.warning("progress listener failed on %s; going on without it", event)
            self.emit = _ignore
            self.cancel.set()


class QueryFailedError(RuntimeError):
    """A query that could not be answered; it is stored as failed with this message."""

    def __init__(self, message: str, query_id: uuid.UUID) -> None:
        super().__init__(message)
        self.query_id = query_id


class _Clock:
    """Phase timings in milliseconds."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((time.perf_counter() - start) * 1000, 2)

    def total_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


def _checked_query(
    text: str, options: QueryOptions | Mapping[str, Any] | None
) -> tuple[str, QueryOptions]:
    text = text.strip()
    if not text:
        raise InvalidInputError("invalid query: the text is empty")
    if len(text) > MAX_QUERY_CHARACTERS:
        raise InvalidInputError(f"invalid query: over {MAX_QUERY_CHARACTERS} characters")
    problem = text_problem(text)
    if problem is not None:
        raise InvalidInputError(f"invalid query: the text {problem}")
    if isinstance(options, QueryOptions):
        return text, options
    try:
        return text, QueryOptions.model_validate(options or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors()
        )
        raise InvalidInputError(f"invalid query options: {problems}") from error


def _formats(
    options: QueryOptions, analysis: QueryAnalysis, defaults: Sequence[ContentFormat]
) -> tuple[ContentFormat, ...]:
    """The formats asked for, else the one the query names, else the user's defaults."""
    if options.formats:
        return tuple(options.formats)
    if analysis.intent == "comprehensive":
        return tuple(defaults)
    return analysis.formats


def _citations(draft: Draft, evidence: Mapping[int, Evidence]) -> list[CitationOut]:
    return [
        CitationOut(
            ref=ref,
            article_id=evidence[ref].article_id,
            title=evidence[ref].title,
            url=evidence[ref].url,
            source_id=evidence[ref].source_id,
        )
        for ref in draft.refs
    ]


class QueryEngine:
    """Answers queries from the materialized index (see the module docstring)."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        index: CurrentIndex,
        sessions: sessionmaker[Session],
        generator: Generator,
        predictor: EngagementPredictor,
        refiner: AnalysisRefiner | None = None,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.sessions = sessions
        self.reads = reading(sessions)
        self.generator = generator
        self.predictor = predictor
        self.refiner = refiner

    def warm_up(self) -> None:
        """Do the one-off work (prototype vectors, opening the index) before the first query,
        so that query is as fast as the rest."""
        analyze_query("warm-up", self.embedder, self.embedder.encode_query("warm-up"))
        self.index.table()

    def process_query(
        self,
        user_id: uuid.UUID,
        text: str,
        options: QueryOptions | Mapping[str, Any] | None = None,
        progress: QueryProgress | None = None,
    ) -> QueryResult:
        """Answer ``text`` for the user, store the answer, and return it."""
        progress = progress or QueryProgress()
        text, checked = _checked_query(text, options)
        with self.reads() as session:
            _user(session, user_id)
        clock = _Clock()
        created_at = utc_now()
        try:
            return self._answer(user_id, text, checked, clock, created_at, progress)
        except Exception as error:
            query_id = self._record_failure(user_id, text, checked, clock, created_at, error)
            raise QueryFailedError(f"query failed: {error}", query_id) from error

    def _answer(
        self,
        user_id: uuid.UUID,
        text: str,
        options: QueryOptions,
        clock: _Clock,
        created_at: datetime,
        progress: QueryProgress,
    ) -> QueryResult:
        usage = TokenUsage()
        with clock.phase("analysis"):
            vector = self.embedder.encode_query(text)
            analysis = analyze_query(text, self.embedder, vector)
            if self.refiner is not None:
                analysis, refine_usage = self.refiner.refine(text, analysis)
                usage += refine_usage
        progress.report("analysis", analysis)
        with clock.phase("evidence"):
            table, manifest = self.index.table()
            if manifest.model_version != self.embedder.info.version:
                raise IndexUnavailableError(
                    f"the article index was built by {manifest.model_id}@{manifest.model_version},"
                    f" not the loaded {self.embedder.info.model_id}@{self.embedder.info.version}:"
                    " re-materialize article_index or change PROSORA_EMBEDDING_MODEL"
                )
            filters = SearchFilters(sources=tuple(options.sources), since=options.since)
            evidence = gather_evidence(
                table, text, vector, analysis, filters=filters, articles=options.max_evidence
            )
        by_ref = {item.ref: item for item in evidence}
        progress.report("evidence", [item.as_json() for item in evidence])
        with clock.phase("voice"), self.reads() as session:
            user = _user(session, user_id)
            profile = get_voice_profile(session, user)
            patterns = active_learning_patterns(session, user)
            prefs = preferences(patterns)
            voice = Voice(profile)
        drafts: list[Draft] = []
        rejected: list[str] = []
        degraded_reason: str | None = None
        generator_version = self.generator.name
        with clock.phase("drafting"):
            if progress.cancel.is_set():
                degraded_reason = "cancelled before drafting: the client went away"
            elif not evidence:
                degraded_reason = (
                    "no evidence: nothing in the article index matches this query"
                    " (materialize more sources, or widen the filters)"
                )
            else:
                generation = self.generator.generate(
                    DraftRequest(
                        query=text,
                        analysis=analysis,
                        evidence=tuple(evidence),
                        voice=voice,
                        formats=_formats(options, analysis, profile.default_formats),
                        variants_per_format=options.variants_per_format,
                        hook_order=prefs.hook_order,
                    )
                )
                usage += generation.usage
                degraded_reason = generation.degraded_reason
                generator_version = generation.generator
                rejected.extend(generation.rejected)
                for draft in generation.drafts:
                    problems = ungrounded_facts(draft.text, [by_ref[r].text for r in draft.refs])
                    problems += [
                        f"uses the avoided phrase “{phrase}”"
                        for phrase in voice.avoided_phrases_in(draft.text)
                    ]
                    if problems:
                        rejected.append(f"{draft.format}/{draft.hook_type}: {'; '.join(problems)}")
                    else:
                        drafts.append(draft)
        with clock.phase("prediction"):
            predictions = [self.predictor.predict(draft, evidence) for draft in drafts]
        model_versions = {
            "embedding": f"{self.embedder.info.model_id}@{self.embedder.info.version}",
            "index": manifest.table,
            "generator": generator_version,
            "predictor": predictions[0].model_version if predictions else "none",
        }
        status: Literal["completed", "partial"] = (
            "completed" if drafts and degraded_reason is None else "partial"
        )
        with clock.phase("persistence"), self.sessions.begin() as session:
            stored = record_query(
                session,
                _user(session, user_id),
                QueryRecord(
                    text=text,
                    options=options.model_dump(mode="json"),
                    analysis=analysis.model_dump(mode="json"),
                    results={
                        "evidence": [item.as_json() for item in evidence],
                        "rejected": rejected,
                        "degraded_reason": degraded_reason,
                        "patterns_applied": [str(i) for i in prefs.applied],
                        "patterns_ignored": list(prefs.ignored),
                    },
                    metrics={
                        "timings_ms": clock.timings,
                        "evidence": len(evidence),
                        "variants": len(drafts),
                        "rejected": len(rejected),
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                    },
                    model_versions=model_versions,
                    processing_time_ms=clock.total_ms(),
                    status="completed" if status == "completed" else "partial",
                    created_at=created_at,
                    variants=[
                        VariantRecord(
                            format=draft.format,
                            text=draft.text,
                            hook_type=draft.hook_type,
                            citations=[c.model_dump() for c in _citations(draft, by_ref)],
                            predicted_engagement=prediction.rate,
                            prediction_reasons=prediction.reasons,
                            model_version=generator_version,
                        )
                        for draft, prediction in zip(drafts, predictions, strict=True)
                    ],
                ),
            )
            _count_usage(session, prefs.applied)
            variant_ids = [variant.id for variant in stored.variants]
            query_id = stored.id
        timings = dict(clock.timings)
        variants = [
            VariantOut(
                id=variant_id,
                format=draft.format,
                hook_type=draft.hook_type,
                angle=draft.angle,
                text=draft.text,
                citations=_citations(draft, by_ref),
                prediction=PredictionOut.of(prediction),
                generator=generator_version,
            )
            for variant_id, draft, prediction in zip(variant_ids, drafts, predictions, strict=True)
        ]
        for variant in variants:
            progress.report("variant", variant)
        return QueryResult(
            query_id=query_id,
            user_id=user_id,
            text=text,
            status=status,
            degraded_reason=degraded_reason,
            analysis=analysis,
            evidence=[item.as_json() for item in evidence],
            variants=variants,
            rejected=rejected,
            timings_ms=timings,
            processing_time_ms=round(sum(timings.values()), 2),
            model_versions=model_versions,
            patterns_applied=list(prefs.applied),
            token_usage={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
            created_at=created_at,
        )

    def _record_failure(
        self,
        user_id: uuid.UUID,
        text: str,
        options: QueryOptions,
        clock: _Clock,
        created_at: datetime,
        error: Exception,
    ) -> uuid.UUID:
        with self.sessions.begin() as session:
            stored = record_query(
                session,
                _user(session, user_id),
                QueryRecord(
                    text=text,
                    options=options.model_dump(mode="json"),
                    metrics={"timings_ms": clock.timings},
                    results={"error": f"{type(error).__name__}: {error}"},
                    processing_time_ms=clock.total_ms(),
                    status="failed",
                    created_at=created_at,
                ),
            )
            return stored.id


def _user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    return user


def _count_usage(session: Session, pattern_ids: tuple[uuid.UUID, ...]) -> None:
    for pattern_id in pattern_ids:
        pattern = session.get(LearningPattern, pattern_id)
        if pattern is not None:
            pattern.usage_count += 1
