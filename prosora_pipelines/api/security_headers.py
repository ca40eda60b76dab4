"""Headers that tell browsers and caches how to treat every answer of the API.

- ``X-Content-Type-Options: nosniff`` everywhere: a JSON error echoing input is never run
  as a script or a page.
- ``Content-Security-Policy`` allowing nothing, unless a response brings its own (the docs
  pages, see ``docs``): API answers are data, never pages that load things.
- ``Referrer-Policy: no-referrer``: links followed from the docs carry no URL of ours.
- ``Cache-Control: no-store`` on everything under the API prefix and on every answer to a
  request that carries credentials: a user's queries, profile and figures must not stay in
  a shared cache or the browser's.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response, errors answered by other middleware
    included (so it is added last, to wrap them)."""

    def __init__(self, app: ASGIApp, *, private_prefix: str) -> None:
        self.app = app
        self.private_prefix = private_prefix.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(self.private_prefix) or any(
            name == b"authorization" for name, _ in scope.get("headers", [])
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers.setdefault("Content-Security-Policy", API_POLICY)
                headers["Referrer-Policy"] = "no-referrer"
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
