"""``askdb index`` and ``askdb retrieve``: build the retrieval index, show what a question retrieves."""

from __future__ import annotations

import click

from askdb.cli_common import handle_errors, print_json, progress_bar, settings_from
from askdb.rag.retriever import DEFAULT_K


@click.command("index")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option("--rebuild", is_flag=True, help="rebuild even when the index is current")
@click.option("--json", "as_json", is_flag=True, help="print a summary as JSON")
@click.pass_context
@handle_errors
def index(ctx: click.Context, db_url: str | None, rebuild: bool, as_json: bool) -> None:
    """Build or refresh the retrieval index for a database's catalog (values are re-read from the database)."""
    from askdb.rag.service import open_retriever, store_for

    settings = settings_from(ctx)
    update, close = progress_bar()
    try:
        # Values may have changed even when the schema has not: re-read them and rebuild if they differ.
        retriever, built = open_retriever(settings, db_url=db_url, rebuild=True, progress=update)
    finally:
        close()
    del rebuild  # --rebuild and a plain run both re-check values; kept for scripts that pass it
    retriever.embedder.encode(
        ["预热"]
    )  # prepares the question path (the ONNX export) before the first question
    idx = retriever.index
    summary = {
        "path": str(store_for(settings).folder(idx.catalog, idx.model)),
        "built": built,
        "model": idx.model,
        "question_runtime": getattr(retriever.embedder, "runtime", "unknown"),
        "tables": len(idx.catalog.tables),
        "documents": len(idx.schema),
        "examples": len(idx.examples),
        "value_columns": len(idx.values),
        "dense_index": idx.schema.dense.kind,
    }
    if as_json:
        print_json(summary)
    else:
        state = "built" if built else "already current"
        click.echo(
            f"index {state}: {summary['tables']} tables, {summary['documents']} documents, "
            f"{summary['examples']} examples, {summary['value_columns']} value columns -> {summary['path']} "
            f"(questions embedded with {summary['question_runtime']})"
        )


@click.command("retrieve")
@click.argument("question")
@click.option(
    "-k", "k", type=click.IntRange(1, 50), default=DEFAULT_K, show_default=True, help="tables to rank"
)
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option("--budget", type=click.IntRange(100, 200_000), default=None, help="context budget in tokens")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.pass_context
@handle_errors
def retrieve(
    ctx: click.Context, question: str, k: int, db_url: str | None, budget: int | None, as_json: bool
) -> None:
    """Show what the retriever gives the model for QUESTION: tables, columns, notes, examples, values."""
    from dataclasses import replace

    from askdb.rag.service import open_retriever

    update, close = progress_bar()
    try:
        retriever, _ = open_retriever(settings_from(ctx), db_url=db_url, progress=update)
    finally:
        close()
    if budget is not None:
        retriever.config = replace(retriever.config, budget_tokens=budget)
    result = retriever.retrieve(question, k=k)
    if as_json:
        print_json(result.to_dict())
        return
    for t in result.tables:
        via = " (join path)" if t.via == "join" else ""
        click.echo(f"{t.score:8.4f}  {t.name}{via}")
    for v in result.values:
        click.echo(f"   value  {v.table}.{v.column} = {v.value}")
    for n in result.notes:
        click.echo(f"    note  {n.name}")
    for e in result.examples:
        click.echo(f" example  {e.question}")
    for d in result.dropped:
        why = d.get("why") or f"{d['tokens']} tokens, past the budget"
        click.echo(f" dropped  {d['kind']} {d['name']} ({why})")
    click.echo(f"\n{result.context}\n\n-- {result.tokens} of {result.budget} tokens")
