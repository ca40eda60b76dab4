"""Date-times as callers send them: ISO 8601 text with a date and a time, never a number,
in the years the app database stores.

Pydantic reads a number (or numeric text, as a query string carries it) as seconds since
1970, so ``since=0`` or ``"posted_at": 1.5`` would pass as dates in 1970 although the API's
schema documents an RFC 3339 ``date-time``; and the database stores only the years 1000 to
9998 (converting to UTC overflows at the edges of Python's range). Annotating a ``datetime``
field with :data:`DATE_TIME_TEXT` refuses both before parsing, and writes the same rule
into the field's JSON schema as a ``pattern``, so the schema promises what is accepted.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

# A year from 1000 to 9998, then the month, day, hour and minute.
DATE_TIME_PATTERN = r"^(?:[1-8]\d{3}|9[0-8]\d{2}|99[0-8]\d)-\d{2}-\d{2}[Tt ]\d{2}:\d{2}"
_DATE_TIME = re.compile(DATE_TIME_PATTERN)


def _date_time_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TIME.match(value)):
        return value
    raise ValueError(
        "must be an ISO 8601 date and time in the years 1000 to 9998, e.g. 2026-11-01T09:30:00Z"
    )


class _DateTimeText:
    """The marker behind :data:`DATE_TIME_TEXT`: a check before parsing, and its pattern."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_date_time_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = DATE_TIME_PATTERN
        return json_schema


DATE_TIME_TEXT = _DateTimeText()
