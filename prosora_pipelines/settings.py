"""Every setting of Prosora Pipelines, typed and documented in one place.

Values come from environment variables prefixed ``PROSORA_`` only (no ``.env`` file, so the
webserver, the daemon and the command line agree whatever their working directory). The
docs/settings.md lists each one, and a test keeps the two in step.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from prosora_pipelines.lib.sources.fetching import FetchPolicy
from prosora_pipelines.lib.storage_location import StorageLocation, checked_storage_uri

if TYPE_CHECKING:
    # Imported where used: the database and LLM layers cost a cold command a third of a
    # second, and most commands read the settings without opening either.
    from prosora_pipelines.lib.appdb.engine import DatabaseTimeouts
    from prosora_pipelines.lib.llm.providers import ChatClientConfig

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_CATALOGS_DIR = PACKAGE_DIR / "catalogs"
SAMPLE_CATALOG = BUNDLED_CATALOGS_DIR / "sample.yaml"
DAGSTER_INSTANCE_CONFIG = PACKAGE_DIR / "dagster.yaml"


DEFAULT_EARLIEST_PLAUSIBLE_DATE = date(1990, 1, 1)
"""Published dates before this day are implausible unless a deployment says otherwise."""

FETCH_DEFAULTS = FetchPolicy()
"""The fetch limits' defaults live on :class:`FetchPolicy`; the settings only expose them."""


class Settings(BaseSettings):
    """Runtime configuration shared by the Dagster definitions, the command line and tests."""

    model_config = SettingsConfigDict(env_prefix="PROSORA_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("prosora")),
        description="Folder holding every table, index and cache the pipelines write.",
    )
    storage_uri: str | None = Field(
        None,
        description="s3://bucket/prefix for the tables and the article index; unset keeps "
        "them under PROSORA_HOME.",
    )
    s3_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("PROSORA_S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        description="URL of an S3-compatible server (MinIO, Ceph); unset means AWS S3.",
    )
    s3_region: str | None = Field(
        None,
        validation_alias=AliasChoices("PROSORA_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="Region of the bucket; most S3-compatible servers want one.",
    )
    catalog: Path = Field(
        default=SAMPLE_CATALOG,
        description="Source catalog YAML; defaults to the bundled offline sample.",
    )
    fetch_concurrency: int = Field(
        FETCH_DEFAULTS.concurrency, ge=1, le=512, description="Requests in flight at once."
    )
    fetch_per_host_concurrency: int = Field(
        FETCH_DEFAULTS.per_host_concurrency,
        ge=1,
        le=64,
        description="Requests in flight to one host at once.",
    )
    fetch_connect_timeout: float = Field(
        FETCH_DEFAULTS.connect_timeout, gt=0, description="Seconds to open a connection."
    )
    fetch_read_timeout: float = Field(
        FETCH_DEFAULTS.read_timeout, gt=0, description="Seconds to wait for each read."
    )
    fetch_source_deadline: float = Field(
        FETCH_DEFAULTS.source_deadline,
        gt=0,
        description="Seconds one source may take over all its attempts (a trickled body too).",
    )
    fetch_max_retries: int = Field(
        FETCH_DEFAULTS.max_retries,
        ge=0,
        le=10,
        description="Retries after a timeout, 429 or 5xx answer.",
    )
    fetch_backoff_seconds: float = Field(
        FETCH_DEFAULTS.backoff_seconds,
        ge=0,
        description="Base of the exponential backoff between retries (full jitter).",
    )
    fetch_max_retry_after: float = Field(
        FETCH_DEFAULTS.max_retry_after,
        ge=0,
        description="Longest Retry-After wait honoured; longer ones count as failure.",
    )
    fetch_max_bytes: int = Field(
        FETCH_DEFAULTS.max_bytes, ge=1024, description="Largest response body read, in bytes."
    )
    fetch_max_redirects: int = Field(
        FETCH_DEFAULTS.max_redirects, ge=0, le=20, description="Redirects followed per request."
    )
    fetch_max_pages_per_web_source: int = Field(
        30, ge=1, description="Article pages followed from one web source's index page."
    )
    user_agent: str = Field(
        FETCH_DEFAULTS.user_agent,
        description="User-Agent header sent with every request.",
    )
    near_duplicate_threshold: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Jaccard similarity of word 5-shingles at which two articles are one story.",
    )
    future_date_skew_minutes: int = Field(
        120, ge=0, description="How far past the fetch time a published date may lie."
    )
    earliest_plausible_date: date = Field(
        DEFAULT_EARLIEST_PLAUSIBLE_DATE,
        description="Published dates before this day are implausible and treated as no date.",
    )
    fetch_log_retention_days: int = Field(
        30, ge=1, description="Days of fetch records kept for source health."
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (bundled weights) or a local sentence-transformers folder.",
    )
    embedding_device: str = Field("auto", description="'auto' (CUDA if present), 'cpu', 'cuda:0'.")
    embedding_batch_size: int = Field(64, ge=1, le=4096, description="Texts per forward pass.")
    embedding_precision: Literal["auto", "fp32", "fp16"] = Field(
        "auto", description="'auto' uses fp16 on CUDA and fp32 on CPU."
    )
    finetune_enabled: bool = Field(
        False,
        description="Fine-tune the embedding model when embedding_finetune runs; off, it skips.",
    )
    finetune_epochs: int = Field(1, ge=1, le=50, description="Passes over the training pairs.")
    finetune_batch_size: int = Field(
        32, ge=2, le=4096, description="Pairs per step; each pair's negatives are the others."
    )
    finetune_learning_rate: float = Field(2e-5, gt=0, lt=1, description="Peak learning rate.")
    finetune_max_steps: int | None = Field(
        None, ge=1, description="Upper bound on training steps per run (unset: the epochs)."
    )
    finetune_precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="'auto' trains in bf16 or fp16 on CUDA and fp32 on CPU."
    )
    database_url: str | None = Field(
        None,
        # The one setting read without the prefix too: DATABASE_URL is what hosting platforms
        # and docker compose files set. PROSORA_DATABASE_URL wins when both are present.
        validation_alias=AliasChoices("PROSORA_DATABASE_URL", "DATABASE_URL"),
        description="App database URL (postgresql://...); unset means SQLite in PROSORA_HOME.",
    )
    database_connect_timeout: int = Field(
        3, ge=2, le=60, description="Seconds to open a PostgreSQL connection (at least 2)."
    )
    database_statement_timeout: float = Field(
        5.0, gt=0, le=600, description="Seconds one app database statement may take."
    )
    database_pool_timeout: float = Field(
        3.0, gt=0, le=60, description="Seconds a request waits for a free database connection."
    )
    learning_min_new_observations: int = Field(
        20,
        ge=1,
        description="New feedback rows that make the feedback_arrival sensor run the learning job.",
    )
    user_email: str = Field(
        "me@prosora.local", description="Whose profile and history the command line uses."
    )
    generator: Literal["extractive", "gemini", "ollama", "openai"] = Field(
        "extractive",
        description="Who writes drafts: 'extractive' (no LLM) or an LLM provider.",
    )
    llm_model: str | None = Field(
        None, description="Model name for the LLM provider; each provider has a default."
    )
    llm_base_url: str | None = Field(
        None, description="Server URL for the LLM provider; each provider has a default."
    )
    llm_timeout: float = Field(
        30.0, gt=0, description="Seconds each network operation of an LLM request may take."
    )
    llm_deadline_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds one LLM call may take in all, retries included; then drafts fall "
        "back to extractive ones.",
    )
    llm_query_deadline_seconds: float = Field(
        90.0,
        gt=0,
        description="Seconds all LLM calls of one query may take together (refining the "
        "analysis, drafting, one repair), from the query's start; then it keeps the offline "
        "analysis and extractive drafts.",
    )
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="Retries after a timeout, 429 or 5xx from the LLM provider."
    )
    llm_max_concurrency: int = Field(
        4, ge=1, le=64, description="LLM requests in flight at once from one process."
    )
    llm_slot_wait_seconds: float = Field(
        10.0,
        ge=0,
        description="Seconds an LLM call waits for a free concurrency slot; then drafts fall "
        "back to extractive ones.",
    )
    llm_breaker_failures: int = Field(
        5, ge=1, description="Consecutive LLM failures that open the circuit breaker."
    )
    llm_breaker_reset_seconds: float = Field(
        60.0, gt=0, description="Seconds the open breaker refuses calls before one trial call."
    )
    llm_refine_analysis: bool = Field(
        False, description="Ask the LLM provider to refine the offline query analysis."
    )
    llm_api_key: SecretStr | None = Field(
        None,
        # Read without the prefix too, under the names each provider's own tools use.
        validation_alias=AliasChoices(
            "PROSORA_LLM_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY"
        ),
        description="API key for the LLM provider; never logged or shown in errors.",
    )
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        "HS256", description="The one algorithm API tokens may use."
    )
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 shared secret (32 bytes or more); never logged."
    )
    jwt_public_key_file: Path | None = Field(None, description="RS256 public key (PEM file).")
    jwt_jwks_file: Path | None = Field(None, description="RS256 keys as a local JWKS file.")
    jwt_issuer: str | None = Field(None, description="Required `iss` of tokens, when set.")
    jwt_audience: str | None = Field(None, description="Required `aud` of tokens, when set.")
    api_insecure_dev: bool = Field(
        False, description="Let the API start without a token key (development only)."
    )
    api_cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API."
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("PROSORA_REDIS_URL", "REDIS_URL"),
        description="Redis for shared rate limits; unset means in-memory limits per process.",
    )
    api_rate_limit_per_minute: int = Field(
        120, ge=1, description="Request units per user (or IP) per minute."
    )
    api_generation_cost: int = Field(
        10, ge=1, description="Units a query (generation) request costs; others cost 1."
    )
    api_max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    api_index_max_age_hours: float = Field(
        48.0, gt=0, description="How old the article index may be before /ready says 503."
    )
    api_workers: int = Field(1, ge=1, le=64, description="Uvicorn worker processes.")
    api_forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description=(
            "Proxy addresses (IPs or networks) whose X-Forwarded-For and X-Forwarded-Proto "
            "the API believes; empty believes none, so per-IP limits count the connecting peer."
        ),
    )
    sentry_dsn: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("PROSORA_SENTRY_DSN", "SENTRY_DSN"),
        description="Sentry DSN: errors of the API, the app and Dagster runs go there, scrubbed.",
    )
    sentry_environment: str | None = Field(
        None,
        validation_alias=AliasChoices("PROSORA_SENTRY_ENVIRONMENT", "SENTRY_ENVIRONMENT"),
        description="Environment name on Sentry events (production, staging).",
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("PROSORA_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector URL for traces; unset means no tracing.",
    )

    @field_validator("storage_uri")
    @classmethod
    def _storage_uri_is_s3(cls, value: str | None) -> str | None:
        return checked_storage_uri(value) if value is not None else None

    def storage_location(self) -> StorageLocation:
        """Where the tables and the article index live, from these settings."""
        return StorageLocation(
            self.home, self.storage_uri, endpoint=self.s3_endpoint, region=self.s3_region
        )

    api_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=r"^https?://[^\s]+$",
        description="Where the writers' app (`prosora app`) finds the API.",
    )
    api_token: SecretStr | None = Field(
        None,
        description="The token the writers' app sends to the API; without one it asks for it.",
    )

    def fetch_policy(self) -> FetchPolicy:
        """The fetch limits these settings ask for: the one place settings become a policy."""
        return FetchPolicy(
            concurrency=self.fetch_concurrency,
            per_host_concurrency=self.fetch_per_host_concurrency,
            connect_timeout=self.fetch_connect_timeout,
            read_timeout=self.fetch_read_timeout,
            source_deadline=self.fetch_source_deadline,
            max_retries=self.fetch_max_retries,
            backoff_seconds=self.fetch_backoff_seconds,
            max_retry_after=self.fetch_max_retry_after,
            max_bytes=self.fetch_max_bytes,
            max_redirects=self.fetch_max_redirects,
            user_agent=self.user_agent,
        )

    def app_database_url(self) -> str:
        """``PROSORA_DATABASE_URL`` when set, else the SQLite file under the home folder."""
        from prosora_pipelines.lib.appdb.engine import SQLITE_FILE_NAME

        return self.database_url or f"sqlite:///{self.home / SQLITE_FILE_NAME}"

    def database_timeouts(self) -> DatabaseTimeouts:
        """The app database's connect, statement and pool timeouts."""
        from prosora_pipelines.lib.appdb.engine import DatabaseTimeouts

        return DatabaseTimeouts(
            connect_seconds=self.database_connect_timeout,
            statement_seconds=self.database_statement_timeout,
            pool_seconds=self.database_pool_timeout,
        )

    def chat_client_config(self) -> ChatClientConfig:
        """The LLM provider, its credentials and the resilience limits around it."""
        from prosora_pipelines.lib.llm.providers import ChatClientConfig

        return ChatClientConfig(
            generator=self.generator,
            api_key=self.llm_api_key.get_secret_value() if self.llm_api_key else None,
            model=self.llm_model,
            base_url=self.llm_base_url,
            timeout=self.llm_timeout,
            max_retries=self.llm_max_retries,
            deadline_seconds=self.llm_deadline_seconds,
            breaker_failures=self.llm_breaker_failures,
            breaker_reset_seconds=self.llm_breaker_reset_seconds,
            max_concurrency=self.llm_max_concurrency,
            slot_wait_seconds=self.llm_slot_wait_seconds,
        )


def env_name(field: str) -> str:
    """The environment variable that sets the setting ``field``."""
    return f"{Settings.model_config['env_prefix']}{field.upper()}"


def invalid_settings_message(error: ValidationError | SettingsError) -> str:
    """One line naming each refused setting's environment variable and what is wrong (never
    the value: it may be a secret)."""
    if isinstance(error, SettingsError):
        # pydantic-settings names the field only in its message.
        match = re.search(r'field "(\w+)"', str(error))
        variable = env_name(match.group(1)) if match else "a PROSORA_ variable"
        return f'{variable}: cannot parse the value (a list is JSON, e.g. ["a", "b"])'
    problems = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        variable = env_name(name) if name in Settings.model_fields else name or "settings"
        problems.append(f"{variable}: {problem['msg']}")
    return "; ".join(problems)


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
