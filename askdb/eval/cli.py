"""``askdb eval``: run a question set against a model and report; ``askdb eval compare`` two runs.

``--questions FILE.jsonl`` runs a person's own set through the same path as the packaged ads set
(``_run_ads``): same scoring, same report, same ``--resume``.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from askdb.cli_common import BACKEND_HELP, handle_errors, print_json, settings_from
from askdb.errors import ConfigError

DATASETS = ("ads", "defog", "spider-retrieval", "bird-guard")


def _slug(*parts: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(p for p in parts if p))


def _bar(total: int, initial: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="q", file=sys.stderr, disable=None)


@click.group("eval", invoke_without_command=True)
@click.option("--dataset", type=click.Choice(DATASETS), default="ads", show_default=True)
@click.option(
    "--split",
    type=click.Choice(["train", "test", "all"]),
    default="test",
    show_default=True,
    help="ads question split (test is never used for fine-tuning or examples)",
)
@click.option(
    "--questions",
    "questions_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="your own question set instead of --dataset/--split: a .jsonl file in the ads format, one "
    'object a line: "question", "sql" (null: the right answer is to decline), optional "id", '
    '"difficulty", "features", "previous"',
)
@click.option("--backend", help=BACKEND_HELP)
@click.option("--model", help="model name or path for the backend")
@click.option("--limit", type=click.IntRange(min=1), help="only the first N questions")
@click.option(
    "--db",
    "db_url",
    help="ads and --questions: the database to ask (default ASKDB_DB_URL or the demo); "
    "defog: a MySQL server URL to build its databases in (default: SQLite only)",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="folder for results (default under $ASKDB_HOME/eval)",
)
@click.option("--resume", is_flag=True, help="skip questions already in the folder's results.jsonl")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.pass_context
@handle_errors
def eval_group(
    ctx: click.Context,
    dataset: str,
    split: str,
    questions_file: Path | None,
    backend: str | None,
    model: str | None,
    limit: int | None,
    db_url: str | None,
    out_dir: Path | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Evaluate a model: accuracy, valid SQL, declines, latency; writes result.json and report.md.

    The question set is the packaged ads set (--dataset, --split), an external benchmark, or your
    own file (--questions FILE.jsonl, checked line by line before any question is asked).
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_from(ctx)
    if questions_file is not None:
        _refuse_beside_questions(ctx)
    if dataset == "bird-guard":
        summary = _bird_guard()
    elif dataset == "spider-retrieval":
        summary = _spider_retrieval(settings, limit)
    else:
        label = ("questions", questions_file.stem) if questions_file else (dataset, split)
        name = backend or settings.llm_backend
        out = out_dir or settings.home / "eval" / _slug(*label, name, model or settings.llm_model)
        runner = _run_defog if dataset == "defog" else partial(_run_ads, questions_file=questions_file)
        summary = runner(
            settings,
            split=None if split == "all" else split,
            backend=backend,
            model=model,
            limit=limit,
            db_url=db_url,
            out=out,
            resume=resume,
        )
    if as_json:
        print_json(summary)


def _refuse_beside_questions(ctx: click.Context) -> None:
    given = [
        f"--{name}"
        for name in ("dataset", "split")
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
    ]
    if given:
        raise ConfigError(
            f"--questions cannot be combined with {' or '.join(given)}",
            hint="the file is the whole question set: drop --dataset and --split "
            "(splits and external benchmarks belong to the packaged sets)",
        )


def _meta(dataset: str, split: str | None, llm: Any, db: str | None) -> dict[str, Any]:
    from askdb.eval.runner import run_meta

    return run_meta(dataset, split, llm, db)


def _finish(out: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    from askdb.eval.runner import write_run

    summary, report = write_run(out, meta, records)
    tag = (
        " (harness check: replayed/scripted replies, not a model's accuracy)" if meta["harness_only"] else ""
    )
    click.echo(
        f"{meta['backend']}/{meta['model']}{tag}: accuracy {summary['accuracy']}, "
        f"EX {summary['execution_accuracy']}, valid SQL {summary['valid_sql_rate']} "
        f"over {summary['questions']} questions; report: {report}",
        err=True,
    )
    return summary


def _eval_assistant(settings: Any, backend: str | None, model: str | None) -> Any:
    from askdb.eval.runner import eval_assistant
    from askdb.llm.registry import create_llm

    return eval_assistant(settings, create_llm(settings, backend=backend, model=model))


def _run_ads(
    settings: Any,
    *,
    split: str | None,
    backend: str | None,
    model: str | None,
    limit: int | None,
    db_url: str | None,
    out: Path,
    resume: bool,
    questions_file: Path | None = None,
) -> dict[str, Any]:
    """The packaged ads set, or a person's own ``questions_file`` in its format, against any database."""
    from askdb.eval.dataset import load_ads_questions, load_questions_file
    from askdb.eval.runner import GoldExecutor
    from askdb.sql.context import GuardContext

    if db_url:
        settings = settings.model_copy(update={"db_url": db_url})
    # Read (and check) the questions before building anything: a bad line costs no model start-up.
    questions = (load_questions_file(questions_file) if questions_file else load_ads_questions(split))[:limit]
    assistant = _eval_assistant(settings, backend, model)
    gold = GoldExecutor(assistant.runner, GuardContext(assistant.catalog, row_limit=assistant.row_limit))
    gold.check_all(questions)
    desc = questions_file.stem if questions_file else "ads"
    records = _run_with_bar(assistant, questions, out, gold, resume, desc)
    if questions_file is None:
        return _finish(out, _meta("ads", split, assistant.llm, settings.database_url), records)
    meta = _meta("questions", None, assistant.llm, settings.database_url)
    meta["questions_file"] = str(questions_file.resolve())
    return _finish(out, meta, records)


def _run_with_bar(assistant: Any, questions: list, out: Path, gold: Any, resume: bool, desc: str) -> list:
    from askdb.eval.runner import read_results, run_questions

    results = out / "results.jsonl"
    done = {r["id"] for r in read_results(results)} if resume else set()
    with _bar(len(questions), sum(q.id in done for q in questions), desc) as bar:
        return run_questions(
            assistant, questions, results, gold, resume=resume, progress=lambda _r: bar.update(1)
        )


def _run_defog(
    settings: Any,
    *,
    split: str | None,
    backend: str | None,
    model: str | None,
    limit: int | None,
    db_url: str | None,
    out: Path,
    resume: bool,
) -> dict[str, Any]:
    from askdb.eval.external import bench_dir, build_defog, defog_databases, defog_questions
    from askdb.eval.runner import GoldExecutor
    from askdb.sql.context import GuardContext

    bench = bench_dir()
    questions = defog_questions(bench)[:limit]
    dbs = sorted({q.db for q in questions})
    server = db_url.rstrip("/") if db_url else None
    urls = {db: f"{server}/defog_{db}" for db in dbs} if server else {}
    built = build_defog(
        bench,
        [d for d in dbs if d in defog_databases(bench)],
        out / "defog",
        (lambda db: urls[db]) if server else None,
        progress=lambda db, t: click.echo(f"built defog {db}: {t}", err=True),
    )
    records, llm = [], None
    for db in dbs:
        url = urls.get(db) or f"sqlite:///{out / 'defog' / f'{db}.db'}"
        assistant = _eval_assistant(settings.model_copy(update={"db_url": url}), backend, model)
        llm = assistant.llm
        gold = GoldExecutor(
            assistant.runner,
            GuardContext(assistant.catalog, row_limit=assistant.row_limit, database=db),
            strip_qualifiers=True,
        )
        records += _run_with_bar(assistant, [q for q in questions if q.db == db], out / db, gold, resume, db)
    meta = _meta("defog", "test", llm, server)
    meta["build_s"] = built
    return _finish(out, meta, records)


def _bird_guard() -> dict[str, Any]:
    from askdb.eval.external import bench_dir, guard_false_rejections

    total, rejected = guard_false_rejections(bench_dir())
    click.echo(
        f"guard on BIRD mini-dev + defog MySQL gold: {total} statements, {len(rejected)} refused "
        f"({len(rejected) / total:.2%} false rejections)",
        err=True,
    )
    for line in rejected:
        click.echo(f"  {line}", err=True)
    return {
        "statements": total,
        "rejected": len(rejected),
        "false_rejection_rate": round(len(rejected) / total, 4),
        "refused": rejected,
    }


def _spider_retrieval(settings: Any, limit: int | None) -> dict[str, Any]:
    from askdb.eval.external import bench_dir, retrieval_recall, spider_questions, spider_tables
    from askdb.rag.retriever import HybridRetriever, RetrievalConfig
    from askdb.rag.service import embedder_for
    from askdb.rag.store import build_index
    from askdb.schemas.catalog import Catalog

    bench = bench_dir()
    tables, by_db = spider_tables(bench)
    embedder = embedder_for(settings)
    index = build_index(Catalog(tuple(tables)), embedder, notes=())
    retriever = HybridRetriever(index, embedder, RetrievalConfig(budget_tokens=10**6))
    questions = spider_questions(bench, by_db, limit)
    out = {}
    for label, scopes in (("pooled", None), ("db_hint", by_db)):
        with _bar(len(questions), 0, f"spider {label}") as bar:
            out[label] = retrieval_recall(
                retriever, questions, scopes, join=True, progress=lambda: bar.update(1)
            )
        r = out[label]
        click.echo(
            f"spider {label}: {r['n']} questions, recall@5 strict {r['strict'][5]}, "
            f"lenient {r['lenient'][5]}, all@5 {r['all'][5]}, p50 {r['p50_ms']} ms",
            err=True,
        )
    return out


@eval_group.command("compare")
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON")
@handle_errors
def compare_cmd(a: Path, b: Path, as_json: bool) -> None:
    """Compare two result.json files: metric changes and every question that regressed."""
    from askdb.eval.report import compare, compare_markdown, load_result

    diff = compare(load_result(a), load_result(b))
    if as_json:
        print_json(diff)
    else:
        click.echo(compare_markdown(diff))
    if diff["regressions"]:
        sys.exit(1)


@eval_group.command("record-gold")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(min=1))
@click.option("--db", "db_url", help="database to run against (default ASKDB_DB_URL or the demo)")
@click.pass_context
@handle_errors
def record_gold(ctx: click.Context, path: Path, split: str, limit: int | None, db_url: str | None) -> None:
    """Write a replay file whose replies are the ads gold SQL, to check the harness with --backend replay."""
    import tempfile

    from askdb.eval.dataset import load_ads_questions
    from askdb.eval.replay import GoldOracleFakeLLM, record_gold_replay
    from askdb.eval.runner import GoldExecutor, eval_assistant
    from askdb.sql.context import GuardContext

    settings = settings_from(ctx)
    if db_url:
        settings = settings.model_copy(update={"db_url": db_url})
    questions = load_ads_questions(None if split == "all" else split)[:limit]
    assistant = eval_assistant(settings, GoldOracleFakeLLM(questions))
    gold = GoldExecutor(assistant.runner, GuardContext(assistant.catalog, row_limit=assistant.row_limit))
    with tempfile.TemporaryDirectory() as work:
        n = record_gold_replay(assistant, questions, path, gold, Path(work))
    click.echo(f"{n} replies for {len(questions)} questions written to {path}")
