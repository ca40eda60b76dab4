"""``create_app``: the API assembled from the settings, refusing to start insecurely."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from prosora_pipelines.api.context import ApiContext
from prosora_pipelines.api.docs import install_docs
from prosora_pipelines.api.errors import common_error_responses, install_error_handlers
from prosora_pipelines.api.observability import ApiMetrics, RequestContextMiddleware
from prosora_pipelines.api.pipeline_metrics import PipelineStateCollector
from prosora_pipelines.api.request_ids import current_request_id
from prosora_pipelines.api.routes import (
    API_PREFIX,
    catalog,
    digest,
    feedback,
    health,
    profile,
    queries,
    search,
)
from prosora_pipelines.api.security_headers import SecurityHeadersMiddleware
from prosora_pipelines.lib.access.rate_limits import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from prosora_pipelines.lib.access.tokens import TokenConfig, TokenConfigError, TokenVerifier
from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.query.engine import QueryEngine
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines.lib.telemetry.tracing import trace_database
from prosora_pipelines.settings import Settings, env_name, get_settings
from prosora_pipelines.telemetry import start_telemetry

logger = logging.getLogger(__name__)
# How long a thread may hold Python's interpreter lock while another waits for it (5 ms by
# default). A search comes back from native code (LanceDB, ONNX Runtime) several times and
# waits out this interval each time another request's thread is running Python, so beside a
# busy thread the default multiplies a search's latency (benchmarks/api_load.py measures
# search latency under that load).
SWITCH_INTERVAL_SECONDS = 0.0005


class ConfigurationError(RuntimeError):
    """Settings the API cannot start with. The message is one line that names the setting
    (its environment variable) and what to do, so ``prosora serve`` can print just that."""


class InsecureConfigurationError(ConfigurationError):
    """The API would start without a way to check tokens and was not told that is fine."""


# The setting each ``TokenConfig`` field comes from, to name it when the field is refused.
TOKEN_SETTINGS = {
    "algorithm": "jwt_algorithm",
    "secret": "jwt_secret",
    "public_key_pem": "jwt_public_key_file",
    "jwks_path": "jwt_jwks_file",
    "issuer": "jwt_issuer",
    "audience": "jwt_audience",
}


def _public_key_pem(settings: Settings) -> str | None:
    path = settings.jwt_public_key_file
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not a text file"
        raise ConfigurationError(
            f"{env_name('jwt_public_key_file')}: cannot read {path} ({reason}); point it at "
            "the identity provider's RS256 public key (a PEM file)"
        ) from None


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """The verifier the settings describe; None only in explicit insecure development mode."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    pem = _public_key_pem(settings)
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
    try:
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
    except TokenConfigError as error:
        setting = TOKEN_SETTINGS.get(error.field, "jwt_algorithm")
        raise ConfigurationError(f"{env_name(setting)}: {error}") from None


def check_api_settings(settings: Settings) -> TokenVerifier | None:
    """Everything in the settings the API refuses to start with, checked before it opens
    the database; the token verifier when they pass (see ``token_verifier``)."""
    verifier = token_verifier(settings)
    if "*" in settings.api_cors_origins:
        raise InsecureConfigurationError(
            f"{env_name('api_cors_origins')} may not contain '*' (the API allows "
            "credentials): list the browser origins that may call it"
        )
    return verifier


def rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        import redis

        return RedisRateLimiter(redis.Redis.from_url(settings.redis_url, socket_timeout=2))
    return MemoryRateLimiter()


def _settings_engine(settings: Settings, context: ApiContext) -> QueryEngine:
    from prosora_pipelines.query_engine_from_settings import engine_from_settings

    return engine_from_settings(settings, sessions=context.sessions)


def create_app(
    settings: Settings | None = None,
    *,
    build_query_engine: Callable[[], QueryEngine] | None = None,
) -> FastAPI:
    """The API for ``settings`` (the process settings by default). ``build_query_engine``
    replaces how the query engine is made (tests pass one sharing a loaded model)."""
    settings = settings or get_settings()
    verifier = check_api_settings(settings)
    url = settings.app_database_url()
    migrate(url)
    database = make_engine(url, timeouts=settings.database_timeouts())
    start_telemetry(settings, "api", request_id=current_request_id)
    trace_database(database)
    metrics = ApiMetrics()
    context = ApiContext(
        settings=settings,
        database=database,
        sessions=make_session_factory(database),
        verifier=verifier,
        limiter=rate_limiter(settings),
        metrics=metrics,
        tables=TableStore(settings.storage_location()),
        build_query_engine=build_query_engine or (lambda: _settings_engine(settings, context)),
    )

    metrics.registry.register(PipelineStateCollector(context))

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
        docs_url=None,
        redoc_url=None,
        responses=common_error_responses(),
    )
    app.state.context = context
    install_error_handlers(app)
    if settings.api_cors_origins:
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
    app.add_middleware(SecurityHeadersMiddleware, private_prefix=API_PREFIX)
    install_docs(app)
    app.include_router(health.router)
    for module in (queries, search, catalog, digest, profile, feedback):
        app.include_router(module.router)
    return app
