"""The bundled sample materialized once per test session by the real `ingest` job, for every
test that reads materialized tables (the API, the command line, the notebooks).

The home is shared and read-only by contract: a test that needs to write copies it
(:func:`copied_home`), and the fixture checks at the end that nothing in it changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from prosora_pipelines.settings import get_settings


def _snapshot(home: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(home)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in home.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="session")
def materialized_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A PROSORA_HOME holding everything the `ingest` job materializes from the bundled
    sample (articles, article index, source health, trends), built once per session. The
    job loads the embedding model with the settings' arguments, and the query encoder the
    apps' query engines load from the home is exported here, so every app reuses both."""
    # Imported here: every test session loads this plugin, few sessions use the fixture.
    import dagster as dg

    from prosora_pipelines.definitions import defs
    from prosora_pipelines.lib.index.embedding import load_embedder

    root = tmp_path_factory.mktemp("api-materialized")
    home = root / "prosora-home"
    (root / "dagster-home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROSORA_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(root / "dagster-home"))
        get_settings.cache_clear()
        try:
            result = (
                defs()
                .resolve_job_def("ingest")
                .execute_in_process(
                    run_config=dg.RunConfig(ops={"raw_entries": {"config": {"force": True}}}),
                    instance=dg.DagsterInstance.ephemeral(),
                )
            )
            # The query encoder the apps' engines use is kept in the home: export it now,
            # as an app's first start would, so the home is complete before any test.
            settings = get_settings()
            load_embedder(
                settings.embedding_model,
                settings.embedding_device,
                settings.embedding_precision,
                settings.home,
            ).encode_query("warm-up")
        finally:
            get_settings.cache_clear()
    assert result.success
    before = _snapshot(home)
    yield home
    assert _snapshot(home) == before, "a test wrote into the shared materialized home"


def copied_home(materialized_home: Path, destination: Path) -> Path:
    """A private copy of the materialized home, for a test that writes into it."""
    shutil.copytree(materialized_home, destination)
    return destination
