"""The command line's console, and how it reports an error."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

# A fixed width when piped, so tables do not wrap at 80 columns in logs and CI output.
console = Console(width=None if sys.stdout.isatty() else 120)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error, on one line however wide the terminal (and taken
    literally, not as markup); the caller raises what this returns (exit status 2)."""
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def _json_value(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, dates in ISO 8601, for ``--json`` options."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_value))
