"""The ``askdb`` command line: noun groups with verb subcommands, ``--json`` where a program may read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from askdb.cli_common import BACKEND_HELP, fail, handle_errors, open_retriever_told, print_json, settings_from
from askdb.errors import AskdbError
from askdb.eval.cli import eval_group
from askdb.finetune.cli import finetune
from askdb.forecast.cli import forecast
from askdb.rag.cli import index, retrieve
from askdb.rag.examples.cli import examples
from askdb.serving.cli import serve
from askdb.serving.mcp_cli import mcp
from askdb.settings import load_settings
from askdb.sql.cli import sql
from askdb.ui.cli import chat

if TYPE_CHECKING:
    from askdb.assistant import Assistant
    from askdb.events import Answer
    from askdb.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="askdb")
@click.pass_context
def main(ctx: click.Context) -> None:
    """askdb: ask the ads database questions in Chinese, get checked SQL and an analysis."""
    try:
        ctx.obj = load_settings()
    except AskdbError as exc:
        fail(exc.person_line(), exc.exit_code)


@main.command("demo-db")
@click.option("--url", help="load into this MySQL/MariaDB database instead of the embedded SQLite file")
@click.option(
    "--scale",
    type=click.FloatRange(0, 10, min_open=True),
    default=1.0,
    show_default=True,
    help="fraction of the full size (1.0 is about 190,000 ads_summary rows)",
)
@click.option("--seed", type=int, default=None, help="random seed; the same seed gives the same rows")
@click.option("--replace", is_flag=True, help="MySQL: replace ads tables that already exist")
@click.pass_context
@handle_errors
def demo_db(ctx: click.Context, url: str | None, scale: float, seed: int | None, replace: bool) -> None:
    """Build the demo ads database (SQLite under $ASKDB_HOME by default, or MySQL with --url)."""
    from tqdm import tqdm

    from askdb.db import safe_url
    from askdb.schemas.demo import DEFAULT_SEED, expected_rows
    from askdb.schemas.load import build_sqlite, load_mysql

    settings = settings_from(ctx)
    seed = DEFAULT_SEED if seed is None else seed
    with tqdm(
        total=expected_rows(scale, seed),
        unit="rows",
        unit_scale=True,
        desc="demo-db",
        file=sys.stderr,
        disable=None,
    ) as bar:

        def progress(table: str, rows: int) -> None:
            bar.set_description(table)
            bar.update(rows)

        if url:
            load_mysql(url, scale=scale, seed=seed, replace=replace, progress=progress)
            where = safe_url(url)
        else:
            where = str(build_sqlite(settings.demo_db_path, scale=scale, seed=seed, progress=progress))
    click.echo(f"demo ads database ready: {where}")


@main.group()
def schema() -> None:
    """Inspect the catalog: tables, columns, comments and keys."""


@schema.command("show")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option("--ddl", "ddl_file", type=click.Path(path_type=Path), help="read the catalog from a DDL file")
@click.option("--json", "as_json", is_flag=True, help="print the catalog as JSON")
@click.pass_context
@handle_errors
def schema_show(ctx: click.Context, db_url: str | None, ddl_file: Path | None, as_json: bool) -> None:
    """Print the catalog as compact DDL (what the model sees) or as JSON."""
    from askdb.schemas.catalog import Catalog, catalog_for_engine

    if ddl_file is not None:
        catalog = Catalog.from_ddl_file(ddl_file)
    else:
        from askdb.db import make_engine, safe_url

        url = db_url or settings_from(ctx).database_url
        engine = make_engine(url)
        try:
            catalog = catalog_for_engine(engine).require_tables(safe_url(url))
        finally:
            engine.dispose()
    if as_json:
        print_json(catalog.to_dict())
    else:
        click.echo(catalog.ddl())


def _assistant(
    ctx: click.Context, backend: str | None, model: str | None, db_url: str | None
) -> tuple[Settings, Assistant]:
    """The settings and the assistant of ``askdb ask`` and ``askdb prompt``: --backend, --model, --db applied."""
    from askdb.assistant import Assistant
    from askdb.llm.registry import create_llm

    settings = settings_from(ctx)
    if db_url:
        settings = settings.model_copy(update={"db_url": db_url})
    llm = create_llm(settings, backend=backend, model=model)
    return settings, Assistant.from_settings(settings, llm=llm, retriever=open_retriever_told(settings))


@main.command("ask")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="print the whole answer as JSON at the end")
@click.option("--trace", "show_trace", is_flag=True, help="print every workflow step with its time")
@click.option("--backend", help=BACKEND_HELP)
@click.option("--model", help="model name or path for the backend")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option(
    "--limit",
    "row_limit",
    type=click.IntRange(min=1),
    help="rows to return at most for this question (default: ASKDB_ROW_LIMIT; up to ASKDB_MAX_ROWS)",
)
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path), help="also write the result table to this CSV"
)
@click.option(
    "--xlsx",
    "xlsx_path",
    type=click.Path(path_type=Path),
    help="also write the result table to this Excel file (the question and SQL on a second sheet)",
)
@click.option(
    "--no-clarify",
    "no_clarify",
    is_flag=True,
    help="never ask back: answer the question as written (for scripts)",
)
@click.pass_context
@handle_errors
def ask(
    ctx: click.Context,
    question: str,
    as_json: bool,
    show_trace: bool,
    backend: str | None,
    model: str | None,
    db_url: str | None,
    row_limit: int | None,
    csv_path: Path | None,
    xlsx_path: Path | None,
    no_clarify: bool,
) -> None:
    """Answer one question: SQL, the result table and a short analysis, streamed as they form.

    A question with two readings (a period the data does not cover, a term two tables answer) gets one
    question back with its options instead; ask the option you mean, or pass --no-clarify.
    """
    from askdb.cli_render import render_stream
    from askdb.export import check_writable
    from askdb.runtime.audit import audit_log, audited

    for path in (csv_path, xlsx_path):
        if path is not None:
            check_writable(path)  # before the question: a bad path should not cost a model call
    settings, assistant = _assistant(ctx, backend, model, db_url)
    events = audited(
        assistant,
        question,
        log=audit_log(settings),
        caller="cli",
        row_limit=row_limit,
        clarify=not no_clarify,
    )
    answer = render_stream(events, live=not as_json, show_trace=show_trace)
    if as_json:
        print_json(answer.to_dict(trace=show_trace))
    if csv_path is not None or xlsx_path is not None:
        _export(answer, csv_path, xlsx_path)


def _export(answer: Answer, csv_path: Path | None, xlsx_path: Path | None) -> None:
    """``ask --csv/--xlsx``: the answer's rows written out, said on stderr (stdout may be JSON)."""
    from askdb.errors import ConfigError
    from askdb.export import write_csv, write_xlsx

    if answer.frame is None:
        raise ConfigError(
            "the answer has no result table to write", hint="ask a question that the database can answer"
        )
    frame = answer.frame.rename(columns=answer.labels)  # headed like the table people read: 粉丝数, not fans
    if csv_path is not None:
        click.echo(f"wrote {len(frame)} rows to {write_csv(csv_path, frame)}", err=True)
    if xlsx_path is not None:
        path = write_xlsx(xlsx_path, frame, question=answer.question, sql=answer.sql)
        click.echo(f"wrote {len(answer.frame)} rows to {path}", err=True)


@main.command("prompt")
@click.argument("question")
@click.option(
    "--json", "as_json", is_flag=True, help="print messages, tokens, budget, tables and dropped as JSON"
)
@click.option("--backend", help=BACKEND_HELP)
@click.option("--model", help="model name or path for the backend (its tokenizer counts, where it has one)")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.pass_context
@handle_errors
def prompt(
    ctx: click.Context,
    question: str,
    as_json: bool,
    backend: str | None,
    model: str | None,
    db_url: str | None,
) -> None:
    """Show the exact SQL-expert messages QUESTION would send, their size in tokens and what was left out.

    Nothing is sent to the model. The tokens are counted with the configured model's tokenizer
    where the backend has one (llamacpp, vllm), else with askdb's estimate.
    """
    _, assistant = _assistant(ctx, backend, model, db_url)
    retrieval = assistant.retriever.retrieve(question, assistant.k)
    fitted = assistant.fit(question, retrieval)
    budget = assistant.budget()
    dropped = [{"why": "past the retrieval budget", **d} for d in retrieval.dropped]
    dropped += [{**t, "why": "trimmed to fit the model's window"} for t in fitted.trimmed]
    tables = [{"name": t.name, "score": round(t.score, 4), "via": t.via} for t in retrieval.tables]
    if as_json:
        print_json(
            {
                "messages": [{"role": m.role, "content": m.content} for m in fitted.messages],
                "tokens": fitted.tokens,
                "counted_by": fitted.counted_by,
                "budget": budget.to_dict(),
                "tables": tables,
                "dropped": dropped,
            }
        )
        return
    for m in fitted.messages:
        click.echo(f"── {m.role} ──\n{m.content}\n")
    how = "the model's tokenizer" if fitted.counted_by == "model" else "askdb's estimate"
    click.echo(
        f"-- {fitted.tokens} prompt tokens ({how}) of {budget.prompt_limit} that fit: window {budget.n_ctx}, "
        f"reply {budget.max_tokens}"
    )
    for t in tables:
        click.echo(f"-- table {t['score']:8.4f}  {t['name']}{' (join path)' if t['via'] == 'join' else ''}")
    for d in dropped:
        click.echo(f"-- dropped {d['kind']} {d['name']}: {d['why']}")


@main.group()
def audit() -> None:
    """The audit log: every question, who asked, the SQL that ran or was refused, and the outcome."""


@audit.command("tail")
@click.option(
    "-n", "count", type=click.IntRange(1, 100_000), default=20, show_default=True, help="entries to show"
)
@click.option("--json", "as_json", is_flag=True, help="print the entries as a JSON list")
@click.pass_context
@handle_errors
def audit_tail(ctx: click.Context, count: int, as_json: bool) -> None:
    """Show the last entries of the audit log, oldest first."""
    from askdb.runtime.audit import audit_log

    entries = audit_log(settings_from(ctx)).tail(count)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    for e in entries:
        sql = e.sql or (e.refused[-1]["sql"] if e.refused else "")
        why = f"  refused {len(e.refused)}x: {e.refused[-1]['reason']}" if e.refused else ""
        error = f"  {e.error}" if e.error else ""
        rows = "" if e.rows is None else f" {e.rows} rows"
        click.echo(f"{e.at}  {e.caller:<14} {e.outcome:<8}{rows} {e.duration_ms:8.0f} ms  {e.question}")
        if sql or why or error:
            click.echo(f"    {sql}{why}{error}")


# Each folder's commands live beside the code they drive; they import only askdb.cli_common.
for _command in (sql, index, retrieve, examples, forecast, eval_group, serve, mcp, chat, finetune):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
