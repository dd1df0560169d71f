"""Run accepted statements read-only, with a time limit and a row cap, and return a DataFrame.

MySQL/MariaDB: every statement runs inside ``START TRANSACTION READ ONLY`` that is rolled back,
under ``max_statement_time`` (MariaDB) or ``max_execution_time`` (MySQL), with a client read
timeout as the last resort. SQLite: the engine is opened read-only (``mode=ro``, ``query_only``)
and a progress handler stops a statement past its deadline. Server errors, timeouts and lost
connections become askdb errors; the runner's pool stays usable afterwards.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

import pandas as pd
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from askdb.db import classify_dbapi_error, is_sqlite, make_engine, parse_url
from askdb.errors import DatabaseError, QueryError, QueryTimeout
from askdb.frames import plain_rows
from askdb.sql.dialect import to_dialect
from askdb.sql.sqlite_functions import register_mysql_functions

# MariaDB 1969 (max_statement_time exceeded), MySQL 3024 (max_execution_time exceeded), 1317 (interrupted).
_TIMEOUT_ERRNOS = {1969, 3024, 1317}
_SQLITE_PROGRESS_STEPS = 10_000  # VM instructions between deadline checks: ~1 ms of work


@dataclass(frozen=True)
class QueryResult:
    """Rows of one statement as a DataFrame, whether the row cap cut them, and what ran."""

    frame: pd.DataFrame
    truncated: bool
    sql: str
    elapsed_s: float

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def rows(self) -> list[list[Any]]:
        return plain_rows(self.frame)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows(), "truncated": self.truncated}


class Runner(Protocol):
    """Executes one statement already in its dialect. ``dialect`` says which SQL it speaks."""

    dialect: str

    def execute(self, sql: str) -> QueryResult: ...


def run_tree(runner: Runner, tree: Any) -> QueryResult:
    """Transpile a guard-accepted MySQL tree to the runner's dialect and execute it."""
    return runner.execute(to_dialect(tree, runner.dialect))


class SqlAlchemyRunner:
    """The runner over a SQLAlchemy engine (MySQL, MariaDB or SQLite)."""

    def __init__(self, engine: Engine, *, timeout_s: float = 15.0, max_rows: int = 1000) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.dialect = "sqlite" if engine.dialect.name == "sqlite" else "mysql"
        if self.dialect == "sqlite" and not event.contains(engine, "connect", register_mysql_functions):
            # The transpiled SQL calls MySQL-compatible functions (DATEDIFF, YEAR...) that every SQLite
            # connection of this engine must have; pooled connections made before now would lack them.
            event.listen(engine, "connect", register_mysql_functions)
            engine.dispose()

    def execute(self, sql: str) -> QueryResult:
        """Run one statement read-only; raise QueryTimeout, QueryError or a connection error."""
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                frame, truncated = self._run(conn, sql)
        except DBAPIError as exc:
            raise self._error(exc, sql) from None
        return QueryResult(frame, truncated, sql, time.perf_counter() - started)

    def _run(self, conn: Connection, sql: str) -> tuple[pd.DataFrame, bool]:
        if self.dialect == "sqlite":
            return self._run_sqlite(conn, sql)
        return self._run_mysql(conn, sql)

    def _run_mysql(self, conn: Connection, sql: str) -> tuple[pd.DataFrame, bool]:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # we open the transaction ourselves
        conn.exec_driver_sql(self._timeout_statement(conn))
        conn.exec_driver_sql("START TRANSACTION READ ONLY")
        try:
            return self._fetch(conn, sql)
        finally:
            conn.exec_driver_sql("ROLLBACK")

    def _timeout_statement(self, conn: Connection) -> str:
        from sqlalchemy.dialects.mysql.base import MySQLDialect

        if isinstance(conn.dialect, MySQLDialect) and conn.dialect.is_mariadb:
            return f"SET SESSION max_statement_time = {self.timeout_s:.3f}"
        return f"SET SESSION max_execution_time = {int(self.timeout_s * 1000)}"

    def _run_sqlite(self, conn: Connection, sql: str) -> tuple[pd.DataFrame, bool]:
        # pysqlite's connection: SQLAlchemy types it as the generic DB-API protocol (or None once closed).
        raw = cast(sqlite3.Connection, conn.connection.dbapi_connection)
        deadline = time.monotonic() + self.timeout_s
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _SQLITE_PROGRESS_STEPS)
        try:
            return self._fetch(conn, sql)
        finally:
            raw.set_progress_handler(None, 0)
            conn.rollback()

    def _fetch(self, conn: Connection, sql: str) -> tuple[pd.DataFrame, bool]:
        # exec_driver_sql: the text goes to the driver as is, so a '%' or ':name' in it is not a parameter.
        result = conn.exec_driver_sql(sql.replace("%", "%%") if self.dialect == "mysql" else sql)
        if not result.returns_rows:
            return pd.DataFrame(), False
        rows = result.fetchmany(self.max_rows + 1)
        columns = list(result.keys())
        result.close()
        truncated = len(rows) > self.max_rows
        return pd.DataFrame([tuple(r) for r in rows[: self.max_rows]], columns=columns), truncated

    def _error(self, exc: DBAPIError, sql: str) -> DatabaseError:
        if _is_timeout(exc):
            return QueryTimeout(
                f"the query ran longer than {self.timeout_s:g} s and was stopped",
                hint="narrow it (filters, fewer joins) or raise ASKDB_STATEMENT_TIMEOUT_S",
                sql=sql,
            )
        error = classify_dbapi_error(exc, self.engine.url)
        if type(error) is not DatabaseError:
            return error  # unreachable, auth, unknown database: the fix is in the URL or the server
        message = str(exc.orig) if exc.orig is not None else str(exc)
        return QueryError(
            f"the database refused the query: {message}",
            hint="fix the SQL",
            sql=sql,
            code=error.details.get("code"),
        )


def _is_timeout(exc: DBAPIError) -> bool:
    if isinstance(exc.orig, sqlite3.OperationalError):
        return "interrupted" in str(exc.orig)
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in _TIMEOUT_ERRNOS


def open_runner(url: str, *, timeout_s: float = 15.0, max_rows: int = 1000) -> SqlAlchemyRunner:
    """A read-only runner for a database URL; SQLite connections get the MySQL-compatible functions."""
    parsed = parse_url(url)
    if is_sqlite(parsed):
        engine = make_engine(parsed, read_only=True)
    else:
        # The client gives up a little after the server should have: a hung server cannot hang us.
        engine = make_engine(parsed, read_only=True, connect_args={"read_timeout": int(timeout_s) + 10})
    return SqlAlchemyRunner(engine, timeout_s=timeout_s, max_rows=max_rows)
