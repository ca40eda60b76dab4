"""The ``prosora serve`` and ``prosora token`` commands: run the API, mint development tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from prosora_pipelines.cli.terminal import fail
from prosora_pipelines.settings import env_name, get_settings

token_app = typer.Typer(help="API tokens for development.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="The email the token speaks for.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    hours: Annotated[float, typer.Option(min=0.01, max=24 * 30, help="Lifetime.")] = 12.0,
) -> None:
    """Mint an HS256 token from PROSORA_JWT_SECRET (with the configured issuer and audience)."""
    from prosora_pipelines.api.app import TOKEN_SETTINGS
    from prosora_pipelines.lib.access.tokens import TokenConfig, TokenConfigError, mint_token

    settings = get_settings()
    if settings.jwt_secret is None:
        raise fail("PROSORA_JWT_SECRET is not set: tokens are minted from the HS256 secret")
    try:
        config = TokenConfig(
            algorithm="HS256",
            secret=settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    except TokenConfigError as error:
        raise fail(f"{env_name(TOKEN_SETTINGS[error.field])}: {error}") from None
    try:
        token = mint_token(config, user, name=name, ttl=timedelta(hours=hours))
    except ValueError as error:
        raise fail(f"--user: {error}") from None
    typer.echo(token)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (default: setting).")
    ] = None,
) -> None:
    """Run the HTTP API with uvicorn (JSON logs, OpenAPI docs at /docs)."""
    import uvicorn

    from prosora_pipelines.api.app import ConfigurationError, check_api_settings
    from prosora_pipelines.api.observability import configure_json_logging

    settings = get_settings()
    try:
        check_api_settings(settings)
    except ConfigurationError as error:
        raise fail(str(error)) from None
    configure_json_logging()
    uvicorn.run(
        "prosora_pipelines.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.api_workers,
        log_config=None,
        access_log=False,
        # No `server: uvicorn` banner telling a scanner what to try.
        server_header=False,
        # Forwarded client addresses only from the configured proxies; none by default.
        proxy_headers=bool(settings.api_forwarded_allow_ips),
        forwarded_allow_ips=settings.api_forwarded_allow_ips or None,
    )
