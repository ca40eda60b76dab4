"""Importing engagement figures from a CSV file, all rows or none.

Users copy numbers out of LinkedIn and X analytics exports, so the importer takes the
headers those exports use instead of asking for a fixed template. Every row of a file is
checked before anything is stored, and every problem is reported with its line (the header
is line 1) and its column, so a user can fix the whole file in one pass; a file with any
bad row stores nothing, because a half-imported file is hard to tell from a whole one.

Columns (``COLUMN_ALIASES``; a header matches in any letter case, with spaces, underscores
and hyphens treated alike, so ``Posted_At``, ``posted-at`` and ``Posted at`` are one name):

============  ========  ==========================================================
field         required  accepted headers
============  ========  ==========================================================
variant_id    yes (1)   variant_id, variant
platform      yes       platform, network, channel
posted_at     yes       posted_at, date, post date, time, created date, published at
impressions   yes       impressions
reactions     yes       reactions, likes
comments      yes       comments, replies
shares        yes       shares, reposts, retweets
clicks        no (0)    clicks, link clicks, url clicks
text          no (1)    text, post text, post, content, commentary
format        no (1)    format, post format, content format
============  ========  ==========================================================

(1) A post written outside Prosora has no variant: its row leaves ``variant_id`` empty (or
the file has no such column) and gives the post's ``text`` and ``format`` instead, so its
engagement is learned from too. It is stored as a variant of its own
(``repository.imported_post_variant``); the same text and format again is the same post.

Other columns are ignored (exports carry many), blank lines are skipped, and two headers
naming the same field are an error. Values:

- ``variant_id``: the variant's id as the API returned it (a UUID). A variant that does
  not exist and one of another user get the same error. When a row has one, its ``text``
  and ``format`` cells are not read.
- ``text``: the post as published, at most 20,000 characters; ``format``: one of
  ``linkedin_post``, ``x_thread``, ``blog_outline``.
- ``platform``: a short lower-case name such as ``linkedin`` or ``x`` (case is folded).
- ``posted_at``: ISO 8601 with a timezone (``2026-01-05T09:00:00+01:00``, ``...Z``). A
  time without one is refused rather than guessed, since exports are in the exporting
  user's local time; a time after the import, or before the variant was drafted, is
  refused too (``posting_time_problem``).
- counts: whole, non-negative numbers; thousands separators (``1,234``) are accepted.
  Reactions, comments and shares together may not exceed impressions (``FeedbackRecord``).
- no cell may hold a control character other than tab, line feed and carriage return
  (``text_problem``, the app database's rule for stored text).

The file is UTF-8, with or without a byte-order mark (what spreadsheet programs write).
The rows are stored by ``record_feedback_batch``, under ``record_feedback``'s rules, so a
row for a post already recorded (same variant, platform and ``posted_at``) replaces its
figures; the same post twice in one file is an error, since nothing says which of the two
is newer.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import User, utc_now
from prosora_pipelines.lib.appdb.repository import (
    CONTENT_FORMATS,
    ContentFormat,
    FeedbackRecord,
    InvalidInputError,
    imported_post_variant,
    owned_variants_drafted_at,
    posting_time_problem,
    record_feedback_batch,
    text_problem,
)

COLUMN_ALIASES: Mapping[str, tuple[str, ...]] = {
    "variant_id": ("variant_id", "variant"),
    "platform": ("platform", "network", "channel"),
    "posted_at": ("posted_at", "date", "post date", "time", "created date", "published at"),
    "impressions": ("impressions",),
    "reactions": ("reactions", "likes"),
    "comments": ("comments", "replies"),
    "shares": ("shares", "reposts", "retweets"),
    "clicks": ("clicks", "link clicks", "url clicks"),
    "text": ("text", "post text", "post", "content", "commentary"),
    "format": ("format", "post format", "content format"),
}
OPTIONAL_COLUMNS = frozenset({"clicks", "variant_id", "text", "format"})
"""Columns that may be missing or empty; a row still needs a variant or a text and format."""
MAX_POST_CHARACTERS = 20_000
MAX_ROWS = 10_000
MAX_ERRORS_IN_MESSAGE = 20
_WHOLE_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)")
_T = TypeVar("_T")


def _header_key(name: str) -> str:
    return " ".join(re.split(r"[\s_-]+", name.strip().casefold())).strip()


_FIELD_BY_HEADER = {
    _header_key(alias): field for field, aliases in COLUMN_ALIASES.items() for alias in aliases
}


@dataclass(frozen=True)
class RowError:
    """One problem in a file: its line (the header is line 1), the column as the file's
    header spells it (the field name for a missing column, None for the whole row)."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class FeedbackImportError(InvalidInputError):
    """A file that was not imported; ``errors`` holds every problem, in line order."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.line)
        shown = "; ".join(str(error) for error in self.errors[:MAX_ERRORS_IN_MESSAGE])
        more = len(self.errors) - MAX_ERRORS_IN_MESSAGE
        suffix = f"; and {more} more" if more > 0 else ""
        count = f"{len(self.errors)} error" + ("s" if len(self.errors) != 1 else "")
        super().__init__(f"invalid feedback file, nothing imported: {count}: {shown}{suffix}")


@dataclass(frozen=True)
class ImportedPost:
    """A post written outside Prosora, as a row gives it."""

    text: str
    format: ContentFormat


@dataclass(frozen=True)
class ParsedRow:
    """One well-formed row: the variant it is about (or the post, for one written outside
    Prosora) and its figures."""

    line: int
    variant_id: uuid.UUID | None
    post: ImportedPost | None
    feedback: FeedbackRecord


@dataclass(frozen=True)
class ImportReport:
    """What an import stored: new rows, and rows whose figures it replaced."""

    created: int
    updated: int


@dataclass(frozen=True)
class _ParsedFile:
    rows: list[ParsedRow]
    errors: list[RowError]
    headers: dict[str, str]
    """The field → the header naming it in the file."""


def _variant_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a variant id (a UUID)") from None


def _posted_at(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{raw!r} is not an ISO 8601 date and time (such as 2026-01-05T09:00:00+00:00)"
        ) from None
    if value.utcoffset() is None:
        raise ValueError(f"{raw!r} has no timezone: add an offset such as +00:00 or Z")
    return value


def _post_text(raw: str) -> str:
    if len(raw) > MAX_POST_CHARACTERS:
        raise ValueError(f"{len(raw)} characters, more than {MAX_POST_CHARACTERS}")
    return raw


def _format(raw: str) -> ContentFormat:
    for known in CONTENT_FORMATS:
        if raw.strip().lower() == known:
            return known
    raise ValueError(f"{raw!r} is not a format: one of {', '.join(CONTENT_FORMATS)}")


def _count(raw: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a whole number")
    value = int(raw.replace(",", ""))
    if value < 0:
        raise ValueError(f"{raw!r} is negative")
    return value


class _Row:
    """The cells of one record, read field by field, collecting the problems."""

    def __init__(
        self, line: int, cells: list[str], header: list[str], columns: Mapping[str, int]
    ) -> None:
        self.line = line
        self.cells = cells
        self.header = header
        self.columns = columns
        self.errors: list[RowError] = []
        if len(cells) > len(header):
            self.errors.append(
                RowError(line, None, f"{len(cells)} fields, but the header has {len(header)}")
            )

    def column(self, field: str) -> str:
        return self.header[self.columns[field]].strip()

    def take(self, field: str, parse: Callable[[str], _T]) -> _T | None:
        index = self.columns.get(field)
        if index is None:
            return None
        raw = self.cells[index].strip() if index < len(self.cells) else ""
        problem = text_problem(raw)
        if problem is not None:
            self.errors.append(RowError(self.line, self.column(field), problem))
            return None
        if not raw:
            if field not in OPTIONAL_COLUMNS:
                self.errors.append(RowError(self.line, self.column(field), "missing value"))
            return None
        try:
            return parse(raw)
        except ValueError as error:
            self.errors.append(RowError(self.line, self.column(field), str(error)))
            return None

    def parsed(self) -> ParsedRow | None:
        variant_id = self.take("variant_id", _variant_id)
        post: ImportedPost | None = None
        if variant_id is None and not self.errors:
            text, format_ = self.take("text", _post_text), self.take("format", _format)
            if text is not None and format_ is not None:
                post = ImportedPost(text, format_)
            elif not self.errors:
                where = "variant_id" if "variant_id" in self.columns else "text"
                self.errors.append(
                    RowError(
                        self.line,
                        self.column(where),
                        "missing value: a variant_id, or the text and format of a post "
                        "written outside Prosora",
                    )
                )
        values = {
            "platform": self.take("platform", str),
            "posted_at": self.take("posted_at", _posted_at),
            **{
                field: self.take(field, _count)
                for field in ("impressions", "reactions", "comments", "shares", "clicks")
            },
        }
        if self.errors or (variant_id is None and post is None):
            return None
        try:
            feedback = FeedbackRecord.model_validate(
                {field: value for field, value in values.items() if value is not None}
            )
        except ValidationError as error:
            self.errors.extend(
                RowError(
                    self.line,
                    self.column(str(problem["loc"][0])) if problem["loc"] else None,
                    problem["msg"].removeprefix("Value error, "),
                )
                for problem in error.errors()
            )
            return None
        return ParsedRow(self.line, variant_id, post, feedback)


def _header_columns(header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    columns: dict[str, int] = {}
    errors = []
    for index, name in enumerate(header):
        field = _FIELD_BY_HEADER.get(_header_key(name))
        if field is None:
            continue
        if field in columns:
            first = header[columns[field]].strip()
            errors.append(RowError(1, name.strip(), f"names {field} again, as {first!r} does"))
        else:
            columns[field] = index
    errors.extend(
        RowError(1, field, f"missing column {field} (headers: {', '.join(aliases)})")
        for field, aliases in COLUMN_ALIASES.items()
        if field not in columns and field not in OPTIONAL_COLUMNS
    )
    if "variant_id" not in columns and not {"text", "format"} <= set(columns):
        errors.append(
            RowError(
                1,
                "variant_id",
                "missing column variant_id (headers: variant_id, variant), or text and "
                "format columns for posts written outside Prosora",
            )
        )
    return columns, errors


def _parse(data: bytes, max_rows: int) -> _ParsedFile:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return _ParsedFile([], [RowError(line, None, "not UTF-8 text")], {})
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if not any(name.strip() for name in header):
        return _ParsedFile([], [RowError(1, None, "no header: the file is empty")], {})
    columns, errors = _header_columns(header)
    headers = {field: header[index].strip() for field, index in columns.items()}
    if errors:
        return _ParsedFile([], errors, headers)
    rows: list[ParsedRow] = []
    start = reader.line_num + 1
    seen = 0
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as error:
            errors.append(RowError(start, None, f"unreadable CSV: {error}"))
            break
        if cells is None:
            break
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        seen += 1
        if seen > max_rows:
            errors.append(RowError(line, None, f"more than {max_rows} rows: split the file"))
            break
        row = _Row(line, cells, header, columns)
        parsed = row.parsed()
        errors.extend(row.errors)
        if parsed is not None:
            rows.append(parsed)
    if not seen and not errors:
        errors.append(RowError(1, None, "no rows: the file has only a header"))
    return _ParsedFile(rows, errors, headers)


def _problems(
    rows: Iterable[ParsedRow],
    drafted_at: Mapping[uuid.UUID, datetime],
    headers: Mapping[str, str],
    now: datetime,
) -> list[RowError]:
    problems = []
    first_line: dict[tuple[object, str, datetime], int] = {}
    for row in rows:
        posted_at = row.feedback.posted_at
        if row.variant_id is None:
            # A post written elsewhere was drafted when it was posted: only the future is wrong.
            problem = posting_time_problem(posted_at, posted_at, now)
            if problem is not None:
                problems.append(RowError(row.line, headers["posted_at"], problem))
        elif row.variant_id not in drafted_at:
            problems.append(
                RowError(
                    row.line, headers["variant_id"], f"variant {row.variant_id} does not exist"
                )
            )
        else:
            problem = posting_time_problem(posted_at, drafted_at[row.variant_id], now)
            if problem is not None:
                problems.append(RowError(row.line, headers["posted_at"], problem))
        key = (row.variant_id or row.post, row.feedback.platform, posted_at)
        if key in first_line:
            problems.append(
                RowError(
                    row.line,
                    None,
                    f"the same post ({'variant' if row.variant_id else 'text, format'}, "
                    f"platform and posted_at) as line {first_line[key]}",
                )
            )
        first_line.setdefault(key, row.line)
    return problems


def _variant_of(session: Session, user: User, row: ParsedRow) -> uuid.UUID:
    """The row's variant: the one it names, or the one standing for its imported post."""
    if row.variant_id is not None:
        return row.variant_id
    if row.post is None:  # parsing refuses such a row; kept out of storing all the same
        raise InvalidInputError(f"line {row.line}: neither a variant nor a post")
    return imported_post_variant(
        session, user, row.post.text, row.post.format, row.feedback.posted_at
    )


def import_feedback(
    session: Session,
    user: User,
    data: bytes,
    *,
    now: datetime | None = None,
    max_rows: int = MAX_ROWS,
) -> ImportReport:
    """Store every row of a feedback file for the user's variants, or nothing.

    Any problem (a malformed file or value, a variant that is not the user's, a posting time
    that does not fit the variant, a post twice) raises ``FeedbackImportError`` with all of
    them before anything is written. The rows are written in a savepoint, so even an
    unexpected database error leaves the caller's transaction as it was.
    """
    now = now or utc_now()
    parsed = _parse(data, max_rows)
    variant_ids = {row.variant_id for row in parsed.rows if row.variant_id is not None}
    drafted_at = owned_variants_drafted_at(session, user, variant_ids)
    errors = parsed.errors + _problems(parsed.rows, drafted_at, parsed.headers, now)
    if errors:
        raise FeedbackImportError(errors)
    with session.begin_nested():
        entries = [(_variant_of(session, user, row), row.feedback) for row in parsed.rows]
        recorded = record_feedback_batch(session, user, entries, now=now)
    created = sum(result.created for result in recorded)
    return ImportReport(created=created, updated=len(recorded) - created)
