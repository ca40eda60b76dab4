"""Why: the API hands these functions ids straight from URLs, so a user must never reach,
delete or learn of another user's queries, variants or feedback; a post recorded twice must
count once; and history pages must neither skip nor repeat a query, whatever arrives
between two pages, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.models import PerformanceFeedback, Query, User, Variant
from prosora_pipelines.lib.appdb.repository import (
    ContentFormat,
    HistoryPage,
    InvalidInputError,
    NotFoundError,
    decode_cursor,
    delete_query,
    encode_cursor,
    get_or_create_user,
    get_query,
    history_page,
    record_feedback,
    record_feedback_batch,
    record_query,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def _query(
    session: Session,
    user: User,
    text: str,
    created_at: datetime = NOW,
    formats: tuple[ContentFormat, ...] = ("linkedin_post", "x_thread"),
) -> Query:
    return record_query(
        session,
        user,
        {
            "text": text,
            "processing_time_ms": 5.0,
            "created_at": created_at,
            "variants": [
                {"format": format_, "text": f"{text} as {format_}", "model_version": "gen-1"}
                for format_ in formats
            ],
        },
    )


def _feedback(**overrides: Any) -> dict[str, Any]:
    return {
        "platform": "linkedin",
        "posted_at": NOW - timedelta(days=1),
        "impressions": 1000,
        "reactions": 30,
        "comments": 5,
        "shares": 5,
        **overrides,
    }


def _count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _not_found_message(call: Any, session: Session, user: User, row_id: uuid.UUID) -> str:
    """The NotFoundError message for ``call(session, user, row_id)``, the id blanked out."""
    with pytest.raises(NotFoundError) as caught:
        call(session, user, row_id)
    return str(caught.value).replace(str(row_id), "<id>")


@pytest.fixture
def ada(session: Session) -> User:
    return get_or_create_user(session, "ada@example.com", "Ada")


@pytest.fixture
def bob(session: Session) -> User:
    return get_or_create_user(session, "bob@example.com", "Bob")


def test_a_user_gets_their_query_with_its_variants(session: Session, ada: User) -> None:
    query_id = _query(session, ada, "mine").id
    session.commit()
    session.expunge_all()

    query = get_query(session, ada, query_id)
    assert query.text == "mine"
    assert [variant.format for variant in query.variants] == ["linkedin_post", "x_thread"]


def test_another_users_query_is_indistinguishable_from_a_missing_one(
    session: Session, ada: User, bob: User
) -> None:
    theirs = _query(session, bob, "bob's").id
    missing = uuid.uuid4()
    session.commit()

    for call in (get_query, delete_query):
        other = _not_found_message(call, session, ada, theirs)
        absent = _not_found_message(call, session, ada, missing)
        assert other == absent == "query <id> does not exist"
    assert get_query(session, bob, theirs).text == "bob's"


def test_deleting_a_query_takes_its_variants_and_feedback_only(
    session: Session, ada: User, bob: User
) -> None:
    doomed = _query(session, ada, "doomed")
    kept = _query(session, ada, "kept")
    theirs = _query(session, bob, "theirs")
    for query, owner in ((doomed, ada), (kept, ada), (theirs, bob)):
        for variant in query.variants:
            record_feedback(session, owner, variant.id, _feedback(), now=NOW)
    session.commit()

    delete_query(session, ada, doomed.id)
    session.commit()
    session.expunge_all()

    assert set(session.scalars(select(Query.text))) == {"kept", "theirs"}
    assert (_count(session, Variant), _count(session, PerformanceFeedback)) == (4, 4)
    with pytest.raises(NotFoundError):
        delete_query(session, ada, doomed.id)


def test_a_variant_is_reached_only_through_its_owners_query(
    session: Session, ada: User, bob: User
) -> None:
    mine = _query(session, ada, "mine").variants[1]
    theirs = _query(session, bob, "theirs").variants[0]
    missing = uuid.uuid4()
    session.commit()

    def post(session: Session, user: User, variant_id: uuid.UUID) -> PerformanceFeedback:
        return record_feedback(session, user, variant_id, _feedback(), now=NOW)

    assert post(session, ada, mine.id).variant_id == mine.id
    other = _not_found_message(post, session, ada, theirs.id)
    absent = _not_found_message(post, session, ada, missing)
    assert other == absent == "variant <id> does not exist"


def test_feedback_on_another_users_variant_is_not_found_and_not_stored(
    session: Session, ada: User, bob: User
) -> None:
    theirs = _query(session, bob, "theirs").variants[0]
    session.commit()

    with pytest.raises(NotFoundError, match=f"variant {theirs.id} does not exist"):
        record_feedback(session, ada, theirs.id, _feedback(), now=NOW)
    session.commit()
    assert _count(session, PerformanceFeedback) == 0


def test_the_same_post_recorded_again_replaces_its_figures(session: Session, ada: User) -> None:
    variant = _query(session, ada, "posted").variants[0]
    first = record_feedback(session, ada, variant.id, _feedback(), now=NOW)
    session.commit()

    # The same instant in another timezone, the platform in another case, figures grown.
    later = NOW + timedelta(days=2)
    posted_in_paris = (NOW - timedelta(days=1)).astimezone(timezone(timedelta(hours=1)))
    again = record_feedback(
        session,
        ada,
        variant.id,
        _feedback(platform="LinkedIn", posted_at=posted_in_paris, impressions=2000, reactions=70),
        now=later,
    )
    session.commit()
    session.expunge_all()

    assert again.id == first.id
    stored = session.scalars(select(PerformanceFeedback)).one()
    assert (stored.impressions, stored.reactions, stored.comments) == (2000, 70, 5)
    assert stored.engagement_rate == pytest.approx((70 + 5 + 5) / 2000)
    assert stored.recorded_at == later


def test_another_platform_or_posting_time_is_another_post(session: Session, ada: User) -> None:
    variant = _query(session, ada, "posted").variants[0]
    record_feedback(session, ada, variant.id, _feedback(), now=NOW)
    record_feedback(session, ada, variant.id, _feedback(platform="x"), now=NOW)
    record_feedback(
        session, ada, variant.id, _feedback(posted_at=NOW - timedelta(hours=1)), now=NOW
    )
    session.commit()
    assert _count(session, PerformanceFeedback) == 3


def test_a_batch_says_which_rows_are_new_and_the_last_entry_for_a_post_wins(
    session: Session, ada: User
) -> None:
    first, second = _query(session, ada, "posted").variants
    record_feedback(session, ada, first.id, _feedback(), now=NOW)
    recorded = record_feedback_batch(
        session,
        ada,
        [
            (first.id, _feedback(impressions=1500)),
            (second.id, _feedback(impressions=100)),
            (second.id, _feedback(impressions=200)),
        ],
        now=NOW,
    )
    session.commit()

    assert [result.created for result in recorded] == [False, True, False]
    assert recorded[1].row is recorded[2].row
    impressions = session.scalars(
        select(PerformanceFeedback.impressions).order_by(PerformanceFeedback.impressions)
    ).all()
    assert impressions == [200, 1500]


def test_a_batch_is_checked_whole_before_anything_is_written(
    session: Session, ada: User, bob: User
) -> None:
    mine = _query(session, ada, "mine").variants[0]
    theirs = _query(session, bob, "theirs").variants[0]
    session.commit()

    with pytest.raises(NotFoundError, match=f"variant {theirs.id} does not exist"):
        record_feedback_batch(
            session, ada, [(mine.id, _feedback()), (theirs.id, _feedback())], now=NOW
        )
    with pytest.raises(InvalidInputError, match="invalid feedback 1: impressions"):
        record_feedback_batch(
            session, ada, [(mine.id, _feedback()), (mine.id, _feedback(impressions=-1))], now=NOW
        )
    future = _feedback(posted_at=NOW + timedelta(seconds=1))
    with pytest.raises(InvalidInputError, match=r"invalid feedback 0: posted_at .* in the future"):
        record_feedback_batch(session, ada, [(mine.id, future), (mine.id, _feedback())], now=NOW)
    session.commit()
    assert _count(session, PerformanceFeedback) == 0
    assert record_feedback_batch(session, ada, [], now=NOW) == []


def _pages(session: Session, user: User, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = history_page(session, user, cursor=cursor, **filters)
        pages.append([query.text for query in page.queries])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_history_pages_newest_first_and_ends_without_an_empty_page(
    session: Session, ada: User, bob: User
) -> None:
    for minute in range(4):
        _query(session, ada, f"q{minute}", NOW + timedelta(minutes=minute))
    _query(session, bob, "not mine", NOW + timedelta(hours=1))
    session.commit()
    session.expunge_all()

    assert _pages(session, ada, limit=2) == [["q3", "q2"], ["q1", "q0"]]
    assert _pages(session, ada, limit=3) == [["q3", "q2", "q1"], ["q0"]]
    first = history_page(session, ada, limit=4)
    assert (len(first.queries), first.next_cursor) == (4, None)
    assert [len(query.variants) for query in first.queries] == [2] * 4
    newcomer = get_or_create_user(session, "new@example.com", "New")
    assert history_page(session, newcomer) == HistoryPage([], None)


def test_queries_created_in_the_same_instant_are_neither_skipped_nor_repeated(
    session: Session, ada: User
) -> None:
    _query(session, ada, "later", NOW + timedelta(seconds=1))
    tied = [_query(session, ada, f"tie{index}", NOW) for index in range(5)]
    _query(session, ada, "earlier", NOW - timedelta(seconds=1))
    session.commit()
    session.expunge_all()

    pages = _pages(session, ada, limit=2)
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    tie_order = [query.text for query in sorted(tied, key=lambda query: query.id, reverse=True)]
    assert [text for page in pages for text in page] == ["later", *tie_order, "earlier"]


def test_a_page_stays_right_while_new_queries_arrive(session: Session, ada: User) -> None:
    for minute in range(5):
        _query(session, ada, f"q{minute}", NOW + timedelta(minutes=minute))
    session.commit()

    first = history_page(session, ada, limit=2)
    assert [query.text for query in first.queries] == ["q4", "q3"]
    for index in range(3):
        _query(session, ada, f"new{index}", NOW + timedelta(hours=1, minutes=index))
    _query(session, ada, "same instant as q3", first.queries[-1].created_at)
    session.commit()

    second = history_page(session, ada, limit=2, cursor=first.next_cursor)
    third = history_page(session, ada, limit=2, cursor=second.next_cursor)
    rest = [query.text for query in second.queries + third.queries]
    assert rest[-3:] == ["q2", "q1", "q0"]
    assert third.next_cursor is None
    assert {"new0", "new1", "new2", "q4", "q3"}.isdisjoint(rest)


def test_history_filters_by_format_and_creation_time(session: Session, ada: User) -> None:
    for hour in range(6):
        formats: tuple[ContentFormat, ...] = ("x_thread",) if hour % 2 else ("blog_outline",)
        _query(session, ada, f"h{hour}", NOW + timedelta(hours=hour), formats)
    session.commit()
    session.expunge_all()

    assert _pages(session, ada, limit=2, format="x_thread") == [["h5", "h3"], ["h1"]]
    assert _pages(session, ada, format="linkedin_post") == [[]]
    window = {"since": NOW + timedelta(hours=1), "until": NOW + timedelta(hours=4)}
    assert _pages(session, ada, limit=2, **window) == [["h3", "h2"], ["h1"]]
    assert _pages(session, ada, format="blog_outline", **window) == [["h2"]]
    paris = timezone(timedelta(hours=1))
    since_in_paris = (NOW + timedelta(hours=5)).astimezone(paris)
    assert _pages(session, ada, since=since_in_paris) == [["h5"]]
    # A window that ends where or before it starts holds nothing (and is no error).
    assert _pages(session, ada, since=NOW + timedelta(hours=3), until=NOW + timedelta(hours=3)) == [
        []
    ]
    assert _pages(session, ada, since=NOW + timedelta(hours=4), until=NOW + timedelta(hours=1)) == [
        []
    ]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"format": "tiktok"}, "format"),
        ({"since": datetime(2026, 1, 1)}, "since"),
        ({"until": datetime(2026, 1, 1)}, "until"),
        ({"cursor": "not a cursor"}, "cursor"),
    ],
)
def test_history_refuses_bad_arguments(
    session: Session, ada: User, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"invalid {field}"):
        history_page(session, ada, **arguments)


def test_a_cursor_round_trips_and_refuses_tampering() -> None:
    query_id = uuid.uuid4()
    created_at = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    cursor = encode_cursor(created_at, query_id)
    assert decode_cursor(cursor) == (created_at, query_id)

    def raw(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    tampered = [
        "",
        cursor[:-2],
        cursor + "A",
        cursor + "==",
        cursor.replace(cursor[5], "*"),
        raw(f"2026-03-01T07:30:00|{query_id}"),
        raw(f"2026-03-01T07:30:00+00:00|{query_id}x"),
        raw(f"yesterday|{query_id}"),
        raw("2026-03-01T07:30:00+00:00"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    for bad in tampered:
        with pytest.raises(InvalidInputError, match="invalid cursor"):
            decode_cursor(bad)
