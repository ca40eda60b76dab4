"""The ``prosora`` command line: run the pipelines and look at what they produced. Each
command group lives in a module of its own; this one puts them together."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from prosora_pipelines.cli.api import serve, token_app
from prosora_pipelines.cli.learning import feedback_app, learn, patterns
from prosora_pipelines.cli.pipeline import demo, materialize
from prosora_pipelines.cli.query import profile_app, query
from prosora_pipelines.cli.search import search
from prosora_pipelines.cli.sources import sources_app
from prosora_pipelines.cli.terminal import fail
from prosora_pipelines.settings import get_settings, invalid_settings_message

app = typer.Typer(help="Prosora Pipelines: self-hosted content intelligence.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(profile_app, name="profile")
app.add_typer(token_app, name="token")
app.add_typer(feedback_app, name="feedback")
for command in (query, serve, materialize, demo, search, learn, patterns):
    app.command()(command)


@app.callback()
def _settings_first() -> None:
    # Every command reads the settings; reading them here first turns a bad one into one
    # line naming the variable, not a validation traceback from inside the command.
    try:
        get_settings()
    except (ValidationError, SettingsError) as error:
        raise fail(invalid_settings_message(error)) from None
