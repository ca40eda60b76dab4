"""The app database and the learning settings, as resources built from the settings."""

from functools import cache
from pathlib import Path

import dagster as dg
from sqlalchemy.orm import Session, sessionmaker

from prosora_pipelines.lib.appdb.engine import database_url_for
from prosora_pipelines.settings import get_settings


@cache
def _sessions(url: str) -> sessionmaker[Session]:
    from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory
    from prosora_pipelines.lib.appdb.migrations import migrate

    migrate(url)
    return make_session_factory(make_engine(url))


class AppDatabaseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The app database (``PROSORA_DATABASE_URL``, SQLite under ``PROSORA_HOME`` when unset),
    migrated to the newest schema on first use in a process."""

    url: str

    def sessions(self) -> sessionmaker[Session]:
        return _sessions(self.url)


class LearningResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where models and the feedback inbox live, whose the inbox files are, and how many new
    observations start a learning run (``PROSORA_LEARNING_MIN_NEW_OBSERVATIONS``)."""

    home: str
    inbox_user_email: str
    min_new_observations: int

    @property
    def models_dir(self) -> Path:
        from prosora_pipelines.lib.engagement.model_registry import models_dir

        return models_dir(Path(self.home))

    @property
    def inbox(self) -> Path:
        from prosora_pipelines.lib.engagement.inbox import inbox_folder

        return inbox_folder(Path(self.home))


@dg.definitions
def engagement_resources() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        resources={
            "app_database": AppDatabaseResource(url=database_url_for(settings)),
            "learning": LearningResource(
                home=str(settings.home),
                inbox_user_email=settings.user_email,
                min_new_observations=settings.learning_min_new_observations,
            ),
        }
    )
