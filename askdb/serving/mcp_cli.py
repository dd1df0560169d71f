"""``askdb mcp``: the MCP server over stdio, for desktop clients and IDEs (``askdb serve`` mounts it at /mcp)."""

from __future__ import annotations

import click

from askdb.cli_common import handle_errors, settings_from


@click.command("mcp")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.pass_context
@handle_errors
def mcp(ctx: click.Context, db_url: str | None) -> None:
    """Serve askdb's tools (ask, run_sql, check_sql, list_tables, describe_table, retrieve) over MCP stdio.

    stdout carries only the protocol; logs go to stderr.
    """
    from askdb.runtime.service import AssistantService
    from askdb.serving.mcp import serve_stdio

    settings = settings_from(ctx)
    if db_url:
        settings = settings.model_copy(update={"db_url": db_url})
    serve_stdio(AssistantService(settings))
