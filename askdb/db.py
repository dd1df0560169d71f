"""Database engines for the embedded SQLite default and MySQL/MariaDB, with errors that say what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from askdb.errors import (
    ConfigError,
    DatabaseAuthError,
    DatabaseError,
    DatabaseNotFound,
    DatabaseUnreachable,
)

# MySQL client/server error numbers that mean "fix your URL or your server", not "fix your SQL".
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_AUTH = {1044, 1045, 1698}
_UNKNOWN_DB = {1049}


def parse_url(url: str | URL) -> URL:
    """Parse a SQLAlchemy URL or raise a ConfigError with an example of a good one."""
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"not a database URL: {url!r}",
            hint="use e.g. mysql+pymysql://user:pw@127.0.0.1:3306/ads or sqlite:////path/to/ads.db",
        ) from None


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_mysql(url: URL) -> bool:
    return url.get_backend_name() in {"mysql", "mariadb"}


def with_pymysql(url: URL) -> URL:
    """``mysql://`` and ``mariadb://`` name no driver, and SQLAlchemy then picks MySQLdb, which askdb does
    not install: give them PyMySQL, the driver askdb ships with. A URL that names a driver keeps it."""
    if url.drivername in {"mysql", "mariadb"}:
        return url.set(drivername=f"{url.drivername}+pymysql")
    return url


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    return parse_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL, *, read_only: bool = False, must_exist: bool = True, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite, refuse a missing file instead of silently creating an empty one."""
    parsed = parse_url(url)
    if is_sqlite(parsed):
        return _sqlite_engine(parsed, read_only=read_only, must_exist=must_exist, **kwargs)
    if not is_mysql(parsed):
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} in {safe_url(parsed)}",
            hint="askdb runs on MySQL/MariaDB (mysql+pymysql://...) or SQLite (sqlite:///file.db)",
        )
    parsed = with_pymysql(parsed)
    connect_args = {"charset": "utf8mb4", "connect_timeout": 10, **kwargs.pop("connect_args", {})}
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    except ImportError as exc:  # a named driver (mysql+mysqldb://) whose module is not installed
        raise ConfigError(
            f"the driver of {safe_url(parsed)} is not installed ({exc.name or exc})",
            hint="use mysql+pymysql:// (PyMySQL is installed with askdb)",
        ) from None
    except NoSuchModuleError:
        raise ConfigError(
            f"no driver for {parsed.drivername!r}",
            hint="use mysql+pymysql:// (PyMySQL is installed with askdb)",
        ) from None


def sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:":
        return None
    return Path(database.removeprefix("file:")).expanduser()


def _sqlite_engine(url: URL, *, read_only: bool, must_exist: bool, **kwargs: Any) -> Engine:
    path = sqlite_path(url)
    if path is not None and must_exist and not path.is_file():
        raise DatabaseUnreachable(
            f"no database file at {path}",
            hint="run `askdb demo-db` to build the demo database, or set ASKDB_DB_URL",
        )
    if path is not None and read_only:
        url = url.set(database=f"file:{path}", query={**url.query, "mode": "ro", "uri": "true"})
    engine = create_engine(url, **kwargs)
    if read_only:
        event.listen(engine, "connect", _sqlite_query_only)
    return engine


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")


@contextlib.contextmanager
def translate_errors(url: str | URL) -> Iterator[None]:
    """Turn driver errors about reaching the database into askdb errors with a fix."""
    try:
        yield
    except DBAPIError as exc:
        raise classify_dbapi_error(exc, url) from None


def classify_dbapi_error(exc: DBAPIError, url: str | URL) -> DatabaseError:
    """Map a driver error to the askdb error a person can act on."""
    where = safe_url(url)
    code = _mysql_errno(exc)
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if code in _UNREACHABLE:
        return DatabaseUnreachable(
            f"cannot reach the database at {where}",
            hint="is the server running? check host and port, or start MariaDB "
            "(`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`)",
            code=code,
        )
    if code in _AUTH:
        return DatabaseAuthError(
            f"the server refused the login for {where}",
            hint="check the user name and password in the URL, and that the user may use that database",
            code=code,
        )
    if code in _UNKNOWN_DB:
        return DatabaseNotFound(
            f"the database in {where} does not exist",
            hint="create it (CREATE DATABASE ...) or fix the name; `askdb demo-db --url URL` creates it",
            code=code,
        )
    return DatabaseError(f"database error at {where}: {text}", hint="see the server's message", code=code)


def _mysql_errno(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
