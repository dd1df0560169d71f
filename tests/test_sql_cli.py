"""`askdb sql check` and `askdb sql run`, and the SQLite translations of MySQL functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from askdb.cli import main
from askdb.sql import sqlite_functions as f
from askdb.sql.dialect import to_dialect


def test_check_accepts_and_prints_the_limited_sql() -> None:
    result = CliRunner().invoke(main, ["sql", "check", "SELECT account FROM ads_account", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data == {"ok": True, "sql": "SELECT account FROM ads_account LIMIT 10", "violations": []}


def test_check_rejects_with_exit_1_and_structured_violations() -> None:
    result = CliRunner().invoke(main, ["sql", "check", "SELECT * FROM mysql.user", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False and data["violations"][0]["rule"] == "names"
    assert set(data["violations"][0]) == {"rule", "message", "fragment"}


def test_run_guards_then_executes(tmp_path: Path) -> None:
    from askdb.schemas.load import build_sqlite

    db = build_sqlite(tmp_path / "ads.db", scale=0.01)
    url = f"sqlite:///{db}"
    ok = CliRunner().invoke(
        main,
        [
            "sql",
            "run",
            "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform",
            "--db",
            url,
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["columns"] == ["platform", "n"] and data["truncated"] is False and data["rows"]
    table = CliRunner().invoke(main, ["sql", "run", "SELECT account FROM ads_account", "--db", url])
    assert table.exit_code == 0 and "account" in table.output and "10 rows" in table.output
    refused = CliRunner().invoke(main, ["sql", "run", "DELETE FROM ads_account", "--db", url])
    assert refused.exit_code == 1 and "query_only" in refused.output


@pytest.mark.parametrize(
    ("mysql", "expected"),
    [
        ("SELECT YEAR('2025-03-01 10:00:00')", 2025),
        (
            "SELECT DATE_FORMAT('2025-03-01 09:05:07', '%Y年%m月%d日 %H:%i:%s %W')",
            "2025年03月01日 09:05:07 Saturday",
        ),
        ("SELECT DATE_SUB('2025-03-31', INTERVAL 1 MONTH)", "2025-02-28"),
        ("SELECT '2025-03-01 10:00:00' - INTERVAL 2 HOUR", "2025-03-01 08:00:00"),
        ("SELECT SUBSTRING_INDEX('a,b,c', ',', -2)", "b,c"),
        ("SELECT LEFT('小红书', 2)", "小红"),
        ("SELECT CONCAT('a', NULL)", None),
        ("SELECT CAST('1.2万' AS UNSIGNED)", 1),
        ("SELECT CAST(REPLACE('1.25万', '万', '') AS DECIMAL(10,1))", 1.3),
        ("SELECT DATEDIFF('2025-03-02 00:10:00', '2025-03-01 23:50:00')", 1),
        ("SELECT TIMESTAMPDIFF(MONTH, '2025-01-31', '2025-02-28')", 0),
        ("SELECT WEEK('2025-01-01', 1)", 1),
        ("SELECT 7.5 MOD 2", 1.5),
        ("SELECT LENGTH('万'), CHAR_LENGTH('万')", 3),
        # A rewrite inside another rewrite (LEFT inside CONCAT, DATE_SUB inside YEAR) is rewritten too.
        ("SELECT CONCAT(LEFT('小红书', 2), YEAR(DATE_SUB('2025-03-31', INTERVAL 1 MONTH)))", "小红2025"),
        ("SELECT MONTH(DATE_SUB('2025-03-31', INTERVAL 1 MONTH))", 2),
        ("SELECT STR_TO_DATE('2025-03-01 10:00 - 11:00', '%Y-%m-%d %H:%i')", "2025-03-01 10:00:00"),
        ("SELECT FORMAT(1234567.891, 2)", "1,234,567.89"),
        ("SELECT YEARWEEK('2025-01-01')", 202452),
        ("SELECT UNIX_TIMESTAMP('2025-03-01 00:00:01') - UNIX_TIMESTAMP('2025-03-01')", 1),
        ("SELECT RAND() < 1", 1),
    ],
)
def test_sqlite_translation_matches_mysql_semantics(mysql: str, expected: object) -> None:
    import sqlite3

    connection = sqlite3.connect(":memory:")
    f.register_mysql_functions(connection)
    sql = to_dialect(sqlglot.parse_one(mysql, read="mysql"), "sqlite")
    assert connection.execute(sql).fetchone()[0] == expected, sql


@pytest.mark.parametrize(
    ("mysql", "written"),
    [
        ("SELECT ANY_VALUE(a) FROM t", "SELECT MIN(a) FROM t"),
        ("SELECT a->>'$.k' FROM t", "SELECT JSON_UNQUOTE(JSON_EXTRACT(a, '$.k')) FROM t"),
        ("SELECT UTC_DATE()", "SELECT UTC_DATE()"),
        ("SELECT INTERVAL(5, 1, 10)", "SELECT INTERVAL(5, 1, 10)"),
        ("SELECT a - INTERVAL 1 SECOND FROM t", "SELECT a - INTERVAL 1 SECOND FROM t"),
        ("SELECT REGEXP_LIKE(a, 'x', 'c') FROM t", "SELECT a REGEXP CONCAT('(?-i)', 'x') FROM t"),
        (
            "SELECT LAG(a, 2, 0) OVER (ORDER BY b) FROM t",
            "SELECT CASE WHEN LAG(1, 2) OVER (ORDER BY b) IS NULL THEN 0 ELSE LAG(a, 2) OVER (ORDER BY b) END FROM t",
        ),
    ],
)
def test_mysql_text_is_what_mariadb_reads_too(mysql: str, written: str) -> None:
    # MariaDB has no ANY_VALUE, ->>, REGEXP_LIKE or LAG/LEAD default, and reads INTERVAL '1' SECOND
    # (sqlglot's spelling) as a fraction of a second.
    assert to_dialect(sqlglot.parse_one(mysql, read="mysql"), "mysql") == written
