"""``askdb chat``: the Gradio chat over the configured database and model."""

from __future__ import annotations

import click

from askdb.cli_common import handle_errors, settings_from


@click.command("chat")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=7860, show_default=True)
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.pass_context
@handle_errors
def chat(ctx: click.Context, host: str, port: int, db_url: str | None) -> None:
    """Chat with the ads database in the browser: streamed answers, tables, charts, the workflow's trace."""
    from askdb.ui.app import launch

    settings = settings_from(ctx)
    if db_url:
        settings = settings.model_copy(update={"db_url": db_url})
    launch(settings, host=host, port=port)
