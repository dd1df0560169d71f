"""``askdb sql check`` and ``askdb sql run``: the guard and the read-only runner from the shell."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from askdb.cli_common import handle_errors, print_json, settings_from

if TYPE_CHECKING:
    from askdb.schemas.catalog import Catalog


@click.group()
def sql() -> None:
    """Check SQL against the guard, or run it read-only."""


def _catalog_and_database(url: str) -> tuple[Catalog, str | None]:
    from askdb.db import make_engine, parse_url
    from askdb.schemas.catalog import catalog_for_engine

    engine = make_engine(url, read_only=True)
    try:
        return catalog_for_engine(engine), parse_url(
            url
        ).database if engine.dialect.name != "sqlite" else None
    finally:
        engine.dispose()


def _catalog_for(url: str | None) -> tuple[Catalog, str | None]:
    from askdb.schemas.catalog import packaged_catalog

    return _catalog_and_database(url) if url else (packaged_catalog(), None)


@sql.command("check")
@click.argument("statement")
@click.option("--db", "db_url", help="check names against this database (default: the packaged ads catalog)")
@click.option("--json", "as_json", is_flag=True, help="print {ok, sql, violations} as JSON")
@click.pass_context
@handle_errors
def sql_check(ctx: click.Context, statement: str, db_url: str | None, as_json: bool) -> None:
    """Run the guard on STATEMENT; exit 0 if accepted, 1 if rejected."""
    from askdb.sql.context import GuardContext
    from askdb.sql.guard import check

    catalog, database = _catalog_for(db_url)
    verdict = check(statement, GuardContext(catalog, settings_from(ctx).row_limit, database))
    if as_json:
        print_json(verdict.to_dict())
    elif verdict.ok:
        click.echo(verdict.sql)
    else:
        for v in verdict.violations:
            click.echo(f"{v.rule}: {v.message}" + (f"\n    at: {v.fragment}" if v.fragment else ""), err=True)
    sys.exit(0 if verdict.ok else 1)


@sql.command("run")
@click.argument("statement")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option("--json", "as_json", is_flag=True, help="print {columns, rows, truncated} as JSON")
@click.pass_context
@handle_errors
def sql_run(ctx: click.Context, statement: str, db_url: str | None, as_json: bool) -> None:
    """Guard STATEMENT, then execute it read-only with a time limit and a row cap."""
    from askdb.analyst import markdown_table
    from askdb.sql.guard import guard
    from askdb.sql.runner import open_runner, run_tree

    settings = settings_from(ctx)
    url = db_url or settings.database_url
    catalog, database = _catalog_and_database(url)
    tree = guard(statement, catalog, row_limit=settings.row_limit, database=database)
    runner = open_runner(url, timeout_s=settings.statement_timeout_s, max_rows=settings.max_rows)
    try:
        result = run_tree(runner, tree)
    finally:
        runner.engine.dispose()
    if as_json:
        print_json(result.to_dict())
        return
    click.echo(markdown_table(result.frame) or "(no rows)")
    more = " (truncated)" if result.truncated else ""
    click.echo(f"{len(result.frame)} rows{more} in {result.elapsed_s * 1000:.0f} ms")
