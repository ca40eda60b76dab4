"""The interactive API documentation, served wholly by the app: ``/docs`` (Swagger UI) and
``/redoc`` (ReDoc) load their scripts and styles from ``/docs-assets``, files that ship in
the ``fastapi-offline`` package, instead of from a CDN, so the pages work offline and under
a Content-Security-Policy that allows nothing from another origin.

Each page's policy allows its own inline script by hash and nothing inline otherwise (bar
styles, which both UIs set on elements), so the pages stay as locked down as the API.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
ASSETS_DIRECTORY = Path(str(files("fastapi_offline").joinpath("static")))
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def page_policy(html: str) -> str:
    """The Content-Security-Policy for a docs page: scripts from this origin plus the
    page's own inline scripts (by hash); styles, images and the OpenAPI document from this
    origin; ReDoc's search worker from a blob URL; no framing, forms or base changes."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}".rstrip()
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:;"
        " connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none';"
        " base-uri 'none'; form-action 'none'"
    )


def _text(page: HTMLResponse) -> str:
    return bytes(page.body).decode()


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html)})


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets; ``app`` is made with ``docs_url`` and
    ``redoc_url`` None, so FastAPI's CDN-loading pages are not there."""
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = _text(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # Swagger UI would otherwise send the document to an online validator for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )
    redoc = _text(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIRECTORY), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _page(swagger)

    @app.get("/redoc", include_in_schema=False)
    async def redoc_ui() -> HTMLResponse:
        return _page(redoc)
