"""The id of the request being handled, for responses and every log line written meanwhile.

It is the caller's ``X-Request-ID`` when that is a sane token (letters, digits and ``._:-``,
at most 128 characters), so a request can be followed across services; otherwise a new one.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterable

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return request_id_var.get()


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex
