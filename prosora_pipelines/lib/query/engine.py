"""``QueryEngine.process_query``: the five phases run in order, timed, and recorded.

The engine holds what is slow to make (the embedding model, the index handle, the database
engine, the generator) and reads only what is materialized: a query never fetches a feed.
Every answered query is stored with its analysis, evidence, variants, model versions and
phase timings (all but the storing itself, which the returned result adds), so feedback on
a variant joins back to everything that produced it. A query that fails midway is stored as
``failed`` with the error before the error is raised.

``QueryEngine._answer`` is the list of phases: each is one method that takes and returns
typed records (``Analyzed``, ``Found``, ``UserVoice``, ``Drafted``, the predictions, then the
whole ``Answer`` to store), and ``query_result`` maps the stored answer to the response
models of ``responses``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.lib.appdb.date_times import DATE_TIME_TEXT
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
from prosora_pipelines.lib.index.embedding import Embedder
from prosora_pipelines.lib.index.search import SearchFilters
from prosora_pipelines.lib.index.vector_store import CurrentIndex, IndexUnavailableError
from prosora_pipelines.lib.llm.chat import TokenUsage
from prosora_pipelines.lib.llm.deadlines import deadline_in
from prosora_pipelines.lib.query.analysis import QueryAnalysis, analyze_query
from prosora_pipelines.lib.query.direct_answer import DirectAnswer, direct_answer
from prosora_pipelines.lib.query.drafts import Draft
from prosora_pipelines.lib.query.evidence import Evidence, evidence_json, gather_evidence
from prosora_pipelines.lib.query.generation import DraftRequest, Generator
from prosora_pipelines.lib.query.grounding import ungrounded_facts
from prosora_pipelines.lib.query.learned_preferences import (
    AppliedPattern,
    Preferences,
    preferences,
)
from prosora_pipelines.lib.query.prediction import DraftContext, EngagementPredictor, Prediction
from prosora_pipelines.lib.query.relevance import (
    ON_TOPIC_SIMILARITY,
    Coverage,
    coverage,
    relevant_statements,
)
from prosora_pipelines.lib.query.responses import (
    AnswerOut,
    AnswerSentenceOut,
    CitationOut,
    PatternUseOut,
    PredictionOut,
    QueryResult,
    VariantOut,
)
from prosora_pipelines.lib.query.voice import Voice

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


def _ignore(_event: str, _payload: Any) -> None:
    return None


@dataclass
class QueryProgress:
    """How a caller follows a query while it runs and stops it early (the API's event
    stream): ``emit`` receives ``("analysis", QueryAnalysis)``, ``("evidence", [...])``, for a
    question ``("answer", AnswerOut)``, and one ``("variant", VariantOut)`` per stored
    variant, from the thread running the query;
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


@dataclass(frozen=True)
class Analyzed:
    """Phase 1, analysis: what the query asks, and its vector for the search."""

    analysis: QueryAnalysis
    vector: npt.NDArray[np.float32]
    usage: TokenUsage


@dataclass(frozen=True)
class Found:
    """Phase 2, evidence: the numbered articles, from the index table named ``index``."""

    evidence: tuple[Evidence, ...]
    index: str

    @property
    def by_ref(self) -> dict[int, Evidence]:
        return {item.ref: item for item in self.evidence}


@dataclass(frozen=True)
class UserVoice:
    """Phase 3, voice: how the user's drafts sound, which formats they prefer, and what
    their learning patterns ask for (hooks, shape, posting time in ``timezone``)."""

    voice: Voice
    default_formats: tuple[ContentFormat, ...]
    preferences: Preferences
    timezone: str | None


@dataclass(frozen=True)
class Drafted:
    """Phase 4, drafting: the drafts that passed the checks, and why the others did not;
    how well the evidence covers the question, and the direct answer to a question."""

    drafts: tuple[Draft, ...]
    rejected: tuple[str, ...]
    degraded_reason: str | None
    generator: str
    usage: TokenUsage
    coverage: Coverage | None = None
    answer: DirectAnswer | None = None


@dataclass(frozen=True)
class Answer:
    """Everything an answered query stores and returns, before storing gives it an id."""

    text: str
    options: QueryOptions
    analyzed: Analyzed
    found: Found
    user_voice: UserVoice
    drafted: Drafted
    # When to post, from the user's time patterns (None without one), and per draft the
    # patterns it follows.
    posting_time: datetime | None
    shaped: tuple[tuple[AppliedPattern, ...], ...]
    # Phase 5, prediction: one per draft, in order.
    predictions: tuple[Prediction, ...]
    model_versions: dict[str, str]

    @property
    def status(self) -> Literal["completed", "partial"]:
        complete = bool(self.drafted.drafts) and self.drafted.degraded_reason is None
        return "completed" if complete else "partial"

    @property
    def usage(self) -> TokenUsage:
        return self.analyzed.usage + self.drafted.usage

    def citations(self, draft: Draft) -> list[CitationOut]:
        by_ref = self.found.by_ref
        return [CitationOut.of(by_ref[ref]) for ref in draft.refs]

    @property
    def suggestions(self) -> list[str]:
        covered = self.drafted.coverage
        return list(covered.suggestions) if covered else []

    def answer_out(self) -> AnswerOut | None:
        return answer_out(self.drafted.answer, self.found)


@dataclass(frozen=True)
class Stored:
    """Phase 6, storing: the ids the stored query and its variants were given."""

    query_id: uuid.UUID
    variant_ids: tuple[uuid.UUID, ...]


def _not_drafting(found: Found, cancel: threading.Event) -> str | None:
    """Why the drafting is skipped, or None to draft."""
    if cancel.is_set():
        return "cancelled before drafting: the client went away"
    if not found.evidence:
        return (
            "no evidence: nothing in the article index matches this query"
            " (materialize more sources, or widen the filters)"
        )
    return None


def checked_drafts(
    drafts: Sequence[Draft], found: Found, voice: Voice
) -> tuple[list[Draft], list[str]]:
    """The drafts whose facts the cited evidence holds and that avoid the avoided phrases,
    and a reason for each of the others."""
    by_ref = found.by_ref
    kept: list[Draft] = []
    rejected: list[str] = []
    for draft in drafts:
        problems = ungrounded_facts(draft.text, [by_ref[r].text for r in draft.refs])
        problems += [
            f"uses the avoided phrase “{phrase}”" for phrase in voice.avoided_phrases_in(draft.text)
        ]
        if problems:
            rejected.append(f"{draft.format}/{draft.hook_type}: {'; '.join(problems)}")
        else:
            kept.append(draft)
    return kept, rejected


def answer_out(answer: DirectAnswer | None, found: Found) -> AnswerOut | None:
    """The direct answer as the API returns it, with its citations."""
    if answer is None:
        return None
    by_ref = found.by_ref
    return AnswerOut(
        status=answer.status,
        text=answer.text,
        sentences=[AnswerSentenceOut(text=s.text, refs=[s.ref]) for s in answer.sentences],
        citations=[CitationOut.of(by_ref[ref]) for ref in answer.refs],
        message=answer.message,
    )


def grounded_answer(answer: DirectAnswer, found: Found) -> DirectAnswer:
    """``answer`` without any sentence whose numbers or quotations its article lacks."""
    by_ref = found.by_ref
    kept = tuple(
        sentence
        for sentence in answer.sentences
        if not ungrounded_facts(sentence.text, [by_ref[sentence.ref].text])
    )
    return DirectAnswer(answer.status, kept, answer.message)


def query_result(
    user_id: uuid.UUID,
    answer: Answer,
    stored: Stored,
    timings: dict[str, float],
    created_at: datetime,
) -> QueryResult:
    """The answer as the API returns it and the CLI prints it."""
    drafted = answer.drafted
    usage = answer.usage
    return QueryResult(
        query_id=stored.query_id,
        user_id=user_id,
        text=answer.text,
        status=answer.status,
        degraded_reason=drafted.degraded_reason,
        analysis=answer.analyzed.analysis,
        evidence=evidence_json(answer.found.evidence),
        answer=answer.answer_out(),
        suggestions=answer.suggestions,
        variants=[
            VariantOut(
                id=variant_id,
                format=draft.format,
                hook_type=draft.hook_type,
                angle=draft.angle,
                text=draft.text,
                citations=answer.citations(draft),
                prediction=PredictionOut.of(prediction),
                generator=drafted.generator,
                patterns_applied=[PatternUseOut.of(pattern) for pattern in shaped],
                suggested_posting_time=answer.posting_time,
            )
            for variant_id, draft, prediction, shaped in zip(
                stored.variant_ids, drafted.drafts, answer.predictions, answer.shaped, strict=True
            )
        ],
        rejected=list(drafted.rejected),
        timings_ms=timings,
        processing_time_ms=round(sum(timings.values()), 2),
        model_versions=answer.model_versions,
        patterns_applied=list(answer.user_voice.preferences.applied),
        token_usage={
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        },
        created_at=created_at,
    )


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
        on_topic_similarity: float = ON_TOPIC_SIMILARITY,
        llm_seconds_per_query: float | None = None,
    ) -> None:
        """``on_topic_similarity``: how close in meaning to the question an evidence sentence
        must be to enter a draft or an answer (see ``relevance``). ``llm_seconds_per_query``:
        the time all of one query's LLM calls share, from the query's start (refinement,
        drafting and a repair each have their own deadline too); past it the query keeps
        the offline analysis and extractive drafts. None: no shared limit."""
        self.embedder = embedder
        self.index = index
        self.sessions = sessions
        self.reads = reading(sessions)
        self.generator = generator
        self.predictor = predictor
        self.refiner = refiner
        self.on_topic_similarity = on_topic_similarity
        self.llm_seconds_per_query = llm_seconds_per_query

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
        with self._llm_time():
            with clock.phase("analysis"):
                analyzed = self._analyze(text)
            progress.report("analysis", analyzed.analysis)
            with clock.phase("evidence"):
                found = self._gather(text, analyzed, options)
            progress.report("evidence", evidence_json(found.evidence))
            with clock.phase("voice"):
                user_voice = self._voice(user_id)
            with clock.phase("drafting"):
                drafted = self._draft(text, options, analyzed, found, user_voice, progress.cancel)
        if drafted.answer is not None:
            progress.report("answer", answer_out(drafted.answer, found))
        prefs, timezone = user_voice.preferences, user_voice.timezone
        posting_time = prefs.posting_time(created_at, timezone)
        with clock.phase("prediction"):
            predictions = self.predictor.predict_drafts(
                drafted.drafts,
                found.evidence,
                DraftContext(user_id, analyzed.analysis.domains, posting_time, timezone),
            )
        answer = Answer(
            text=text,
            options=options,
            analyzed=analyzed,
            found=found,
            user_voice=user_voice,
            drafted=drafted,
            posting_time=posting_time,
            shaped=tuple(prefs.shaped_by(d, posting_time, timezone) for d in drafted.drafts),
            predictions=predictions,
            model_versions=self._model_versions(found, drafted, predictions),
        )
        with clock.phase("persistence"):
            stored = self._store(user_id, answer, clock, created_at)
        result = query_result(user_id, answer, stored, dict(clock.timings), created_at)
        for variant in result.variants:
            progress.report("variant", variant)
        return result

    def _llm_time(self) -> AbstractContextManager[object]:
        """The deadline the query's LLM calls share, when one is set."""
        if self.llm_seconds_per_query is None:
            return nullcontext()
        return deadline_in(self.llm_seconds_per_query)

    def _analyze(self, text: str) -> Analyzed:
        vector = self.embedder.encode_query(text)
        analysis = analyze_query(text, self.embedder, vector)
        usage = TokenUsage()
        if self.refiner is not None:
            analysis, usage = self.refiner.refine(text, analysis)
        return Analyzed(analysis=analysis, vector=vector, usage=usage)

    def _gather(self, text: str, analyzed: Analyzed, options: QueryOptions) -> Found:
        table, manifest = self.index.table()
        if manifest.model_version != self.embedder.info.version:
            raise IndexUnavailableError(
                f"the article index was built by {manifest.model_id}@{manifest.model_version},"
                f" not the loaded {self.embedder.info.model_id}@{self.embedder.info.version}:"
                " re-materialize article_index or change PROSORA_EMBEDDING_MODEL"
            )
        filters = SearchFilters(sources=tuple(options.sources), since=options.since)
        evidence = gather_evidence(
            table,
            text,
            analyzed.vector,
            analyzed.analysis,
            filters=filters,
            articles=options.max_evidence,
        )
        return Found(evidence=tuple(evidence), index=manifest.table)

    def _voice(self, user_id: uuid.UUID) -> UserVoice:
        with self.reads() as session:
            user = _user(session, user_id)
            profile = get_voice_profile(session, user)
            patterns = active_learning_patterns(session, user)
            return UserVoice(
                voice=Voice(profile),
                default_formats=tuple(profile.default_formats),
                preferences=preferences(patterns),
                timezone=profile.timezone,
            )

    def _draft(
        self,
        text: str,
        options: QueryOptions,
        analyzed: Analyzed,
        found: Found,
        user_voice: UserVoice,
        cancel: threading.Event,
    ) -> Drafted:
        reason = _not_drafting(found, cancel)
        if reason is not None:
            return Drafted((), (), reason, self.generator.name, TokenUsage())
        statements = relevant_statements(
            self.embedder,
            analyzed.vector,
            analyzed.analysis,
            found.evidence,
            user_voice.voice,
            self.on_topic_similarity,
        )
        covered = coverage(analyzed.analysis, found.evidence, statements)
        answer = None
        if analyzed.analysis.intent == "comprehensive":
            answer = grounded_answer(direct_answer(statements, covered), found)
        if covered.level == "none":
            return Drafted(
                (), (), covered.message, self.generator.name, TokenUsage(), covered, answer
            )
        generation = self.generator.generate(
            DraftRequest(
                query=text,
                analysis=analyzed.analysis,
                evidence=found.evidence,
                voice=user_voice.voice,
                formats=_formats(options, analyzed.analysis, user_voice.default_formats),
                variants_per_format=options.variants_per_format,
                hook_order=user_voice.preferences.hook_order,
                statements=statements,
                shape=user_voice.preferences.shape(),
            )
        )
        drafts, rejected = checked_drafts(generation.drafts, found, user_voice.voice)
        reasons = [r for r in (covered.message, generation.degraded_reason) if r]
        return Drafted(
            drafts=tuple(drafts),
            rejected=(*generation.rejected, *rejected),
            degraded_reason="; ".join(reasons) or None,
            generator=generation.generator,
            usage=generation.usage,
            coverage=covered,
            answer=answer,
        )

    def _model_versions(
        self, found: Found, drafted: Drafted, predictions: Sequence[Prediction]
    ) -> dict[str, str]:
        return {
            "embedding": f"{self.embedder.info.model_id}@{self.embedder.info.version}",
            "index": found.index,
            "generator": drafted.generator,
            "predictor": predictions[0].model_version if predictions else "none",
        }

    def _store(
        self, user_id: uuid.UUID, answer: Answer, clock: _Clock, created_at: datetime
    ) -> Stored:
        drafted, prefs, usage = answer.drafted, answer.user_voice.preferences, answer.usage
        direct = answer.answer_out()
        answer_json = direct.model_dump(mode="json") if direct else None
        with self.sessions.begin() as session:
            stored = record_query(
                session,
                _user(session, user_id),
                QueryRecord(
                    text=answer.text,
                    options=answer.options.model_dump(mode="json"),
                    analysis=answer.analyzed.analysis.model_dump(mode="json"),
                    results={
                        "evidence": evidence_json(answer.found.evidence),
                        "rejected": list(drafted.rejected),
                        "degraded_reason": drafted.degraded_reason,
                        "answer": answer_json,
                        "suggestions": answer.suggestions,
                        "patterns_applied": [str(i) for i in prefs.applied],
                        "patterns_ignored": list(prefs.ignored),
                        "suggested_posting_time": answer.posting_time.isoformat()
                        if answer.posting_time
                        else None,
                        # Per variant, in order: the patterns it follows.
                        "variant_patterns": [
                            [pattern.describe() for pattern in shaped] for shaped in answer.shaped
                        ],
                    },
                    metrics={
                        "timings_ms": clock.timings,
                        "evidence": len(answer.found.evidence),
                        "variants": len(drafted.drafts),
                        "rejected": len(drafted.rejected),
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                    },
                    model_versions=answer.model_versions,
                    processing_time_ms=clock.total_ms(),
                    status=answer.status,
                    created_at=created_at,
                    variants=[
                        VariantRecord(
                            format=draft.format,
                            text=draft.text,
                            hook_type=draft.hook_type,
                            citations=[c.model_dump() for c in answer.citations(draft)],
                            predicted_engagement=prediction.rate,
                            prediction_reasons=prediction.reasons,
                            model_version=drafted.generator,
                            prediction_model_version=prediction.model_version,
                        )
                        for draft, prediction in zip(
                            drafted.drafts, answer.predictions, strict=True
                        )
                    ],
                ),
            )
            _count_usage(session, prefs.applied)
            return Stored(
                query_id=stored.id, variant_ids=tuple(variant.id for variant in stored.variants)
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
