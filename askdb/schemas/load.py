"""Build the demo ads database: into an embedded SQLite file, or into MySQL/MariaDB.

Both paths write the same rows from the same generator. Neither leaves a half-built database
behind: SQLite is written to a temporary file and renamed; MySQL is loaded into staging tables
that replace the live ones only once every row is in.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from sqlglot import exp

from askdb.db import make_engine, parse_url, safe_url, translate_errors
from askdb.errors import ConfigError, DatabaseNotFound
from askdb.files import atomic_path
from askdb.schemas.catalog import Catalog, Table, packaged_catalog, packaged_ddl
from askdb.schemas.demo import DEFAULT_SEED, TableRows, generate

STAGING_SUFFIX = "__askdb_new"
BATCH = 5000

Progress = Callable[[str, int], None]  # (table, rows just written)


def _no_progress(_table: str, _rows: int) -> None:
    return None


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_create_statements(catalog: Catalog) -> list[str]:
    """DDL for SQLite that keeps MySQL's declared types (so affinities match) and case-insensitive text."""
    statements = []
    for table in catalog.tables:
        parts = []
        for col in table.columns:
            collate = " COLLATE NOCASE" if col.type.startswith(("varchar", "char", "text")) else ""
            parts.append(f'"{col.name}" {col.type.upper()}{"" if col.nullable else " NOT NULL"}{collate}')
        if table.primary_key:
            parts.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in table.primary_key) + ")")
        statements.append(f'CREATE TABLE "{table.name}" ({", ".join(parts)})')
        for fk in table.foreign_keys:
            cols = ", ".join(f'"{c}"' for c in fk.columns)
            statements.append(
                f'CREATE INDEX "ix_{table.name}_{"_".join(fk.columns)}" ON "{table.name}" ({cols})'
            )
    return statements


def build_sqlite(
    path: Path, *, scale: float = 1.0, seed: int = DEFAULT_SEED, progress: Progress = _no_progress
) -> Path:
    """Write the demo database to ``path`` atomically: a temporary file in the same folder, then rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the askdb home {path.parent}: {exc.strerror}",
            hint="set ASKDB_HOME to a folder you can write to",
        ) from None
    with atomic_path(path) as tmp:
        connection = sqlite3.connect(tmp)
        try:
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            for statement in sqlite_create_statements(packaged_catalog()):
                connection.execute(statement)
            for rows in generate(scale, seed):
                _sqlite_insert(connection, rows, progress)
            connection.commit()
        finally:
            connection.close()
    return path


def _sqlite_insert(connection: sqlite3.Connection, rows: TableRows, progress: Progress) -> None:
    columns = ", ".join(f'"{c}"' for c in rows.columns)
    marks = ", ".join("?" * len(rows.columns))
    sql = f'INSERT INTO "{rows.table}" ({columns}) VALUES ({marks})'
    for batch in _batches(rows.rows):
        connection.executemany(sql, batch)
        progress(rows.table, len(batch))


def _batches(rows: list[tuple]) -> Iterator[list[tuple]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


# -- MySQL / MariaDB ---------------------------------------------------------------------------


def staging_ddl(ddl: str, names: Iterable[str]) -> list[str]:
    """The packaged DDL with every ads table (and every reference to one) renamed to its staging name."""
    targets = {n.lower() for n in names}
    statements = []
    for statement in sqlglot.parse(ddl, read="mysql"):
        statement = statement.copy()
        statement.comments = None
        for table in statement.find_all(exp.Table):
            if table.name.lower() in targets:
                table.set("this", exp.to_identifier(table.name + STAGING_SUFFIX, quoted=True))
        statements.append(statement.sql("mysql"))
    return statements


def load_mysql(
    url: str | URL,
    *,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
    progress: Progress = _no_progress,
) -> None:
    """Load the demo rows into a MySQL/MariaDB database, creating the database when it is missing."""
    parsed = parse_url(url)
    catalog = packaged_catalog()
    engine = _mysql_engine_creating_database(parsed)
    try:
        with translate_errors(parsed), engine.connect() as conn:
            existing = _existing_tables(conn, catalog)
            if existing and not replace:
                raise ConfigError(
                    f"{safe_url(parsed)} already has ads tables ({', '.join(existing)})",
                    hint="pass --replace to rebuild them with demo data, or point --url at another database",
                )
            _drop_staging(conn, catalog)
            try:
                for statement in staging_ddl(packaged_ddl(), catalog.table_names):
                    conn.exec_driver_sql(statement)
                raw = conn.connection.dbapi_connection
                for rows in generate(scale, seed):
                    _mysql_insert(raw, rows, progress)
                _swap_in(conn, catalog)
            except BaseException:
                _drop_staging(conn, catalog)
                raise
    finally:
        engine.dispose()


def _mysql_engine_creating_database(url: URL) -> Engine:
    engine = make_engine(url)
    try:
        with translate_errors(url), engine.connect():
            return engine
    except DatabaseNotFound:
        engine.dispose()
    # URL.set(database=None) keeps the old name; build the server-level URL explicitly.
    server_url = URL.create(url.drivername, url.username, url.password, url.host, url.port, query=url.query)
    server = make_engine(server_url)
    try:
        with translate_errors(url), server.connect() as conn:
            name = url.database.replace("`", "``")
            conn.exec_driver_sql(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            )
    finally:
        server.dispose()
    return make_engine(url)


def _existing_tables(conn: Any, catalog: Catalog) -> list[str]:
    rows = conn.exec_driver_sql("SHOW TABLES").fetchall()
    present = {r[0].lower() for r in rows}
    return [t for t in catalog.table_names if t.lower() in present]


def _children_first(catalog: Catalog) -> list[Table]:
    return list(reversed(catalog.tables))


def _drop_staging(conn: Any, catalog: Catalog) -> None:
    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
    for table in _children_first(catalog):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{table.name}{STAGING_SUFFIX}`")
    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


def _swap_in(conn: Any, catalog: Catalog) -> None:
    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
    for table in _children_first(catalog):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{table.name}`")
    renames = ", ".join(f"`{t.name}{STAGING_SUFFIX}` TO `{t.name}`" for t in catalog.tables)
    conn.exec_driver_sql(f"RENAME TABLE {renames}")
    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


def _mysql_insert(raw: Any, rows: TableRows, progress: Progress) -> None:
    columns = ", ".join(f"`{c}`" for c in rows.columns)
    marks = ", ".join(["%s"] * len(rows.columns))
    sql = f"INSERT INTO `{rows.table}{STAGING_SUFFIX}` ({columns}) VALUES ({marks})"
    with raw.cursor() as cursor:
        for batch in _batches(rows.rows):
            cursor.executemany(sql, batch)  # PyMySQL folds this into multi-row INSERTs
            progress(rows.table, len(batch))
    raw.commit()


# -- checksums ---------------------------------------------------------------------------------


def canonical_value(value: Any) -> str:
    """One text form per value across engines: SQLite returns text dates and floats, MySQL objects."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        return f"{float(value):.6f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def table_checksums(engine: Engine, catalog: Catalog) -> dict[str, tuple[int, str]]:
    """Row count and content hash of every catalog table, rows in primary-key order."""
    out = {}
    quote = engine.dialect.identifier_preparer.quote
    with translate_errors(engine.url), engine.connect() as conn:
        for table in catalog.tables:
            cols = ", ".join(quote(c) for c in table.column_names)
            order = ", ".join(quote(c) for c in table.primary_key)
            result = conn.execute(text(f"SELECT {cols} FROM {quote(table.name)} ORDER BY {order}"))
            # SQLite keeps 6.00 in a DECIMAL column as the integer 6; compare such columns as numbers.
            fractional = [c.type.startswith(("decimal", "float", "double")) for c in table.columns]
            digest, count = hashlib.sha256(), 0
            for row in result:
                values = (float(v) if frac and v is not None else v for v, frac in zip(row, fractional))
                digest.update("\x1f".join(canonical_value(v) for v in values).encode("utf-8") + b"\x1e")
                count += 1
            out[table.name] = (count, digest.hexdigest()[:16])
    return out
