"""SQL guard and runner figures, side by side with what people use instead.

    .venv/bin/python bench/bench_sql.py [--mysql-url URL] [--skip-build]

Prints: guard latency per query over the legitimate corpus (p50/p99); how many hostile statements
each check lets through (askdb's guard, a naive "starts with SELECT" test, and Vanna's rule "pass if
any statement is a SELECT"); query time over the legitimate corpus on the full-size demo database
for SQLite and MariaDB (built here: ~10 s and ~20 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from sqlglot.dialects.mysql import MySQL
from sqlglot.tokens import TokenType

from askdb.errors import AskdbError
from askdb.schemas.catalog import packaged_catalog
from askdb.sql.context import GuardContext
from askdb.sql.guard import check, guard
from askdb.sql.rules.functions import allowed_node_types
from askdb.sql.runner import open_runner, run_tree


def corpus(name: str) -> list[dict]:
    text = resources.files("askdb.sql").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms   n={len(ordered)}"


def naive_startswith_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT")


def vanna_any_select(sql: str) -> bool:
    """Vanna's is_sql_valid rule (one SELECT among the statements is enough), splitting as sqlparse would:
    on ';' outside strings and comments, each statement typed by its first keyword."""
    statements: list[list] = [[]]
    try:
        tokens = MySQL().tokenize(sql)
    except Exception:  # noqa: BLE001 - an untokenizable text is "not SQL" to Vanna as well
        return False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return any(s and s[0].token_type in (TokenType.SELECT, TokenType.WITH) for s in statements)


def bench_guard() -> None:
    ctx = GuardContext(packaged_catalog(), database="askdb")
    allowed_node_types()  # built once per process; not part of a query's cost
    legit = corpus("legit_ads.jsonl")
    samples = []
    for _ in range(5):
        for case in legit:
            started = time.perf_counter()
            check(case["sql"], ctx)
            samples.append(time.perf_counter() - started)
    print(f"guard latency, legitimate ads corpus (5 rounds):  {percentiles(samples)}")
    hostile = corpus("hostile.jsonl")
    checks = {"askdb guard": lambda s: check(s, ctx).ok, "startswith('SELECT')": naive_startswith_select}
    checks["Vanna any-statement-is-SELECT"] = vanna_any_select
    print(f"hostile corpus: {len(hostile)} statements; let through (lower is better):")
    for name, passes in checks.items():
        missed = [h for h in hostile if passes(h["sql"])]
        by_category: dict[str, int] = {}
        for h in missed:
            by_category[h["category"]] = by_category.get(h["category"], 0) + 1
        print(f"  {name:32s} {len(missed):4d}   {by_category}")


def bench_queries(label: str, url: str) -> None:
    runner = open_runner(url, timeout_s=60, max_rows=10_000)
    catalog = packaged_catalog()
    samples, failures = [], 0
    for case in corpus("legit_ads.jsonl"):
        tree = guard(case["sql"], catalog)
        started = time.perf_counter()
        try:
            run_tree(runner, tree)
        except AskdbError as exc:
            failures += 1
            print(f"  {label}: {exc.one_line()[:120]}", file=sys.stderr)
        samples.append(time.perf_counter() - started)
    runner.engine.dispose()
    print(
        f"query time, full-size demo, {label:8s} {percentiles(samples)}   total {sum(samples):6.2f} s"
        f"   errors {failures}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/askdb_bench")
    parser.add_argument("--home", type=Path, default=None, help="ASKDB_HOME holding (or to hold) ads.db")
    parser.add_argument("--skip-build", action="store_true", help="use databases built by an earlier run")
    parser.add_argument("--guard-only", action="store_true")
    args = parser.parse_args()
    bench_guard()
    if args.guard_only:
        return
    from askdb.schemas.load import build_sqlite, load_mysql

    home = args.home or Path(os.environ.get("ASKDB_BENCH_HOME", Path(tempfile.gettempdir()) / "askdb-bench"))
    path = home / "ads.db"
    if not args.skip_build or not path.exists():
        started = time.perf_counter()
        build_sqlite(path, scale=1.0)
        print(f"built SQLite demo in {time.perf_counter() - started:.1f} s: {path}")
        started = time.perf_counter()
        load_mysql(args.mysql_url, scale=1.0, replace=True)
        print(f"loaded MariaDB demo in {time.perf_counter() - started:.1f} s")
    bench_queries("SQLite", f"sqlite:///{path}")
    bench_queries("MariaDB", args.mysql_url)


if __name__ == "__main__":
    main()
