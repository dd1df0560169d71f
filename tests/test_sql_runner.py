"""The runner: read-only execution, time limits, row caps, typed errors, and SQLite/MariaDB parity."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from askdb.errors import AskdbError, QueryError, QueryTimeout
from askdb.schemas.catalog import packaged_catalog
from askdb.sql.guard import guard
from askdb.sql.runner import SqlAlchemyRunner, open_runner, run_tree
from tests.conftest import mariadb_admin, mysql_url
from tests.sql_fixtures import corpus

LEGIT = corpus("legit_ads.jsonl")
SLOW = (
    "SELECT COUNT(*) FROM ads_summary a, ads_summary b, ads_summary c, ads_summary d WHERE a.star <> d.`desc`"
)


# -- helpers ----------------------------------------------------------------------------------


def _sqlite_runner(path: Path, **kwargs: Any) -> SqlAlchemyRunner:
    return open_runner(f"sqlite:///{path}", **kwargs)


def _norm(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):  # pandas shows NULL as NaN
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _same_value(a: Any, b: Any, rel_tol: float = 1e-6) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)
    return a == b


def _rows(result: Any, case: dict) -> list[tuple]:
    rows = [tuple(_norm(v) for v in row) for row in result.rows()]
    if case.get("unordered_values"):  # GROUP_CONCAT without ORDER BY: the order inside is unspecified
        rows = [tuple(",".join(sorted(v.split(","))) if isinstance(v, str) else v for v in r) for r in rows]
    return rows if case["ordered"] else sorted(rows, key=repr)


def _same_rows(a: list[tuple], b: list[tuple], rel_tol: float = 1e-6) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(_same_value(u, v, rel_tol) for u, v in zip(x, y)) for x, y in zip(a, b)
    )


# -- SQLite (no server needed) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from askdb.schemas.load import build_sqlite

    return build_sqlite(tmp_path_factory.mktemp("sqlrun") / "ads.db", scale=0.01)


def test_sqlite_runner_returns_a_frame_with_column_names(demo_sqlite: Path) -> None:
    runner = _sqlite_runner(demo_sqlite)
    tree = guard(
        "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform ORDER BY n DESC",
        packaged_catalog(),
    )
    result = run_tree(runner, tree)
    assert result.columns == ["platform", "n"]
    assert result.frame["n"].sum() == len(runner.execute("SELECT account FROM ads_account").frame)
    assert result.truncated is False


def test_row_cap_sets_truncated(demo_sqlite: Path) -> None:
    runner = _sqlite_runner(demo_sqlite, max_rows=7)
    result = runner.execute("SELECT id FROM ads_summary")
    assert len(result.frame) == 7 and result.truncated
    assert result.to_dict()["truncated"] is True


def test_sqlite_runner_cannot_write(demo_sqlite: Path) -> None:
    runner = _sqlite_runner(demo_sqlite)
    before = runner.execute("SELECT COUNT(*) FROM ads_account").rows()
    for statement in (
        "DELETE FROM ads_account",
        "CREATE TABLE pwn (a INT)",
        "UPDATE ads_account SET fans = 0",
    ):
        with pytest.raises(QueryError):
            runner.execute(statement)
    assert runner.execute("SELECT COUNT(*) FROM ads_account").rows() == before


def test_sqlite_timeout_stops_a_runaway_query_and_the_runner_goes_on(demo_sqlite: Path) -> None:
    runner = _sqlite_runner(demo_sqlite, timeout_s=0.5)
    with pytest.raises(QueryTimeout) as info:
        run_tree(runner, guard(SLOW, packaged_catalog()))
    assert "0.5 s" in info.value.message
    assert runner.execute("SELECT COUNT(*) FROM ads_account").rows()[0][0] > 0


def test_server_error_becomes_query_error(demo_sqlite: Path) -> None:
    runner = _sqlite_runner(demo_sqlite)
    with pytest.raises(QueryError) as info:
        runner.execute("SELECT no_such_column FROM ads_account")
    assert "no_such_column" in info.value.message and not isinstance(info.value, QueryTimeout)


# -- MariaDB ----------------------------------------------------------------------------------


@pytest.fixture
def reader(small_demo: tuple[Path, str]) -> Iterator[str]:
    """A read-only MariaDB user on the small demo database: SELECT on it alone, nothing global."""
    name = small_demo[1].rsplit("/", 1)[1]
    url = yield from _read_only_user(name)
    return url


def _read_only_user(database: str) -> Iterator[str]:
    user, password = f"askdb_ro_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}' WITH MAX_STATEMENT_TIME 10")
        cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
    try:
        yield mysql_url(database, user, password)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


@pytest.mark.mariadb
def test_mariadb_timeout_stops_a_runaway_query_and_the_runner_goes_on(reader: str) -> None:
    runner = open_runner(reader, timeout_s=1.0)
    with pytest.raises(QueryTimeout):
        run_tree(runner, guard(SLOW, packaged_catalog()))
    assert runner.execute("SELECT COUNT(*) FROM ads_account").rows()[0][0] > 0
    runner.engine.dispose()


@pytest.mark.mariadb
def test_mariadb_runs_inside_a_read_only_transaction(small_demo: tuple[Path, str]) -> None:
    # As root, so that only the READ ONLY transaction (not a missing privilege) can refuse the write.
    runner = open_runner(small_demo[1])
    with pytest.raises(QueryError) as info:
        runner.execute("UPDATE ads_account SET fans = fans")
    assert "READ ONLY" in info.value.message.upper()
    runner.engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize("scheme", ["mysql", "mariadb"])
def test_a_url_without_a_driver_uses_pymysql(small_demo: tuple[Path, str], scheme: str) -> None:
    # SQLAlchemy's default MySQL driver is MySQLdb, which askdb does not install.
    url = small_demo[1].replace("mysql+pymysql://", f"{scheme}://")
    runner = open_runner(url)
    assert runner.engine.url.drivername == f"{scheme}+pymysql"
    assert runner.execute("SELECT COUNT(*) AS n FROM ads_account").frame["n"][0] > 0
    runner.engine.dispose()


def test_a_named_driver_that_is_not_installed_says_what_to_write() -> None:
    with pytest.raises(AskdbError) as info:
        open_runner("mysql+mysqldb://u:p@127.0.0.1:3306/ads")
    assert "is not installed" in info.value.message and "mysql+pymysql://" in info.value.hint
    assert "p@" not in info.value.message  # the password stays masked


@pytest.mark.mariadb
@pytest.mark.parametrize("case", LEGIT, ids=[str(i) for i in range(len(LEGIT))])
def test_parity_sqlite_and_mariadb(case: dict, small_demo: tuple[Path, str], parity_runners: tuple) -> None:
    sqlite_runner, maria_runner = parity_runners
    tree = guard(case["sql"], packaged_catalog(), row_limit=10**6)
    # Documented differences (exact division: MySQL rounds to 4 more decimals, SQLite keeps doubles)
    # are held to MySQL's rounding, and compared as sets since rounding can reorder near-ties.
    rounded = bool(case.get("parity"))
    as_set = {**case, "ordered": False} if rounded else case
    got_sqlite = _rows(run_tree(sqlite_runner, tree), as_set)
    got_maria = _rows(run_tree(maria_runner, tree), as_set)
    assert got_maria, "the query returns nothing on the demo data: it proves nothing"
    assert _same_rows(got_sqlite, got_maria, 1e-3 if rounded else 1e-6), (got_sqlite[:5], got_maria[:5])


@pytest.fixture(scope="module")
def parity_runners(small_demo: tuple[Path, str]) -> Iterator[tuple]:
    runners = (_sqlite_runner(small_demo[0]), open_runner(small_demo[1]))
    yield runners
    for runner in runners:
        runner.engine.dispose()


# -- defence in depth: the hostile corpus WITHOUT the guard -------------------------------------


@pytest.mark.mariadb
def test_hostile_corpus_without_guard_changes_nothing_as_read_only_user(mariadb_database: str) -> None:
    from askdb.db import make_engine
    from askdb.schemas.load import load_mysql, table_checksums

    admin_url = mysql_url(mariadb_database)
    load_mysql(admin_url, scale=0.01)
    catalog = packaged_catalog()
    admin_engine = make_engine(admin_url)
    before = (table_checksums(admin_engine, catalog), _schema_snapshot(admin_engine))
    hostile = corpus("hostile.jsonl")
    targets = [Path(p) for h in hostile for p in re.findall(r"'(/tmp/askdb_hostile[^']*)'", h["sql"])]
    for target in targets:
        target.unlink(missing_ok=True)
    outcomes = {"refused": 0, "ran": 0}
    for url in _read_only_user(mariadb_database):
        runner = open_runner(url, timeout_s=1.0)
        for case in hostile:
            try:
                runner.execute(case["sql"])
                outcomes["ran"] += 1
            except AskdbError:
                outcomes["refused"] += 1
        runner.engine.dispose()
    after = (table_checksums(admin_engine, catalog), _schema_snapshot(admin_engine))
    admin_engine.dispose()
    print(f"\nwithout the guard, as a read-only user: {outcomes}")
    assert after == before
    assert targets and not [t for t in targets if t.exists()]
    assert outcomes["refused"] > outcomes["ran"]


def _schema_snapshot(engine: Any) -> tuple:
    with engine.connect() as conn:
        tables = sorted(r[0] for r in conn.exec_driver_sql("SHOW FULL TABLES"))
        ddl = tuple(conn.exec_driver_sql(f"SHOW CREATE TABLE `{t}`").fetchone()[1] for t in tables)
        databases = tuple(sorted(r[0] for r in conn.exec_driver_sql("SHOW DATABASES")))
        users = conn.exec_driver_sql("SELECT COUNT(*) FROM mysql.user").scalar()
        routines = conn.exec_driver_sql("SELECT COUNT(*) FROM information_schema.routines").scalar()
        triggers = conn.exec_driver_sql("SELECT COUNT(*) FROM information_schema.triggers").scalar()
    return tables, ddl, databases, users, routines, triggers
