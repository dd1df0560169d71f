"""``askdb examples add|list|remove``: verified question-SQL examples without the chat."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from askdb.cli_common import handle_errors, print_json, settings_from

if TYPE_CHECKING:
    from askdb.rag.examples.book import ExampleBook, Listed
    from askdb.settings import Settings
    from askdb.sql.context import GuardContext


@click.group("examples")
def examples() -> None:
    """Verified question-SQL examples: the retriever shows them to the model, and the same question reuses the SQL."""


def _book(settings: Settings) -> ExampleBook:
    from askdb.rag.examples.book import ExampleBook
    from askdb.rag.service import store_for
    from askdb.schemas.knowledge import packaged_examples

    return ExampleBook(store_for(settings), packaged_examples())


def _guard_context(settings: Settings, url: str) -> GuardContext:
    """The guard of ``askdb sql check --db URL``: the database's catalog, the configured LIMIT."""
    from askdb.db import make_engine, parse_url
    from askdb.schemas.catalog import catalog_for_engine
    from askdb.sql.context import GuardContext

    engine = make_engine(url, read_only=True)
    try:
        database = parse_url(url).database if engine.dialect.name != "sqlite" else None
        return GuardContext(catalog_for_engine(engine), settings.row_limit, database)
    finally:
        engine.dispose()


def _line(listed: Listed) -> str:
    source = "added, replaces a packaged one" if listed.replaces_packaged else listed.source
    return f"{listed.id}  [{source}]  {listed.example.question}\n          {listed.example.sql}"


@examples.command("add")
@click.argument("question")
@click.argument("sql")
@click.option("--replace", is_flag=True, help="replace the example already there for the same question")
@click.option(
    "--db", "db_url", help="check the SQL against this database (default: ASKDB_DB_URL or the demo)"
)
@click.option("--json", "as_json", is_flag=True, help="print {example, replaced} as JSON")
@click.pass_context
@handle_errors
def examples_add(
    ctx: click.Context, question: str, sql: str, replace: bool, db_url: str | None, as_json: bool
) -> None:
    """Store SQL as the verified answer to QUESTION, once the guard accepts it; used from the next question on."""
    settings = settings_from(ctx)
    context = _guard_context(settings, db_url or settings.database_url)
    added = _book(settings).add(question, sql, context, replace=replace)
    if as_json:
        print_json(added.to_dict())
        return
    was = f" (replaced {added.replaced.source} example {added.replaced.id})" if added.replaced else ""
    click.echo(f"added verified example {added.listed.id}{was}: {added.listed.example.question}")


@examples.command("list")
@click.option(
    "--source", type=click.Choice(["packaged", "added"]), help="only the packaged or the added ones"
)
@click.option("--json", "as_json", is_flag=True, help="print the examples as a JSON list")
@click.pass_context
@handle_errors
def examples_list(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Show every verified example with its id and whether it is packaged or added."""
    shown = [x for x in _book(settings_from(ctx)).list() if source in (None, x.source)]
    if as_json:
        print_json([x.to_dict() for x in shown])
        return
    for listed in shown:
        click.echo(_line(listed))
    added = sum(x.source == "added" for x in shown)
    click.echo(f"-- {len(shown)} examples, {added} added")


@examples.command("remove")
@click.argument("question_or_id")
@click.option("--json", "as_json", is_flag=True, help="print the removed example as JSON")
@click.pass_context
@handle_errors
def examples_remove(ctx: click.Context, question_or_id: str, as_json: bool) -> None:
    """Remove an added example by its question or the id `list` shows; packaged examples stay."""
    removed = _book(settings_from(ctx)).remove(question_or_id)
    if as_json:
        print_json(removed.to_dict())
        return
    back = "; the packaged example for this question applies again" if removed.replaces_packaged else ""
    click.echo(f"removed verified example {removed.id}: {removed.example.question}{back}")
