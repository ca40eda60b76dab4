"""Why: users paste platform exports into the importer, so it must take the headers those
exports use, point at every bad cell by line and column so the whole file can be fixed in
one pass, never touch another user's variants, and store a file whole or not at all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import PerformanceFeedback, User, Variant
from prosora_pipelines.lib.appdb.repository import (
    IMPORTED_POST_VERSION,
    InvalidInputError,
    get_or_create_user,
    record_feedback,
    record_query,
)
from prosora_pipelines.lib.engagement import feedback_import
from prosora_pipelines.lib.engagement.feedback_import import (
    COLUMN_ALIASES,
    MAX_ROWS,
    FeedbackImportError,
    ImportReport,
    ParsedRow,
    RowError,
    import_feedback,
)
from prosora_pipelines.lib.engagement.observations import (
    feedback_versions,
    read_feedback_posts,
    skip_reason,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
DRAFTED_AT = NOW - timedelta(days=30)
HEADER = "variant_id,platform,posted_at,impressions,reactions,comments,shares,clicks"
VARIANT = uuid.UUID("0b6f1c2e-4a53-4d7e-9a1f-3c5b7d9e1f20")


def _file(*lines: str, bom: bool = False, newline: str = "\n") -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + newline.join(lines).encode()


def _line(
    variant_id: uuid.UUID | str = VARIANT,
    platform: str = "linkedin",
    posted_at: str = "2026-01-30T09:00:00+00:00",
    counts: str = "1000,30,5,5,60",
) -> str:
    return f"{variant_id},{platform},{posted_at},{counts}"


def parse_feedback_csv(data: bytes, *, max_rows: int = MAX_ROWS) -> list[ParsedRow]:
    """The rows ``import_feedback`` reads from ``data``, or the ``FeedbackImportError`` it
    raises for the file itself, before any variant is looked up (so no database needed)."""
    parsed = feedback_import._parse(data, max_rows)
    if parsed.errors:
        raise FeedbackImportError(parsed.errors)
    return parsed.rows


def _errors(data: bytes, **kwargs: Any) -> list[tuple[int, str | None]]:
    with pytest.raises(FeedbackImportError) as caught:
        parse_feedback_csv(data, **kwargs)
    return [(error.line, error.column) for error in caught.value.errors]


def _variants(session: Session, user: User, count: int = 2) -> list[Variant]:
    query = record_query(
        session,
        user,
        {
            "text": "AI regulation",
            "processing_time_ms": 5.0,
            "created_at": DRAFTED_AT,
            "variants": [
                {"format": "linkedin_post", "text": f"draft {index}", "model_version": "gen-1"}
                for index in range(count)
            ],
        },
    )
    return list(query.variants)


def _stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PerformanceFeedback)) or 0


def test_the_canonical_header_reads_every_field() -> None:
    [row] = parse_feedback_csv(_file(HEADER, _line()))
    feedback = row.feedback
    assert (row.line, row.variant_id) == (2, VARIANT)
    assert feedback.platform == "linkedin"
    assert feedback.posted_at == datetime(2026, 1, 30, 9, 0, tzinfo=UTC)
    assert (feedback.impressions, feedback.reactions, feedback.comments) == (1000, 30, 5)
    assert (feedback.shares, feedback.clicks) == (5, 60)


def test_export_headers_bom_crlf_thousands_and_extra_columns_are_accepted() -> None:
    data = _file(
        "Post title, Variant ,Platform,Post Date,IMPRESSIONS,Likes,Comments,Reposts,Link-Clicks",
        f'"Hello, world",{VARIANT},LinkedIn,2026-01-30T09:00:00Z,"12,345",1,2,3,"1,000"',
        "",
        f"Second,{VARIANT},X,2026-01-30T10:00:00+05:30,7,0,0,0,",
        bom=True,
        newline="\r\n",
    )
    first, second = parse_feedback_csv(data)
    assert (first.line, second.line) == (2, 4)
    assert (first.feedback.platform, first.feedback.impressions) == ("linkedin", 12_345)
    assert (first.feedback.reactions, first.feedback.shares, first.feedback.clicks) == (1, 3, 1000)
    assert second.feedback.posted_at == datetime(2026, 1, 30, 4, 30, tzinfo=UTC)
    assert second.feedback.clicks == 0


@pytest.mark.parametrize(
    "header",
    [
        "Variant ID,Channel,Date,Impressions,Reactions,Replies,Retweets",
        "variant,network,time,impressions,likes,comments,shares",
        "VARIANT_ID,PLATFORM,Posted At,Impressions,Likes,Replies,Shares,Clicks",
        "variant-id,platform,published_at,impressions,reactions,comments,reposts,url clicks",
    ],
)
def test_every_alias_spelling_maps_to_its_field(header: str) -> None:
    counts = "10,1,1,1" + (",4" if header.count(",") == 7 else "")
    [row] = parse_feedback_csv(_file(header, _line(counts=counts)))
    assert (row.feedback.impressions, row.feedback.shares) == (10, 1)


def test_the_documented_aliases_are_the_module_constant() -> None:
    assert set(COLUMN_ALIASES) == {
        "variant_id",
        "platform",
        "posted_at",
        "impressions",
        "reactions",
        "comments",
        "shares",
        "clicks",
        "text",
        "format",
    }


def test_every_bad_cell_is_reported_with_its_line_and_column() -> None:
    data = _file(
        HEADER,
        _line(counts="1000,30,5,5,60"),
        _line(counts="12x,30,5,5,60"),
        _line(counts="1000,-3,5,5,60"),
        _line(posted_at="2026-01-30T09:00:00"),
        _line(posted_at="2026-01-30"),
        _line(posted_at="last tuesday"),
        _line(variant_id="not-a-uuid"),
        _line(platform="Linked In"),
        _line(counts="1000,30,,5,60"),
        _line(counts="1.5,30,5,5,1,23"),
        "",
        f'{VARIANT},x,"2026-01-30T09:00:00+00:00",1000,30,"5',
        'x",5,60',
        _line(counts="1000,30,5,5,60,surplus"),
        _line(counts="1000,30,5"),
        _line(counts="9999999999,0,0,0,0"),
    )
    assert _errors(data) == [
        (3, "impressions"),
        (4, "reactions"),
        (5, "posted_at"),
        (6, "posted_at"),
        (7, "posted_at"),
        (8, "variant_id"),
        (9, "platform"),
        (10, "comments"),
        (11, None),
        (11, "impressions"),
        (13, "comments"),
        (15, None),
        (16, "shares"),
        (17, "impressions"),
    ]


def test_error_messages_say_what_is_wrong() -> None:
    data = _file(
        HEADER,
        _line(counts="12x,30,5,5,60"),
        _line(counts="1000,-3,5,5,60"),
        _line(posted_at="2026-01-30T09:00:00"),
        _line(counts="1000,30,,5,60"),
    )
    with pytest.raises(FeedbackImportError) as caught:
        parse_feedback_csv(data)
    assert [str(error) for error in caught.value.errors] == [
        "line 2, column impressions: '12x' is not a whole number",
        "line 3, column reactions: '-3' is negative",
        "line 4, column posted_at: '2026-01-30T09:00:00' has no timezone:"
        " add an offset such as +00:00 or Z",
        "line 5, column comments: missing value",
    ]
    assert isinstance(caught.value, InvalidInputError)
    assert str(caught.value).startswith("invalid feedback file, nothing imported: 4 errors: line 2")


def test_control_characters_and_impossible_figures_are_refused_by_line() -> None:
    data = _file(
        HEADER,
        _line(platform="link\x00edin"),
        _line(counts="1000,30,5,5,6\x1b0"),
        _line(counts="10,8,2,1,0"),
        _line(counts="0,0,0,1,0"),
        _line(counts="10,8,2,0,0"),
    )
    with pytest.raises(FeedbackImportError) as caught:
        parse_feedback_csv(data)
    assert [str(error) for error in caught.value.errors] == [
        "line 2, column platform: contains a control character (U+0000) at position 5",
        "line 3, column clicks: contains a control character (U+001B) at position 2",
        "line 4: reactions, comments and shares add up to 11, more than the 10 impressions:"
        " every interaction comes from an impression",
        "line 5: reactions, comments and shares add up to 1, more than the 0 impressions:"
        " every interaction comes from an impression",
    ]


def test_posts_dated_before_their_variant_was_drafted_are_refused(session: Session) -> None:
    user = get_or_create_user(session, "ada@example.com", "Ada")
    variant = _variants(session, user, count=1)[0]
    session.commit()
    early = (DRAFTED_AT - timedelta(days=2)).isoformat()
    same_day = (DRAFTED_AT - timedelta(hours=9)).isoformat()
    data = _file(HEADER, _line(variant.id, posted_at=early), _line(variant.id, posted_at=same_day))
    with pytest.raises(FeedbackImportError) as caught:
        import_feedback(session, user, data, now=NOW)
    assert [str(error) for error in caught.value.errors] == [
        f"line 2, column posted_at: posted_at {early} is before the variant was drafted"
        f" ({DRAFTED_AT.isoformat()})"
    ]
    assert _stored(session) == 0


def test_errors_name_the_column_as_the_file_spells_it() -> None:
    data = _file("Variant,Platform,Date,Impressions,Likes,Replies,Reposts", _line(counts="1,x,1,1"))
    with pytest.raises(FeedbackImportError) as caught:
        parse_feedback_csv(data)
    assert caught.value.errors == [RowError(2, "Likes", "'x' is not a whole number")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", [(1, None)]),
        (b"\xef\xbb\xbf \r\n\r\n", [(1, None)]),
        (_file(HEADER), [(1, None)]),
        (_file(HEADER, "", ",,,", bom=True), [(1, None)]),
        (
            _file("variant_id,platform,date,impressions,likes,replies"),
            [(1, "shares")],
        ),
        (
            _file("variant,impressions,reactions"),
            [(1, "platform"), (1, "posted_at"), (1, "comments"), (1, "shares")],
        ),
        (_file(HEADER + ",likes", _line()), [(1, "likes")]),
        (_file(HEADER, _line()).replace(b"linkedin", b"linked\xe9n"), [(2, None)]),
    ],
    ids=[
        "empty",
        "blank lines only",
        "header only",
        "header and blank rows",
        "one column missing",
        "several columns missing",
        "a field named twice",
        "not UTF-8",
    ],
)
def test_files_without_usable_rows_are_refused(
    data: bytes, expected: list[tuple[int, str | None]]
) -> None:
    assert _errors(data) == expected


def test_a_file_over_the_row_limit_is_refused_at_the_first_extra_row() -> None:
    data = _file(HEADER, _line(), "", _line(), _line())
    assert _errors(data, max_rows=2) == [(5, None)]
    assert len(parse_feedback_csv(data, max_rows=3)) == 3


def test_an_import_stores_every_row_and_a_reimport_updates_them(session: Session) -> None:
    user = get_or_create_user(session, "ada@example.com", "Ada")
    first, second = _variants(session, user)
    session.commit()

    data = _file(
        HEADER,
        _line(first.id),
        _line(second.id, platform="x"),
        _line(second.id, posted_at="2026-01-31T09:00:00+00:00"),
    )
    report = import_feedback(session, user, data, now=NOW)
    session.commit()
    assert report == ImportReport(created=3, updated=0)

    grown = data.replace(b"1000,30,5,5,60", b"2000,60,5,5,60")
    later = NOW + timedelta(days=1)
    assert import_feedback(session, user, grown, now=later) == ImportReport(created=0, updated=3)
    session.commit()
    session.expunge_all()
    rows = list(session.scalars(select(PerformanceFeedback)))
    assert len(rows) == 3
    assert {(row.impressions, row.reactions, row.recorded_at) for row in rows} == {
        (2000, 60, later)
    }
    assert [row.engagement_rate for row in rows] == pytest.approx([70 / 2000] * 3)


def test_a_mixed_import_counts_created_and_updated_rows(session: Session) -> None:
    user = get_or_create_user(session, "ada@example.com", "Ada")
    variant = _variants(session, user, count=1)[0]
    record_feedback(
        session,
        user,
        variant.id,
        {
            "platform": "linkedin",
            "posted_at": datetime(2026, 1, 30, 9, 0, tzinfo=UTC),
            "impressions": 10,
            "reactions": 1,
            "comments": 0,
            "shares": 0,
        },
        now=NOW,
    )
    data = _file(HEADER, _line(variant.id), _line(variant.id, platform="x"))
    assert import_feedback(session, user, data, now=NOW) == ImportReport(created=1, updated=1)
    assert _stored(session) == 2


def test_one_bad_row_stores_nothing_and_every_problem_is_listed(session: Session) -> None:
    ada = get_or_create_user(session, "ada@example.com", "Ada")
    bob = get_or_create_user(session, "bob@example.com", "Bob")
    mine = _variants(session, ada)[0]
    theirs = _variants(session, bob)[0]
    missing = uuid.uuid4()
    session.commit()

    data = _file(
        HEADER,
        _line(mine.id),
        _line(mine.id, platform="x"),
        _line(theirs.id),
        _line(missing),
        _line(mine.id, posted_at="2026-02-01T12:00:01+00:00"),
        _line(mine.id, posted_at="2026-01-30T10:00:00+01:00", counts="5,0,0,0,0"),
        _line(mine.id, counts="1000,-1,5,5,60"),
    )
    with pytest.raises(FeedbackImportError) as caught:
        import_feedback(session, ada, data, now=NOW)
    assert [str(error) for error in caught.value.errors] == [
        f"line 4, column variant_id: variant {theirs.id} does not exist",
        f"line 5, column variant_id: variant {missing} does not exist",
        "line 6, column posted_at: posted_at 2026-02-01T12:00:01+00:00 is in the future",
        "line 7: the same post (variant, platform and posted_at) as line 2",
        "line 8, column reactions: '-1' is negative",
    ]
    session.commit()
    assert _stored(session) == 0


def test_another_users_variant_fails_the_import_like_a_missing_one(session: Session) -> None:
    ada = get_or_create_user(session, "ada@example.com", "Ada")
    bob = get_or_create_user(session, "bob@example.com", "Bob")
    theirs = _variants(session, bob)[0]
    session.commit()

    with pytest.raises(FeedbackImportError, match=f"variant {theirs.id} does not exist"):
        import_feedback(session, ada, _file(HEADER, _line(theirs.id)), now=NOW)
    assert import_feedback(session, bob, _file(HEADER, _line(theirs.id)), now=NOW).created == 1
    session.commit()
    assert session.scalars(select(PerformanceFeedback.variant_id)).all() == [theirs.id]


def test_a_refused_file_leaves_the_callers_transaction_usable(session: Session) -> None:
    user = get_or_create_user(session, "ada@example.com", "Ada")
    variant = _variants(session, user, count=1)[0]
    with pytest.raises(FeedbackImportError):
        import_feedback(session, user, _file(HEADER), now=NOW)
    import_feedback(session, user, _file(HEADER, _line(variant.id)), now=NOW)
    session.commit()
    assert _stored(session) == 1


POST_HEADER = "Post text,Format,Platform,Date,Impressions,Likes,Replies,Reposts"


def test_posts_written_outside_prosora_are_imported_with_their_text(session: Session) -> None:
    user = get_or_create_user(session, "ada@example.com", "Ada")
    (drafted,) = _variants(session, user, count=1)
    session.commit()
    header = "variant_id," + POST_HEADER
    data = _file(
        header,
        ',"Rates rose, again. Here is why.",linkedin_post,linkedin,2026-01-10T09:00:00Z,900,30,4,2',
        ',"Rates rose, again. Here is why.",LinkedIn_Post,x,2026-01-10T10:00:00Z,500,10,1,1',
        ",A thread on reserves,x_thread,x,2026-01-12T09:00:00Z,400,12,2,0",
        f"{drafted.id},,,linkedin,2026-01-30T09:00:00Z,1000,30,5,5",
    )
    assert import_feedback(session, user, data, now=NOW) == ImportReport(created=4, updated=0)
    session.commit()
    imported = list(
        session.scalars(select(Variant).where(Variant.model_version == IMPORTED_POST_VERSION))
    )
    assert sorted((v.format, v.text) for v in imported) == [
        ("linkedin_post", "Rates rose, again. Here is why."),
        ("x_thread", "A thread on reserves"),
    ]
    # The same posts again: their figures are replaced, no second variant appears.
    assert import_feedback(session, user, data, now=NOW) == ImportReport(created=0, updated=4)
    session.commit()
    assert len(list(session.scalars(select(Variant)))) == 3
    posts = read_feedback_posts(session, feedback_versions(session))
    texts = {post.text: (post.format, post.hook_type) for post in posts}
    assert texts["A thread on reserves"] == ("x_thread", None)
    assert all(skip_reason(post) is None for post in posts)


def test_a_row_needs_a_variant_or_a_post() -> None:
    assert _errors(_file("Platform,Date,Impressions,Likes,Replies,Reposts", "x,1,1,1,1,1")) == [
        (1, "variant_id")
    ]
    header = "variant_id," + POST_HEADER
    rows = _file(
        header,
        ",,linkedin_post,linkedin,2026-01-10T09:00:00Z,900,30,4,2",
        ",Some post,tiktok_video,linkedin,2026-01-10T09:00:00Z,900,30,4,2",
    )
    assert _errors(rows) == [(2, "variant_id"), (3, "Format")]
    with pytest.raises(FeedbackImportError, match="the text and format of a post written"):
        parse_feedback_csv(rows)
