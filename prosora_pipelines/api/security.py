"""Who is calling, and how much they may call: FastAPI dependencies for bearer tokens and
rate limits.

A valid token's ``sub`` (an email) is the user, created on first sight. A request without a
valid token costs its IP address one unit, so guessing tokens is rate limited too. That
address is the connecting peer's: the server (``prosora serve``) replaces it with the one
in ``X-Forwarded-For`` only when the peer is one of the proxies in
``PROSORA_API_FORWARDED_ALLOW_IPS`` (none by default), so a client cannot pick its own
budget by sending the header. Every limited response carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset``; a refused one is a 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from prosora_pipelines.api.context import ApiContext
from prosora_pipelines.api.errors import ApiError
from prosora_pipelines.lib.access.rate_limits import Decision, RateLimit
from prosora_pipelines.lib.access.tokens import InvalidTokenError
from prosora_pipelines.lib.appdb.models import User
from prosora_pipelines.lib.appdb.repository import find_user, get_or_create_user

RATE_WINDOW_SECONDS = 60.0
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="prosora"'}


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request."""

    id: uuid.UUID
    email: str


def user_of(session: Session, caller: Caller) -> User:
    """The caller's row in ``session``."""
    user = session.get(User, caller.id)
    if user is None:
        raise ApiError(
            401, "not authenticated: the user no longer exists", headers=BEARER_CHALLENGE
        )
    return user


async def api_context(request: Request) -> ApiContext:
    """Async so that FastAPI does not send this lookup through its thread pool."""
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(api_context)]


def _rate_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_seconds)),
    }
    if decision.retry_after_seconds is not None:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_seconds)))
    return headers


def spend(context: ApiContext, request: Request, key: str, cost: int) -> dict[str, str]:
    """Spend ``cost`` of ``key``'s budget; raises the 429 when it is spent."""
    limit = RateLimit(context.settings.api_rate_limit_per_minute, RATE_WINDOW_SECONDS)
    decision = context.limiter.hit(key, limit, min(cost, limit.capacity))
    headers = _rate_headers(decision)
    if not decision.allowed:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        context.metrics.rate_limited.labels(route).inc()
        raise ApiError(
            429, "rate limit reached; retry after the Retry-After seconds", headers=headers
        )
    return headers


def _client_ip(request: Request) -> str:
    # Forwarded addresses were already applied, from trusted proxies only (see above).
    return request.client.host if request.client else "unknown"


# Declares the scheme in the OpenAPI document (the docs' Authorize button); the checks and
# the 401 envelope are ours, so it never answers by itself.
bearer_scheme = HTTPBearer(auto_error=False, description="A JWT; `prosora token create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _authenticated(
    request: Request, context: ApiContext, credentials: HTTPAuthorizationCredentials | None
) -> Caller:
    token = credentials.credentials.strip() if credentials else None
    if context.verifier is None:
        reason = "this API runs without a token key (insecure development mode)"
    elif token is None:
        reason = "missing bearer token"
    else:
        try:
            claims = context.verifier.verify(token)
        except InvalidTokenError as error:
            reason = error.reason
        else:
            with context.reads() as session:
                known = find_user(session, claims.subject)
            if known is not None:
                return Caller(id=known.id, email=known.email)
            with context.sessions.begin() as session:
                user = get_or_create_user(
                    session, claims.subject, claims.name or claims.subject.split("@")[0]
                )
                return Caller(id=user.id, email=user.email)
    spend(context, request, f"ip:{_client_ip(request)}", 1)
    raise ApiError(401, f"not authenticated: {reason}", headers=BEARER_CHALLENGE)


def caller_paying(cost: Callable[[ApiContext], int]) -> Callable[..., Caller]:
    """A dependency authenticating the caller and spending ``cost(context)`` of their budget."""

    def dependency(
        request: Request, response: Response, context: Context, credentials: Credentials
    ) -> Caller:
        caller = _authenticated(request, context, credentials)
        response.headers.update(spend(context, request, f"user:{caller.id}", cost(context)))
        request.state.caller = caller
        return caller

    return dependency


CurrentCaller = Annotated[Caller, Depends(caller_paying(lambda _context: 1))]
GeneratingCaller = Annotated[
    Caller, Depends(caller_paying(lambda context: context.settings.api_generation_cost))
]
