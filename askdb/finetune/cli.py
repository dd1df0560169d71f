"""``askdb finetune``: build SFT data, register a GGUF model with Ollama."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from askdb.cli import handle_errors, print_json, settings_from


@click.group("finetune")
def finetune() -> None:
    """Fine-tuning: SFT data in the assistant's prompt format, Ollama deployment of a GGUF."""


@finetune.command("data")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL file to write (default: $ASKDB_HOME/finetune/sft.jsonl)")
@click.option("--augment", "augment_count", type=click.IntRange(0, 100_000), default=0, show_default=True,
              help="template-generated question-SQL pairs to add, values read from the database")
@click.option("--seed", type=int, default=0, show_default=True, help="seed for the augmentation's choices")
@click.option("--reasoning", is_flag=True, help="fill the `reasoning` field (thinking text for R1-style models)")
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option("--json", "as_json", is_flag=True, help="print a summary as JSON")
@click.pass_context
@handle_errors
def data(ctx: click.Context, out: Path | None, augment_count: int, seed: int, reasoning: bool,
         db_url: str | None, as_json: bool) -> None:
    """Write SFT chat examples in the assistant's exact prompt format (train split + verified examples)."""
    from tqdm import tqdm

    from askdb.finetune.data import PromptSettings, build_candidates, build_records, write_jsonl
    from askdb.rag.service import open_retriever
    from askdb.schemas.catalog import catalog_for_engine
    from askdb.sql.runner import open_runner

    settings = settings_from(ctx)
    url = db_url or settings.database_url
    runner = open_runner(url, timeout_s=settings.statement_timeout_s, max_rows=settings.max_rows)
    catalog = catalog_for_engine(runner.engine)
    retriever, _ = open_retriever(settings, db_url=url)
    with tqdm(desc="candidates", unit="q", file=sys.stderr, disable=None) as bar:
        candidates, dropped = build_candidates(runner, catalog, augment_count=augment_count, seed=seed,
                                               row_limit=settings.row_limit, progress=lambda _s: bar.update())
    prompt = PromptSettings(row_limit=settings.row_limit, system_in_user=settings.llm_system_in_user)
    with tqdm(total=len(candidates), desc="render", unit="q", file=sys.stderr, disable=None) as bar:
        records = build_records(candidates, retriever, catalog, prompt=prompt, reasoning=reasoning,
                                progress=lambda _s: bar.update())
    path = out or settings.home / "finetune" / "sft.jsonl"
    written = write_jsonl(records, path)
    summary = {"path": str(path), "records": written, "dropped": dropped,
               "train": sum(r.split == "train" for r in records),
               "validation": sum(r.split == "validation" for r in records),
               "by_source": {s: sum(r.source == s for r in records) for s in ("ads", "example", "augment")}}
    if as_json:
        print_json(summary)
    else:
        click.echo(f"wrote {written} examples to {path} ({summary['train']} train, {summary['validation']} "
                   f"validation; {dropped} dropped as duplicates, test leaks or rejected SQL)")


@finetune.command("deploy")
@click.argument("gguf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="the Ollama model name to create, e.g. askdb-sql:latest")
@click.option("--tokenizer", "tokenizer_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="folder with the model's tokenizer_config.json (default: the GGUF's folder)")
@click.option("--host", help="Ollama server (default: ASKDB_OLLAMA_HOST)")
@click.option("--json", "as_json", is_flag=True, help="print what was done as JSON")
@click.pass_context
@handle_errors
def deploy(ctx: click.Context, gguf: Path, name: str, tokenizer_dir: Path | None, host: str | None,
           as_json: bool) -> None:
    """Write a Modelfile for GGUF and register it with Ollama (or print the `ollama create` command)."""
    from askdb.finetune.ollama import (
        Modelfile,
        chat_format,
        register,
        server_running,
        tokenizer_chat_template,
    )

    settings = settings_from(ctx)
    host = host or settings.ollama_host
    modelfile = Modelfile(gguf.resolve(), chat_format(tokenizer_chat_template(tokenizer_dir or gguf.parent)))
    path = modelfile.write(gguf.parent / "Modelfile")
    if server_running(host):
        register(host, name, modelfile)
        summary = {"modelfile": str(path), "registered": True, "host": host, "name": name}
        message = f"created {name} on {host} (Modelfile: {path})"
    else:
        command = f"ollama create {name} -f {path}"
        summary = {"modelfile": str(path), "registered": False, "host": host, "name": name, "command": command}
        message = f"no Ollama server at {host}; wrote {path}. Register it with:\n  {command}"
    if as_json:
        print_json(summary)
    else:
        click.echo(message)
