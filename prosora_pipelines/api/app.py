"""``create_app``: the API assembled from the settings, refusing to start insecurely."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from prosora_pipelines.api.context import ApiContext
from prosora_pipelines.api.errors import ErrorEnvelope, install_error_handlers
from prosora_pipelines.api.observability import ApiMetrics, RequestContextMiddleware
from prosora_pipelines.api.routes import (
    catalog,
    feedback,
    health,
    profile,
    queries,
    search,
)
from prosora_pipelines.lib.access.rate_limits import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from prosora_pipelines.lib.access.tokens import TokenConfig, TokenVerifier
from prosora_pipelines.lib.appdb.engine import (
    database_timeouts,
    database_url_for,
    make_engine,
    make_session_factory,
)
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.query.engine import QueryEngine
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.settings import Settings, get_settings

logger = logging.getLogger(__name__)
# How long a thread may hold Python's interpreter lock while another waits for it (5 ms by
# default). A search comes back from native code (LanceDB, ONNX Runtime) about ten times and
# waits out this interval each time another request's thread is running Python: beside a
# busy thread a hybrid search took 203 ms at 5 ms, 48 at 1 ms and 18 at 0.2 ms (5 ms alone).
SWITCH_INTERVAL_SECONDS = 0.0005


class InsecureConfigurationError(RuntimeError):
    """The API would start without a way to check tokens and was not told that is fine."""


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """The verifier the settings describe; None only in explicit insecure development mode."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    pem = (
        settings.jwt_public_key_file.read_text(encoding="utf-8")
        if settings.jwt_public_key_file
        else None
    )
    if not (secret or pem or settings.jwt_jwks_file):
        if settings.api_insecure_dev:
            logger.warning(
                "no token key configured and PROSORA_API_INSECURE_DEV is set: every "
                "authenticated route answers 401; never run this way in production"
            )
            return None
        raise InsecureConfigurationError(
            "no token key configured: set PROSORA_JWT_SECRET (HS256) or "
            "PROSORA_JWT_PUBLIC_KEY_FILE / PROSORA_JWT_JWKS_FILE (RS256); "
            "PROSORA_API_INSECURE_DEV=true starts it anyway, for development only"
        )
    return TokenVerifier(
        TokenConfig(
            algorithm=settings.jwt_algorithm,
            secret=secret,
            public_key_pem=pem,
            jwks_path=settings.jwt_jwks_file,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )


def rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        import redis

        return RedisRateLimiter(redis.Redis.from_url(settings.redis_url, socket_timeout=2))
    return MemoryRateLimiter()


def _settings_engine(settings: Settings, context: ApiContext) -> QueryEngine:
    from prosora_pipelines.lib.query.from_settings import engine_from_settings

    return engine_from_settings(settings, sessions=context.sessions)


def create_app(
    settings: Settings | None = None,
    *,
    build_query_engine: Callable[[], QueryEngine] | None = None,
) -> FastAPI:
    """The API for ``settings`` (the process settings by default). ``build_query_engine``
    replaces how the query engine is made (tests pass one sharing a loaded model)."""
    settings = settings or get_settings()
    verifier = token_verifier(settings)
    url = database_url_for(settings)
    migrate(url)
    database = make_engine(url, timeouts=database_timeouts(settings))
    metrics = ApiMetrics()
    context = ApiContext(
        settings=settings,
        database=database,
        sessions=make_session_factory(database),
        verifier=verifier,
        limiter=rate_limiter(settings),
        metrics=metrics,
        tables=TableStore(settings.home),
        build_query_engine=build_query_engine or (lambda: _settings_engine(settings, context)),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        default_switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        context.start_warming()
        yield
        database.dispose()
        sys.setswitchinterval(default_switch_interval)

    app = FastAPI(
        title="Prosora Pipelines API",
        version="1",
        description=(
            "Queries, search, history, feedback and analytics over what the Prosora pipelines "
            "materialized. Authenticate with `Authorization: Bearer <JWT>`; errors share one "
            "envelope with the request id."
        ),
        lifespan=lifespan,
        responses={
            401: {"model": ErrorEnvelope, "description": "Missing or invalid token"},
            422: {"model": ErrorEnvelope, "description": "Invalid input"},
            429: {"model": ErrorEnvelope, "description": "Rate limit reached"},
        },
    )
    app.state.context = context
    install_error_handlers(app)
    if settings.api_cors_origins:
        if "*" in settings.api_cors_origins:
            raise InsecureConfigurationError(
                "PROSORA_API_CORS_ORIGINS may not contain '*': credentials are allowed"
            )
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
        )
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, max_body_bytes=settings.api_max_body_bytes
    )
    app.include_router(health.router)
    for module in (queries, search, catalog, profile, feedback):
        app.include_router(module.router)
    return app
