"""Why: the schema is created by migrations, not by the models, so the two must agree on both
backends; the connection settings (WAL, enforced foreign keys) are what keep the shared
SQLite file safe, and the cascades and CHECK constraints are the last line of defence when
code bypasses the repository."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, delete, func, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from prosora_pipelines.lib.appdb.engine import (
    make_engine,
    make_session_factory,
    normalize_url,
    reading,
)
from prosora_pipelines.lib.appdb.migrations import VERSION_TABLE, migrate
from prosora_pipelines.lib.appdb.models import (
    Base,
    LearningPattern,
    PerformanceFeedback,
    Query,
    User,
    Variant,
    VoiceProfile,
)
from prosora_pipelines.lib.appdb.repository import (
    DEFAULT_VOICE_PROFILE,
    FeedbackRecord,
    QueryRecord,
    VariantRecord,
    get_or_create_user,
    record_feedback,
    record_query,
    upsert_voice_profile,
)
from prosora_pipelines.settings import Settings

POSTED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DRAFTED = datetime(2026, 1, 4, 9, 0, tzinfo=UTC)


def _query_with_feedback(session: Session, user: User) -> Query:
    variant = VariantRecord(format="x_thread", text="1/ A thread.", model_version="extractive-1")
    record = QueryRecord(
        text="q", processing_time_ms=3.0, created_at=DRAFTED, variants=[variant, variant]
    )
    query = record_query(session, user, record)
    for stored in query.variants:
        record_feedback(
            session,
            user,
            stored.id,
            FeedbackRecord(
                platform="x", posted_at=POSTED, impressions=10, reactions=1, comments=0, shares=0
            ),
        )
    return query


def _count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_migrations_create_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0002"
    # Alembic's comparison skips CHECK constraints, so compare those by name here.
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        declared = {
            constraint.name
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        reflected = {check["name"] for check in inspector.get_check_constraints(table.name)}
        assert reflected == declared, table.name


def test_migrate_twice_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            versions = connection.exec_driver_sql(f"SELECT * FROM {VERSION_TABLE}").all()
    finally:
        engine.dispose()
    assert tables == set(Base.metadata.tables) | {VERSION_TABLE}
    assert versions == [("0002",)]


def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not' / 'yet' / 'there' / 'prosora.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_sqlite_reads_neither_wait_for_nor_see_an_open_write(tmp_path: Path) -> None:
    # Every API request reads its caller's row: if reads took the write lock, each would
    # queue behind every query being stored (up to the 30 s busy timeout).
    url = f"sqlite:///{tmp_path / 'prosora.db'}"
    migrate(url)
    engine = make_engine(url)
    writes = make_session_factory(engine)
    try:
        with writes.begin() as writer:
            writer.add(User(email="writer@example.com", name="Writer"))
            writer.flush()
            started = time.monotonic()
            with reading(writes)() as reader:
                assert reader.scalars(select(User)).all() == []
            assert time.monotonic() - started < 10
        with reading(writes)() as reader:
            assert [user.email for user in reader.scalars(select(User))] == ["writer@example.com"]
    finally:
        engine.dispose()


def test_a_missing_parent_row_is_refused(session: Session) -> None:
    session.add(
        Query(
            user_id=uuid.uuid4(),
            text="orphan",
            options={},
            analysis={},
            results={},
            metrics={},
            model_versions={},
            processing_time_ms=1.0,
            status="completed",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_query_deletes_its_variants_and_their_feedback(session: Session) -> None:
    user = get_or_create_user(session, "cascade@example.com", "Cascade")
    doomed = _query_with_feedback(session, user)
    _query_with_feedback(session, user)
    session.commit()
    assert (_count(session, Variant), _count(session, PerformanceFeedback)) == (4, 4)

    session.delete(doomed)
    session.commit()
    assert (_count(session, Variant), _count(session, PerformanceFeedback)) == (2, 2)


def test_deleting_a_user_deletes_everything_that_is_theirs(session: Session) -> None:
    user = get_or_create_user(session, "leaver@example.com", "Leaver")
    upsert_voice_profile(session, user, DEFAULT_VOICE_PROFILE)
    _query_with_feedback(session, user)
    session.add(
        LearningPattern(user_id=user.id, pattern_type="hook", pattern_data={}, confidence=1)
    )
    session.add(LearningPattern(user_id=None, pattern_type="hook", pattern_data={}, confidence=1))
    session.commit()

    # Through SQL, not the ORM, to show the database itself cascades.
    session.execute(delete(User).where(User.id == user.id))
    session.commit()
    for model in (VoiceProfile, Query, Variant, PerformanceFeedback):
        assert _count(session, model) == 0, model.__name__
    assert _count(session, LearningPattern) == 1


def test_check_constraints_refuse_negative_counts(session: Session) -> None:
    user = get_or_create_user(session, "checks@example.com", "Checks")
    variant = _query_with_feedback(session, user).variants[0]
    session.commit()
    session.add(
        PerformanceFeedback(
            variant_id=variant.id,
            platform="x",
            posted_at=POSTED,
            impressions=10,
            reactions=-1,
            comments=0,
            shares=0,
            clicks=0,
        )
    )
    with pytest.raises(IntegrityError, match="reactions_non_negative"):
        session.flush()


def test_timestamps_come_back_timezone_aware_in_utc(session: Session) -> None:
    user = get_or_create_user(session, "clock@example.com", "Clock")
    local = datetime(2026, 3, 1, 16, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    record_query(session, user, QueryRecord(text="q", processing_time_ms=0, created_at=local))
    session.commit()
    session.expire_all()
    stored = session.scalars(select(Query)).one()
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC


def test_naive_datetimes_are_refused(session: Session) -> None:
    user = get_or_create_user(session, "naive@example.com", "Naive")
    user.created_at = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_database_url_defaults_to_sqlite_under_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=None)
    assert settings.app_database_url() == f"sqlite:///{tmp_path / 'prosora.db'}"
    assert Settings(database_url="postgresql://db/app").app_database_url() == "postgresql://db/app"


@pytest.mark.parametrize(
    "url", ["postgresql://u:p@h/db", "postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"]
)
def test_postgresql_urls_use_psycopg_3(url: str) -> None:
    normalized = normalize_url(url)
    assert normalized.drivername == "postgresql+psycopg"
    assert (normalized.username, normalized.host, normalized.database) == ("u", "h", "db")
