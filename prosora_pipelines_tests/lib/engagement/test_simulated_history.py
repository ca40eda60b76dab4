"""Why: the demo learns from a bundled history that a simulator made; it must be exactly what
the simulator makes today (or it drifts from the effects the docs and tests name), it must
say it is simulated wherever it lands, and importing it twice must not count it twice."""

from __future__ import annotations

from sqlalchemy import func, select

from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
from prosora_pipelines.lib.appdb.migrations import migrate
from prosora_pipelines.lib.appdb.models import PerformanceFeedback, Query, Variant
from prosora_pipelines.lib.appdb.repository import get_or_create_user
from prosora_pipelines.lib.engagement.simulated_history import (
    SIMULATED_GENERATOR,
    SIMULATED_QUERY_TEXT,
    import_simulated_history,
    read_history,
)
from prosora_pipelines_tests.support.simulated_history_file import simulated_history


def test_the_committed_history_is_what_the_simulator_generates() -> None:
    assert read_history() == simulated_history(), (
        "regenerate with: python -m prosora_pipelines_tests.support.simulated_history_file"
    )


def test_the_history_imports_once_and_is_labelled_simulated(database_url: str) -> None:
    records = read_history()
    assert all(record["simulated"] is True for record in records)
    migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        user = get_or_create_user(session, "me@prosora.local", "me")
        assert import_simulated_history(session, user, records) == len(records)
    with sessions.begin() as session:
        user = get_or_create_user(session, "me@prosora.local", "me")
        assert import_simulated_history(session, user, records) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PerformanceFeedback)) == len(records)
        assert set(session.scalars(select(Query.text))) == {SIMULATED_QUERY_TEXT}
        assert set(session.scalars(select(Variant.model_version))) == {SIMULATED_GENERATOR}
    engine.dispose()
