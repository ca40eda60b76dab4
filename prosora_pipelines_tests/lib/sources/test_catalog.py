"""Why: the catalog is edited by hand; a mistake must name the source and the field, and
the shipped catalogs must stay valid and meet what the product promises of them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from prosora_pipelines.lib.sources.catalog import CatalogError, load_catalog, parse_catalog
from prosora_pipelines.settings import BUNDLED_CATALOGS_DIR, SAMPLE_CATALOG


def _source(**overrides: object) -> dict[str, object]:
    source: dict[str, object] = {
        "id": "ledger-line",
        "name": "Ledger Line",
        "url": "https://ledger-line.example/feed.xml",
        "kind": "rss",
        "tier": "premium",
        "credibility": 0.9,
        "domains": ["finance"],
    }
    source.update(overrides)
    return source


def _parse(*sources: dict[str, object]) -> object:
    return parse_catalog({"sources": list(sources)}, base_dir=Path("/catalogs"))


def test_valid_source_gets_defaults_and_parsed_interval() -> None:
    catalog = parse_catalog(
        {"sources": [_source(refresh_interval="30m")]}, base_dir=Path("/catalogs")
    )
    source = catalog.sources[0]
    assert source.enabled is True
    assert source.refresh_interval == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"credibility": 1.5}, "source 'ledger-line' (sources[0]), field 'credibility'"),
        ({"tier": "gold"}, "source 'ledger-line' (sources[0]), field 'tier'"),
        ({"kind": "podcast"}, "field 'kind'"),
        ({"domains": []}, "field 'domains'"),
        ({"domains": ["Fin Tech"]}, "must be a lowercase slug"),
        ({"refresh_interval": "10s"}, "at least one minute"),
        ({"colour": "blue"}, "field 'colour': Extra inputs are not permitted"),
        ({"link_pattern": "("}, "not a valid regular expression"),
        ({"link_pattern": "/posts/"}, "applies to kind 'web' only"),
    ],
)
def test_invalid_source_error_names_source_and_field(
    overrides: dict[str, object], expected: str
) -> None:
    with pytest.raises(CatalogError) as error:
        _parse(_source(**overrides))
    assert expected in str(error.value)


def test_missing_required_field_is_named() -> None:
    source = _source()
    del source["url"]
    with pytest.raises(CatalogError, match=r"source 'ledger-line' \(sources\[0\]\), field 'url'"):
        _parse(source)


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(CatalogError, match="two sources share the id 'ledger-line'"):
        _parse(_source(), _source(url="https://other.example/feed"))


def test_unknown_top_level_key_rejected() -> None:
    with pytest.raises(CatalogError, match="field 'feeds'"):
        parse_catalog({"sources": [_source()], "feeds": []}, base_dir=Path("/"))


def test_relative_paths_resolve_against_catalog_folder(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"sources": [_source(url="feeds/ledger.xml")]}))
    catalog = load_catalog(path)
    assert catalog.sources[0].url == (tmp_path / "feeds" / "ledger.xml").as_uri()


def test_unreadable_and_malformed_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(broken)


def test_sample_catalog_covers_domains_and_tiers_with_local_files() -> None:
    catalog = load_catalog(SAMPLE_CATALOG)
    assert len(catalog.sources) >= 12
    assert {s.tier.value for s in catalog.sources} == {"premium", "standard", "experimental"}
    domains = {d for s in catalog.sources for d in s.domains}
    assert {"tech", "ai", "product", "finance", "fintech", "policy", "business-strategy"} <= domains
    assert {s.kind.value for s in catalog.sources} == {"rss", "atom", "web"}
    for source in catalog.sources:
        assert source.url.startswith("file://")
        assert Path(source.url.removeprefix("file://")).is_file(), source.id


def test_example_catalog_lists_the_real_publishers() -> None:
    catalog = load_catalog(BUNDLED_CATALOGS_DIR / "example.yaml")
    names = " | ".join(s.name for s in catalog.sources)
    for publisher in [
        "Stratechery",
        "First Round Review",
        "CB Insights",
        "The Dispatch",
        "Harvard Business Review",
        "McKinsey",
        "Product Hunt",
        "Hacker News",
        "TechCrunch",
        "O'Reilly Radar",
        "VentureBeat",
        "Fintech Weekly",
        "a16z (YouTube)",
        "First Round Capital (YouTube)",
        "Y Combinator (YouTube)",
    ]:
        assert publisher in names
    for source in catalog.sources:
        band = {"premium": (0.85, 0.95), "standard": (0.7, 0.8), "experimental": (0.5, 0.6)}
        low, high = band[source.tier.value]
        assert low <= source.credibility <= high, source.id
