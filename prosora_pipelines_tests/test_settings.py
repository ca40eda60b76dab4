"""Why: settings are read at the edges (command line, API start-up, Dagster resources) and
handed to the library as typed arguments, and each fetch limit has one default, on
``FetchPolicy``. A default written twice drifts; a library or asset body that reads the
environment itself ignores what the caller configured."""

from __future__ import annotations

import ast
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from prosora_pipelines.defs.articles.resources import ArticleRulesResource
from prosora_pipelines.defs.sources.resources import FeedFetcherResource
from prosora_pipelines.lib.sources.fetching import FetchPolicy
from prosora_pipelines.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1] / "prosora_pipelines"


def test_default_settings_give_the_default_fetch_policy() -> None:
    assert Settings().fetch_policy() == FetchPolicy()


def test_every_fetch_policy_field_is_set_from_the_settings() -> None:
    changed = {
        field.name: field.default * 2 if not isinstance(field.default, str) else "Other/1.0"
        for field in dataclasses.fields(FetchPolicy)
    }
    overrides = {
        ("user_agent" if name == "user_agent" else f"fetch_{name}"): value
        for name, value in changed.items()
    }
    assert Settings(**overrides).fetch_policy() == FetchPolicy(**changed)


def test_resources_carry_what_the_settings_say() -> None:
    settings = Settings(
        fetch_read_timeout=1.5,
        fetch_max_pages_per_web_source=7,
        fetch_log_retention_days=3,
        future_date_skew_minutes=9,
        near_duplicate_threshold=0.9,
    )
    fetching = FeedFetcherResource.from_settings(settings)
    assert fetching.policy.read_timeout == 1.5
    assert fetching.limits.max_pages_per_web_source == 7
    assert fetching.limits.log_retention == timedelta(days=3)
    assert fetching.limits.allowed_skew == timedelta(minutes=9)
    rules = ArticleRulesResource.from_settings(settings)
    assert rules.near_duplicate_threshold == 0.9
    assert rules.allowed_skew == timedelta(minutes=9)


def _calls_get_settings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        if any(_is_definitions_loader(d) for d in function.decorator_list):
            continue  # building resources when the definitions load is the edge
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "get_settings"
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} in {function.name}")
    return found


def _is_definitions_loader(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Attribute) and decorator.attr == "definitions"


@pytest.mark.parametrize("layer", ["lib", "defs"])
def test_no_library_function_or_asset_body_reads_the_settings(layer: str) -> None:
    calls = [
        hit for path in sorted((PACKAGE / layer).rglob("*.py")) for hit in _calls_get_settings(path)
    ]
    assert calls == []


def _imported_settings_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(PACKAGE)}: {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "prosora_pipelines.settings"
        for alias in node.names
        if alias.name in ("Settings", "get_settings")
    ]


def test_the_library_never_takes_the_settings_object() -> None:
    """The library gets typed values (a policy, a URL, a client config), never ``Settings``
    itself: a function that takes all settings hides which ones it depends on."""
    imports = [
        hit
        for path in sorted((PACKAGE / "lib").rglob("*.py"))
        for hit in _imported_settings_names(path)
    ]
    assert imports == []
