"""The query engine as the settings describe it: the one place that wires the parts.

It lives at the package's edge, beside the settings, so the library itself never reads them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.engagement.model_registry import models_dir
from prosora_pipelines.lib.index.embedding import load_embedder
from prosora_pipelines.lib.index.embedding_models import query_model
from prosora_pipelines.lib.index.vector_store import CurrentIndex
from prosora_pipelines.lib.query.engine import AnalysisRefiner, QueryEngine
from prosora_pipelines.lib.query.extractive import ExtractiveGenerator
from prosora_pipelines.lib.query.generation import Generator
from prosora_pipelines.lib.query.llm_drafting import LLMAnalysisRefiner, LLMDraftGenerator
from prosora_pipelines.lib.query.prediction import EngagementPrior, PromotedModelOrPrior
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import Settings


def generator_from_settings(settings: Settings) -> tuple[Generator, AnalysisRefiner | None]:
    """The configured draft writer (an LLM backed by the extractive generator, or the
    extractive one alone) and, when asked for, the LLM analysis refiner."""
    extractive = ExtractiveGenerator()
    if settings.generator == "extractive":
        return extractive, None
    from prosora_pipelines.lib.llm.providers import make_chat_client

    client = make_chat_client(settings.chat_client_config())
    refiner = LLMAnalysisRefiner(client) if settings.llm_refine_analysis else None
    return LLMDraftGenerator(client, fallback=extractive), refiner


def engine_from_settings(
    settings: Settings, sessions: sessionmaker[Session] | None = None
) -> QueryEngine:
    """A ready engine: model loaded, app database migrated (or ``sessions`` of one the
    caller already opened); ``IndexUnavailableError`` when there is no article index yet."""
    if sessions is None:
        url = settings.app_database_url()
        migrate(url)
        sessions = make_session_factory(make_engine(url, timeouts=settings.database_timeouts()))
    generator, refiner = generator_from_settings(settings)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-index") as pool:
        # Importing LanceDB is mostly Python, loading the query encoder mostly native code
        # that lets go of the interpreter lock: side by side, a cold start waits for the
        # longer of the two instead of both.
        index = pool.submit(CurrentIndex, settings.storage_location())
        embedder = load_embedder(
            query_model(TableStore(settings.storage_location()), settings.embedding_model),
            settings.embedding_device,
            settings.embedding_precision,
            settings.home,
        )
    engine = QueryEngine(
        embedder=embedder,
        index=index.result(),
        sessions=sessions,
        generator=generator,
        predictor=PromotedModelOrPrior(
            models_dir(settings.home), embedder.encode, EngagementPrior()
        ),
        refiner=refiner,
        llm_seconds_per_query=settings.llm_query_deadline_seconds,
    )
    engine.warm_up()
    return engine
