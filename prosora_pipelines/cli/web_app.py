"""The ``prosora app`` command: the writers' web app (Streamlit), a client of the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

APP_SCRIPT = Path(__file__).resolve().parents[1] / "app" / "main.py"


def streamlit_arguments(host: str, port: int) -> list[str]:
    """``streamlit run`` for the app: on this address only, no browser opened, no usage
    statistics sent, no file watching, and errors never shown with their traceback."""
    return [
        "run",
        str(APP_SCRIPT),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--global.developmentMode",
        "false",
    ]


def app(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8501,
) -> None:
    """Run the writers' web app against the API at PROSORA_API_URL (token from
    PROSORA_API_TOKEN, or typed on its sign-in form)."""
    from streamlit.web import cli as streamlit_cli

    streamlit_cli.main(streamlit_arguments(host, port), prog_name="streamlit")
