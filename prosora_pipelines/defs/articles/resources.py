"""Resources of the articles domain: the rules that judge dates and duplicates."""

from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from prosora_pipelines.settings import Settings, get_settings


@dataclass(frozen=True)
class ArticleRulesResource:
    """The deployment's article rules, built from the settings when the definitions load."""

    earliest_plausible_date: date
    near_duplicate_threshold: float
    allowed_skew: timedelta
    """How far past the fetch time a published date may lie."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "ArticleRulesResource":
        return cls(
            earliest_plausible_date=settings.earliest_plausible_date,
            near_duplicate_threshold=settings.near_duplicate_threshold,
            allowed_skew=timedelta(minutes=settings.future_date_skew_minutes),
        )


@dg.definitions
def article_resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"article_rules": ArticleRulesResource.from_settings(get_settings())}
    )
