"""What every request handler shares: settings, the app database, the token verifier, the
rate limiter, metrics, the materialized tables and the query engine.

The query engine (embedding model, index handle) is built once, on first use or when the
app starts, and shared; building it never materializes anything.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.api.observability import ApiMetrics
from prosora_pipelines.lib.access.rate_limits import RateLimiter
from prosora_pipelines.lib.access.tokens import TokenVerifier
from prosora_pipelines.lib.appdb.engine import reading
from prosora_pipelines.lib.index.embedding_models import query_model
from prosora_pipelines.lib.index.vector_store import IndexUnavailableError
from prosora_pipelines.lib.query.engine import QueryEngine
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import Settings

log = logging.getLogger(__name__)
READY_DATABASE_BUDGET_SECONDS = 1.0
"""How long /ready waits for the app database to answer before calling it not ready."""


class DatabaseProbe:
    """Whether the app database answers, known within ``budget_seconds`` whatever the
    database does. Each check runs on a thread of its own and the caller waits for it at
    most the budget; while a check is still waiting on a database that answers nothing
    (until the engine's own timeouts end it), later callers wait on that same check instead
    of starting another, so probes never pile up threads or connections."""

    def __init__(self, database: Engine, budget_seconds: float) -> None:
        self.database = database
        self.budget_seconds = budget_seconds
        self._lock = threading.Lock()
        self._running: Future[str | None] | None = None

    def problem(self) -> str | None:
        """What is wrong with the app database, or None when it answered in time."""
        with self._lock:
            if self._running is None or self._running.done():
                self._running = Future()
                threading.Thread(
                    target=self._check, args=(self._running,), name="database-probe", daemon=True
                ).start()
            running = self._running
        try:
            return running.result(timeout=self.budget_seconds)
        except TimeoutError:
            return f"app database did not answer within {self.budget_seconds:g} s"

    def _check(self, result: Future[str | None]) -> None:
        try:
            with self.database.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure means not ready; the type says which
            result.set_result(f"app database unreachable ({type(error).__name__})")
        else:
            result.set_result(None)


@dataclass
class ApiContext:
    settings: Settings
    database: Engine
    sessions: sessionmaker[Session]
    verifier: TokenVerifier | None
    limiter: RateLimiter
    metrics: ApiMetrics
    tables: TableStore
    build_query_engine: Callable[[], QueryEngine]
    reads: sessionmaker[Session] = field(init=False)
    database_probe: DatabaseProbe = field(init=False)
    _query_engine: QueryEngine | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _warm_up_started: bool = False
    _warm_up_done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.reads = reading(self.sessions)
        self.database_probe = DatabaseProbe(self.database, READY_DATABASE_BUDGET_SECONDS)

    def query_engine(self) -> QueryEngine:
        """The shared engine, built on first use (loading the model takes seconds), and
        built again once the index has switched to a promoted fine-tune of the model."""
        with self._lock:
            if self._query_engine is not None and self._index_model_changed(self._query_engine):
                self._query_engine = None
            if self._query_engine is None:
                self._query_engine = self.build_query_engine()
            return self._query_engine

    def _index_model_changed(self, engine: QueryEngine) -> bool:
        wanted = query_model(self.tables, self.settings.embedding_model)
        return wanted != engine.embedder.info.model_id

    @property
    def built_query_engine(self) -> QueryEngine | None:
        """The engine if it has been built, without building it (for metrics)."""
        return self._query_engine

    def start_warming(self) -> None:
        """Builds the engine in the background, so the first requests of each worker
        process do not wait seconds for the model; /ready says so until it is done."""
        self._warm_up_started = True
        threading.Thread(target=self._warm, name="query-engine-warm-up", daemon=True).start()

    @property
    def warming(self) -> bool:
        return self._warm_up_started and not self._warm_up_done.is_set()

    def wait_until_warm(self, timeout: float) -> bool:
        """True once the start-up build has finished (or when none was started)."""
        return not self._warm_up_started or self._warm_up_done.wait(timeout)

    def _warm(self) -> None:
        try:
            self.query_engine()
            # The model and the libraries are hundreds of thousands of long-lived objects:
            # every full collection walked them all, pausing each request in the process.
            # Frozen, they are left out of collections from now on.
            gc.freeze()
        except IndexUnavailableError as error:
            # Expected on a fresh home, before the first ingest: not a fault to warn about.
            log.info("no article index yet, queries and search answer 503 until one: %s", error)
        except Exception:  # requests retry the build and answer with its error
            log.exception("query engine could not be built at start")
        finally:
            self._warm_up_done.set()
