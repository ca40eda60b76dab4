"""Why: clients are generated from the committed OpenAPI document and reviewers read API
changes in its diff, so it must be exactly what the app serves: a route, field or bound
changed in code without regenerating the document fails here, with the command that
regenerates it. The document's shape is checked too: every product route is versioned
under /api/v1 (only the operations routes are not), and the main request has an example."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from prosora_pipelines.api import app as app_module
from prosora_pipelines.api.app import create_app
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.routes.queries import QueryRequest
from prosora_pipelines.settings import Settings

COMMITTED = Path(app_module.__file__).with_name("openapi.json")
OPERATIONS_ROUTES = {"/health", "/ready", "/metrics"}
REGENERATE = (
    '.venv/bin/python -c "import json, pathlib, tempfile; '
    "from prosora_pipelines.api.app import create_app; "
    "from prosora_pipelines.settings import Settings; d = tempfile.mkdtemp(); "
    "app = create_app(Settings(home=d, jwt_secret='x' * 40, "
    "database_url=f'sqlite:///{d}/app.db')); "
    "pathlib.Path('prosora_pipelines/api/openapi.json').write_text("
    "json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + chr(10), "
    "encoding='utf-8')\""
)


def _normalized(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _served(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(
        home=tmp_path / "home",
        jwt_secret="x" * 40,
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
    )
    schema: dict[str, Any] = json.loads(json.dumps(create_app(settings).openapi()))
    return schema


def test_the_committed_document_is_what_the_app_serves(tmp_path: Path) -> None:
    served = _normalized(_served(tmp_path))
    committed = (
        _normalized(json.loads(COMMITTED.read_text(encoding="utf-8"))) if COMMITTED.exists() else ""
    )
    if served != committed:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    served.splitlines(keepends=True),
                    "committed openapi.json",
                    "served by create_app",
                )
            )[:60]
        )
        raise AssertionError(
            f"{COMMITTED} is out of date with the app. Regenerate it from the repository "
            f"root with:\n\n    {REGENERATE}\n\nand commit it. First differences:\n{diff}"
        )


def test_every_product_route_is_versioned(tmp_path: Path) -> None:
    paths = set(_served(tmp_path)["paths"])
    assert paths >= OPERATIONS_ROUTES
    unversioned = {
        path for path in paths - OPERATIONS_ROUTES if not path.startswith(API_PREFIX + "/")
    }
    assert not unversioned, f"routes outside {API_PREFIX}: {sorted(unversioned)}"


def test_the_query_request_has_a_valid_example(tmp_path: Path) -> None:
    schema = _served(tmp_path)
    body = schema["paths"][f"{API_PREFIX}/queries"]["post"]["requestBody"]
    reference = body["content"]["application/json"]["schema"]["$ref"]
    request_schema = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    examples = request_schema.get("examples") or [
        example["value"]
        for example in body["content"]["application/json"].get("examples", {}).values()
    ]
    assert examples, "POST /queries has no request example"
    for example in examples:
        QueryRequest.model_validate(example)
