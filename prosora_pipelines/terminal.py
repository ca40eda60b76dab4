"""The command line's console, and how it reports an error."""

from __future__ import annotations

import sys

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
