"""External benchmark sets from ``../shared/bench`` (never copied into the project).

- defog sql-eval: its 11 databases (PostgreSQL DDL + INSERTs) built into MariaDB and SQLite by
  transpiling with sqlglot, and its MySQL gold questions for execution accuracy;
- Spider: table retrieval over a pool of all Spider tables (recall of the retriever);
- BIRD mini-dev and defog MySQL gold: legitimate queries the guard must accept.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from askdb.errors import ConfigError
from askdb.eval.dataset import Question
from askdb.rag.documents import ColumnValues
from askdb.schemas.catalog import Catalog, Column, ForeignKey, Table
from askdb.sql.context import GuardContext
from askdb.sql.guard import check

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench"
DEFOG_FILES = ("questions_gen_mysql.csv", "instruct_basic_mysql.csv", "instruct_advanced_mysql.csv")


def bench_dir(bench: Path | None = None) -> Path:
    """The shared benchmark folder, or a ConfigError saying where it was looked for."""
    path = bench or BENCH
    if not path.is_dir():
        raise ConfigError(
            f"external benchmark data not found at {path}",
            hint="put the shared bench folder beside the project (see shared/bench/README.md)",
        )
    return path


# -- BIRD mini-dev ----------------------------------------------------------------------------


def bird_catalogs(bench: Path) -> dict[str, Catalog]:
    """One Catalog per BIRD mini-dev database, from tables.json."""
    out = {}
    for db in json.loads((bench / "bird_minidev" / "tables.json").read_text(encoding="utf-8")):
        columns: dict[int, list[Column]] = {}
        for (table_index, name), kind in zip(db["column_names_original"], db["column_types"]):
            if table_index >= 0:
                columns.setdefault(table_index, []).append(Column(name, kind))
        tables = tuple(Table(n, tuple(columns.get(i, ()))) for i, n in enumerate(db["table_names_original"]))
        out[db["db_id"]] = Catalog(tables)
    return out


def bird_queries(bench: Path) -> list[tuple[str, str]]:
    """(MySQL gold, db) for every BIRD mini-dev question."""
    lines = (bench / "bird_minidev" / "mini_dev_mysql_gold.sql").read_text(encoding="utf-8").splitlines()
    return [tuple(line.rsplit("\t", 1)) for line in lines if line.strip()]


# -- defog ------------------------------------------------------------------------------------


def defog_databases(bench: Path) -> list[str]:
    return sorted(p.name for p in (bench / "defog" / "defog_data").iterdir() if p.is_dir())


def _defog_text(bench: Path, db: str) -> str:
    return (bench / "defog" / "defog_data" / db / f"{db}.sql").read_text(encoding="utf-8")


def defog_catalog(bench: Path, db: str) -> Catalog:
    """Tables and columns of a defog database from its PostgreSQL DDL (types do not matter here)."""
    tables = []
    for create in re.findall(r"CREATE TABLE .*?\n\);", _defog_text(bench, db), flags=re.DOTALL):
        tree = sqlglot.parse_one(create, read="postgres")
        name = tree.this.this.name
        cols = tuple(Column(c.name, "text") for c in tree.this.expressions if isinstance(c, exp.ColumnDef))
        tables.append(Table(name, cols))
    return Catalog(tuple(tables))


def split_alternatives(text: str) -> list[str]:
    """Gold answers list alternatives separated by ';': split on the tokens, not the characters."""
    from sqlglot.dialects.mysql import MySQL
    from sqlglot.tokens import TokenType

    parts, start = [], 0
    for token in MySQL().tokenize(text):
        if token.token_type == TokenType.SEMICOLON:
            parts.append(text[start : token.start])
            start = token.end + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def defog_queries(bench: Path) -> list[tuple[str, str, str]]:
    """(file, db, statement): each alternative of a gold answer is its own statement."""
    return [
        (name, db, statement)
        for name, db, _question, _category, alternatives in _defog_rows(bench)
        for statement in alternatives
    ]


def _defog_rows(bench: Path) -> Iterable[tuple[str, str, str, str, list[str]]]:
    for name in DEFOG_FILES:
        path = bench / "defog" / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield (
                    name,
                    row["db_name"],
                    row["question"],
                    row.get("query_category", ""),
                    split_alternatives(row["query"]),
                )


def defog_questions(bench: Path, dbs: Iterable[str] | None = None) -> list[Question]:
    """defog's MySQL questions as eval questions (the first gold alternative is the gold)."""
    wanted = set(dbs) if dbs is not None else None
    out = []
    for n, (name, db, question, category, alternatives) in enumerate(_defog_rows(bench), 1):
        if wanted is not None and db not in wanted:
            continue
        out.append(
            Question(
                id=f"defog-{n:03d}",
                question=question,
                sql=alternatives[0],
                split="test",
                difficulty=name.split("_mysql")[0],
                features=(category or "defog",),
                db=db,
            )
        )
    return out


def _defog_statements(bench: Path, db: str) -> list[exp.Expression]:
    # Comments carry no data; dropping them keeps transpiled DDL clean on both engines.
    # Schemas (public., consumer_div.) are dropped: each defog database becomes one database here.
    statements = [
        s
        for s in sqlglot.parse(_defog_text(bench, db), read="postgres")
        if s is not None and not (isinstance(s, exp.Create) and s.kind == "SCHEMA")
    ]
    for statement in statements:
        for node in statement.walk():
            node.comments = None
        for table in statement.find_all(exp.Table):
            table.set("db", None)
        for interval in statement.find_all(exp.Interval):
            _plain_unit(interval)
        if isinstance(statement, exp.Create):
            _simplify_ddl(statement)
    return statements


# PostgreSQL accepts abbreviations ('15 min') that sqlglot passes through and MySQL refuses.
_UNIT_ABBREVIATIONS = {
    "MIN": "MINUTE",
    "MINS": "MINUTE",
    "SEC": "SECOND",
    "SECS": "SECOND",
    "HR": "HOUR",
    "HRS": "HOUR",
}


def _plain_unit(interval: exp.Interval) -> None:
    unit = interval.args.get("unit")
    if unit is not None and unit.name.upper() in _UNIT_ABBREVIATIONS:
        interval.set("unit", exp.var(_UNIT_ABBREVIATIONS[unit.name.upper()]))


def _simplify_ddl(create: exp.Create) -> None:
    # The copies are read-only: foreign keys only get in the way (MariaDB refuses some as
    # "incorrectly formed"); SQLite wants a bare literal, not CAST('0' AS INTEGER), as a default.
    for node in list(create.find_all(exp.ForeignKey, exp.Reference)):
        parent = node.parent
        node.pop()
        if isinstance(parent, exp.ColumnConstraint) and parent.args.get("kind") is None:
            parent.pop()
    for default in create.find_all(exp.DefaultColumnConstraint):
        if isinstance(default.this, exp.Cast):
            default.set("this", default.this.this)


def _mysql_ddl(statement: exp.Expression) -> str:
    # MySQL cannot index TEXT without a length: key columns become VARCHAR(255).
    statement = statement.copy()
    keys = {
        c.name
        for c in statement.find_all(exp.ColumnDef)
        if any(isinstance(k.args.get("kind"), exp.PrimaryKeyColumnConstraint) for k in c.constraints)
    }
    for pk in statement.find_all(exp.PrimaryKey):
        keys |= {e.name for e in pk.expressions}
    for column in statement.find_all(exp.ColumnDef):
        kind = column.args.get("kind")
        if column.name in keys and isinstance(kind, exp.DataType) and kind.this == exp.DataType.Type.TEXT:
            column.set("kind", exp.DataType.build("VARCHAR(255)"))
    return statement.sql("mysql")


def build_defog_sqlite(bench: Path, db: str, path: Path, *, rows_from: str | None = None) -> Path:
    """The defog database ``db`` as a SQLite file (written to a temporary name, then renamed).

    Some defog data is computed relative to today (``CURRENT_DATE - INTERVAL '5 days'``), which SQLite
    cannot evaluate from the transpiled INSERTs; with ``rows_from`` (a MySQL URL holding the same
    database, built by ``build_defog_mysql``) the rows are copied from there, so both engines hold
    exactly the same values.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(tmp)
    try:
        statements = _defog_statements(bench, db)
        for statement in statements:
            if isinstance(statement, exp.Create) or rows_from is None:
                connection.execute(statement.sql("sqlite"))
        if rows_from is not None:
            _copy_rows(
                rows_from, connection, [s.this.this.name for s in statements if isinstance(s, exp.Create)]
            )
        connection.commit()
    finally:
        connection.close()
    tmp.replace(path)
    return path


def _copy_rows(url: str, target: sqlite3.Connection, tables: list[str]) -> None:
    from datetime import date, datetime, timedelta
    from datetime import time as clock
    from decimal import Decimal

    from askdb.db import make_engine

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, (date, clock, timedelta)):
            return str(value)
        return value

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for table in tables:
                result = conn.exec_driver_sql(f"SELECT * FROM `{table}`")
                rows = [tuple(plain(v) for v in row) for row in result]
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    target.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
    finally:
        engine.dispose()


def build_defog_mysql(bench: Path, db: str, url: str) -> None:
    """The defog database ``db`` loaded into the MySQL/MariaDB database that ``url`` names (created if missing)."""
    from sqlalchemy.engine import URL

    from askdb.db import make_engine, parse_url, translate_errors

    parsed = parse_url(url)
    server = make_engine(
        URL.create(
            parsed.drivername, parsed.username, parsed.password, parsed.host, parsed.port, query=parsed.query
        )
    )
    name = parsed.database.replace("`", "``")
    try:
        with translate_errors(parsed), server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            conn.exec_driver_sql(f"USE `{name}`")
            for statement in _defog_statements(bench, db):
                sql = _mysql_ddl(statement) if isinstance(statement, exp.Create) else statement.sql("mysql")
                conn.exec_driver_sql(sql.replace("%", "%%"))
            conn.commit()
    finally:
        server.dispose()


def build_defog(
    bench: Path,
    dbs: Iterable[str],
    sqlite_dir: Path,
    mysql_url: Callable[[str], str] | None = None,
    progress: Callable[[str, dict[str, float]], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Build defog databases into SQLite (and MariaDB when ``mysql_url`` names a URL per db); seconds each."""
    times = {}
    for db in dbs:
        entry = {}
        url = mysql_url(db) if mysql_url is not None else None
        if url is not None:
            started = time.perf_counter()
            build_defog_mysql(bench, db, url)
            entry["mysql_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        build_defog_sqlite(bench, db, sqlite_dir / f"{db}.db", rows_from=url)
        entry["sqlite_s"] = round(time.perf_counter() - started, 2)
        times[db] = entry
        if progress is not None:
            progress(db, entry)
    return times


# -- the guard on external gold -----------------------------------------------------------------


def guard_false_rejections(bench: Path) -> tuple[int, list[str]]:
    """(statements checked, one line per refused statement) over BIRD mini-dev and defog MySQL gold."""
    rejected, total = [], 0
    catalogs = bird_catalogs(bench)
    for sql, db in bird_queries(bench):
        total += 1
        verdict = check(sql, GuardContext(catalogs[db], database=db))
        if not verdict.ok:
            rejected.append(f"bird/{db}: {verdict.violations[0].message} :: {sql[:120]}")
    defog: dict[str, Catalog] = {}
    for name, db, sql in defog_queries(bench):
        total += 1
        catalog = defog.setdefault(db, defog_catalog(bench, db))
        verdict = check(sql, GuardContext(catalog, database=db))
        if not verdict.ok:
            rejected.append(f"defog/{name}/{db}: {verdict.violations[0].message} :: {sql[:120]}")
    return total, rejected


# -- Spider table retrieval ---------------------------------------------------------------------

_SPIDER_TYPES = {
    "number": "int",
    "time": "datetime",
    "boolean": "tinyint",
    "text": "varchar(255)",
    "others": "text",
}
KS = (1, 3, 5, 10)


def spider_tables(bench: Path, copy: int = 0) -> tuple[list[Table], dict[str, list[str]]]:
    """Spider tables as askdb Tables named ``<db>__<table>`` (copy > 0 renames every database)."""
    dbs = json.loads((bench / "spider" / "tables.json").read_text(encoding="utf-8"))
    tables, by_db = [], {}
    for db in dbs:
        prefix = db["db_id"] if copy == 0 else f"{db['db_id']}_copy{copy}"
        names = [f"{prefix}__{t}" for t in db["table_names_original"]]
        cols: list[list[Column]] = [[] for _ in names]
        for (t, name), (_, natural), typ in zip(
            db["column_names_original"], db["column_names"], db["column_types"]
        ):
            if t >= 0:
                cols[t].append(Column(name, _SPIDER_TYPES.get(typ, "text"), natural))
        fks: list[list[ForeignKey]] = [[] for _ in names]
        col_table = [t for t, _ in db["column_names_original"]]
        col_name = [n for _, n in db["column_names_original"]]
        for src, dst in db["foreign_keys"]:
            fks[col_table[src]].append(ForeignKey((col_name[src],), names[col_table[dst]], (col_name[dst],)))
        pks = {col_table[p]: col_name[p] for p in db["primary_keys"] if isinstance(p, int)}
        for i, name in enumerate(names):
            natural = db["table_names"][i]
            tables.append(Table(name, tuple(cols[i]), natural, (pks[i],) if i in pks else (), tuple(fks[i])))
        by_db[prefix] = names
    return tables, by_db


def spider_questions(
    bench: Path, by_db: dict[str, list[str]], limit: int | None = None
) -> list[dict[str, Any]]:
    """Spider dev questions with their gold tables (the tables the gold SQL reads)."""
    rows = json.loads((bench / "spider" / "dev.json").read_text(encoding="utf-8"))[:limit]
    out = []
    for row in rows:
        lookup = {n.split("__", 1)[1].lower(): n for n in by_db[row["db_id"]]}
        tree = sqlglot.parse_one(row["query"], read="sqlite")
        gold = sorted({lookup[t.name.lower()] for t in tree.find_all(exp.Table) if t.name.lower() in lookup})
        if gold:
            out.append({"question": row["question"], "db": row["db_id"], "gold": gold})
    return out


def _base(name: str) -> str:
    return name.split("__", 1)[-1].lower()


def retrieval_recall(
    retriever: Any,
    questions: list[dict[str, Any]],
    scopes: dict[str, list[str]] | None,
    join: bool,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """recall@k strict and lenient, all@k and latency of a retriever; ``scopes`` given means the db hint is used."""
    config = getattr(retriever, "config", None)
    if config is not None and getattr(config, "relative_floor", 0.0):
        # recall@k judges the ranking: the floor that keeps weak tables out of a prompt would cut it short
        retriever = type(retriever)(retriever.index, retriever.embedder, replace(config, relative_floor=0.0))
    recall: dict[str, dict[int, list[float]]] = {m: {k: [] for k in KS} for m in ("strict", "lenient")}
    complete: dict[int, list[bool]] = {k: [] for k in KS}
    first: list[bool] = []
    joined, sizes, latency = [], [], []
    for q in questions:
        scope = set(scopes[q["db"]]) if scopes is not None else None
        start = time.perf_counter()
        result = retriever.retrieve(q["question"], k=max(KS), scope=scope)
        latency.append((time.perf_counter() - start) * 1000)
        ranked = [t.name for t in result.tables if t.via == "rank"]
        gold = q["gold"]
        for k in KS:
            top = ranked[:k]
            recall["strict"][k].append(sum(g in top for g in gold) / len(gold))
            bases = {_base(t) for t in top}
            recall["lenient"][k].append(sum(_base(g) in bases for g in gold) / len(gold))
            complete[k].append(all(g in top for g in gold))
        first.append(bool(ranked) and ranked[0] in gold)
        if join:
            top5 = result.tables[:5]
            with5 = [t.name for t in top5] + [t.name for t in retriever._join_tables(list(top5))]
            joined.append(sum(g in with5 for g in gold) / len(gold))
            sizes.append(len(with5))
        if progress is not None:
            progress()
    mean = statistics.fmean
    lat = sorted(latency)
    return {
        "n": len(questions),
        "strict": {k: round(mean(v), 4) for k, v in recall["strict"].items()},
        "lenient": {k: round(mean(v), 4) for k, v in recall["lenient"].items()},
        "all": {k: round(mean(v), 4) for k, v in complete.items()},
        # the top table is a gold one: what recall@1 cannot show when a question needs two tables
        "hit@1": round(mean(first), 4) if first else 0.0,
        "join@5": round(mean(joined), 4) if joined else None,
        "tables@5+join": round(mean(sizes), 2) if sizes else None,
        "p50_ms": round(lat[len(lat) // 2], 1),
        "p95_ms": round(lat[int(len(lat) * 0.95) - 1], 1),
    }


# -- DuSQL: Chinese schemas, Chinese names ------------------------------------------------------

_DUSQL_TYPES = {"number": "int", "time": "datetime", "binary": "tinyint", "text": "varchar(255)"}
_DUSQL_FROM = re.compile(r"\b(?:from|join)\s+([^\s(),]+)", re.IGNORECASE)


def dusql_tables(bench: Path) -> tuple[list[Table], dict[str, list[str]], tuple[ColumnValues, ...]]:
    """DuSQL's 201 databases as askdb Tables named ``<db>__<table>``, by database, and the distinct
    values of each text column in its sample rows (what ``sample_values`` would read from a live copy).

    DuSQL's names are Chinese and it has no comments: the name is all there is. Seven databases are
    listed twice, identically; the second copy is skipped.
    """
    dbs = json.loads((bench / "dusql" / "db_schema.json").read_text(encoding="utf-8"))
    tables: list[Table] = []
    by_db: dict[str, list[str]] = {}
    for db in dbs:
        if db["db_id"] in by_db:
            continue
        # Some entries carry only the natural names, which are the original ones throughout DuSQL.
        original = db.get("table_names_original", db["table_names"])
        columns = db.get("column_names_original", db["column_names"])
        names = [f"{db['db_id']}__{t}" for t in original]
        cols: list[list[Column]] = [[] for _ in names]
        for (t, name), typ in zip(columns, db["column_types"]):
            if t >= 0:
                cols[t].append(Column(name, _DUSQL_TYPES.get(typ, "text")))
        col_table = [t for t, _ in columns]
        col_name = [n for _, n in columns]
        fks: list[list[ForeignKey]] = [[] for _ in names]
        for src, dst in db["foreign_keys"]:
            fks[col_table[src]].append(ForeignKey((col_name[src],), names[col_table[dst]], (col_name[dst],)))
        pks = {col_table[p]: col_name[p] for p in db["primary_keys"] if isinstance(p, int)}
        for i, name in enumerate(names):
            tables.append(Table(name, tuple(cols[i]), "", (pks[i],) if i in pks else (), tuple(fks[i])))
        by_db[db["db_id"]] = names
    return tables, by_db, _dusql_values(bench, tables, by_db)


def _dusql_values(bench: Path, tables: list[Table], by_db: dict[str, list[str]]) -> tuple[ColumnValues, ...]:
    from askdb.rag.values import candidate_columns, nameable

    text_columns = set(candidate_columns(Catalog(tuple(tables))))
    seen: set[str] = set()
    found = []
    for db in json.loads((bench / "dusql" / "db_content.json").read_text(encoding="utf-8")):
        if db["db_id"] in seen or db["db_id"] not in by_db:
            continue
        seen.add(db["db_id"])
        for name, content in db["tables"].items():
            table = f"{db['db_id']}__{name}"
            for i, column in enumerate(content["header"]):
                if (table, column) not in text_columns:
                    continue
                cells = [str(row[i]).strip() for row in content["cell"] if i < len(row)]
                kept = tuple(v for v in dict.fromkeys(cells) if v and nameable(v))
                if kept:
                    found.append(ColumnValues(table, column, kept))
    return tuple(found)


def dusql_questions(
    bench: Path, by_db: dict[str, list[str]], limit: int | None = None
) -> list[dict[str, Any]]:
    """DuSQL's sample of training questions with their gold tables: the tables after FROM and JOIN.

    DuSQL's SQL is not any dialect sqlglot reads (``==``, columns named ``游客(万人次)``), so the
    tables are read off the text and kept when the question's database has them.
    """
    rows = json.loads((bench / "dusql" / "train_sample.json").read_text(encoding="utf-8"))[:limit]
    out = []
    for row in rows:
        lookup = {n.split("__", 1)[1]: n for n in by_db.get(row["db_id"], ())}
        gold = sorted({lookup[t] for t in _DUSQL_FROM.findall(row["query"]) if t in lookup})
        if gold:
            out.append({"question": row["question"], "db": row["db_id"], "gold": gold})
    return out
