"""Where the team's shared test data lives, and the rule for when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """``../shared`` beside the checkout, or ``PROSORA_SHARED_DIR``."""
    return Path(os.environ.get("PROSORA_SHARED_DIR", REPO_ROOT.parent / "shared"))


def require_shared(relative: str) -> Path:
    """The shared folder, or a skip with the reason; under CI its absence fails the test."""
    path = shared_dir() / relative
    if not path.is_dir():
        message = f"shared test data {path} is absent"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    return path
