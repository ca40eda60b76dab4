"""Why: the README is the front door and the pages under docs/ are the manual behind it; the
README must open with the two commands that set everything up, list every command a
newcomer can type, and lead to docs pages that exist; the settings page must list every
setting the code reads; and no relative link in either may lead nowhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from prosora_pipelines.cli.main import app
from prosora_pipelines.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
DOCS = ROOT / "docs"
DOC_PAGES = sorted(DOCS.glob("*.md"))
# A link's target: [text](target), where target is not an absolute URL.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MAX_README_LINES = 120


def _command_table_rows() -> list[str]:
    start = README.index("| command | what it does |")
    rows = []
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line.split(" | ", 1)[0])
    return rows


def _cli_commands(command: object, path: str) -> Iterator[tuple[str, list[str]]]:
    """Every leaf command of the ``prosora`` app, as its path and its long option names."""
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _cli_commands(sub, f"{path} {name}".strip())
        return
    assert isinstance(command, TyperCommand), path
    options = [max(p.opts, key=len) for p in command.params if isinstance(p, TyperOption)]
    yield path, options


def _heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors: headings lower-cased, punctuation other than - and _ dropped,
    spaces turned into hyphens."""
    anchors = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_first_commands_are_demo_and_test() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_readme_fits_on_two_screens() -> None:
    assert len(README.splitlines()) <= MAX_README_LINES


def test_every_make_target_is_in_the_command_table() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert targets is not None
    rows = _command_table_rows()
    for target in targets.group(1).split():
        if target in {"demo", "test"}:
            continue  # the first block, above the table
        assert any(row.startswith(f"| `make {target}") for row in rows), target


def test_every_prosora_command_and_option_is_in_the_command_table() -> None:
    rows = _command_table_rows()
    commands = list(_cli_commands(typer.main.get_command(app), ""))
    assert commands
    for path, options in commands:
        matching = [row for row in rows if f"prosora {path}" in row or f"`{path} " in row]
        assert matching, path
        for option in options:
            assert any(option in row for row in matching), f"{path} {option}"


def test_every_setting_is_in_the_settings_page() -> None:
    settings_page = (DOCS / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`PROSORA_{name.upper()}`" in settings_page, name


def test_every_docs_page_is_linked_from_the_readme() -> None:
    assert DOC_PAGES
    linked = {target.split("#")[0] for target in LINK.findall(README)}
    for page in DOC_PAGES:
        assert f"docs/{page.name}" in linked, page.name


def test_every_relative_link_resolves() -> None:
    for page in [README_PATH, *DOC_PAGES, ROOT / "benchmarks" / "README.md"]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto: and other absolute links
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.name}: {target}"
            if anchor:
                assert anchor in _heading_anchors(resolved), f"{page.name}: {target}"
