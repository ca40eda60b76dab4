from datetime import UTC, date, datetime
from pathlib import Path

from prosora_pipelines.lib.digest.store import refresh_digest
from prosora_pipelines.lib.digest.summaries import ExtractiveSummarizer
from prosora_pipelines.lib.sources.catalog_snapshot import read_catalog_snapshot
from prosora_pipelines.lib.table_store import TableStore
from prosora_pipelines_tests.api.conftest import API, Api, ApiUser, MakeApi, assert_error
from prosora_pipelines_tests.support.materialized import copied_home


def test_the_latest_digest_is_the_newest_articles_day_grouped_and_cited(api: Api) -> None:
    response = ApiUser(api, "reader@example.com").get("/digest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["date"] == "2026-11-20"
    assert body["message"] is None
    stories = [story for topic in body["topics"] for story in topic["stories"]]
    assert sorted(story["rank"] for story in stories) == list(range(1, len(stories) + 1))
    assert body["articles_published"] >= len(stories) >= 1
    for story in stories:
        assert story["summary"] and story["summary_method"] == "extractive"
        assert story["citations"][0]["url"] == story["url"]
        assert story["published_at"].startswith("2026-11-20")
    assert body["markdown"].startswith("# Daily digest, Friday 20 November 2026")
    assert body["days_available"] == ["2026-11-20"]


def test_a_day_without_a_digest_is_404_saying_which_days_have_one(api: Api) -> None:
    response = ApiUser(api, "reader@example.com").get("/digest", params={"date": "2026-11-17"})
    error = assert_error(response, 404, "not_found")
    assert "2026-11-20" in error["message"] and "2026-11-17" in error["message"]


def test_the_digest_needs_a_token_and_a_real_date(api: Api) -> None:
    assert_error(api.client.get(f"{API}/digest"), 401)
    bad = ApiUser(api, "reader@example.com").get("/digest", params={"date": "2026-13-40"})
    assert_error(bad, 422)


def test_an_empty_day_says_nothing_was_published(
    make_api: MakeApi, materialized_home: Path, tmp_path: Path
) -> None:
    home = copied_home(materialized_home, tmp_path / "home")
    tables = TableStore(home)
    refresh_digest(
        tables,
        read_catalog_snapshot(tables),
        ExtractiveSummarizer(),
        day=date(2026, 12, 1),
        now=datetime.now(UTC),
    )
    api = make_api(home=home)
    response = ApiUser(api, "reader@example.com").get("/digest", params={"date": "2026-12-01"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["topics"], body["articles_published"]) == ([], 0)
    assert body["message"] == "no articles were published on 2026-12-01"
    assert body["days_available"] == ["2026-11-20", "2026-12-01"]
