"""Why: the README is the front door; its settings table must list every setting the code
reads, and its first commands must be the two that set everything up."""

from __future__ import annotations

from pathlib import Path

from prosora_pipelines.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`PROSORA_{name.upper()}`" in README, name


def test_first_commands_are_demo_and_test() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
