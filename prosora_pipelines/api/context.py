"""What every request handler shares: settings, the app database, the token verifier, the
rate limiter, metrics, the materialized tables and the query engine.

The query engine (embedding model, index handle) is built once, on first use or when the
app starts, and shared; building it never materializes anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.api.observability import ApiMetrics
from prosora_pipelines.lib.access.rate_limits import RateLimiter
from prosora_pipelines.lib.access.tokens import TokenVerifier
from prosora_pipelines.lib.appdb.engine import reading
from prosora_pipelines.lib.query.engine import QueryEngine
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import Settings


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
    _query_engine: QueryEngine | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.reads = reading(self.sessions)

    def query_engine(self) -> QueryEngine:
        """The shared engine, built on first use (loading the model takes seconds)."""
        with self._lock:
            if self._query_engine is None:
                self._query_engine = self.build_query_engine()
            return self._query_engine
