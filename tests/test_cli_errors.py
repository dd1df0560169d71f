"""Bad input at the command line: one clear line on stderr that says what to do, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MARIADB_HOST, MARIADB_PORT


def askdb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "askdb", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_demo_database_says_to_build_it():
    result = askdb("schema", "show")
    # the Chinese lead first, then the exact problem and the command, as typed
    assert_one_clear_line(result, "error: 连接不上数据库:", "no database file", "askdb demo-db")


def test_malformed_ddl_file_names_the_line(tmp_path: Path):
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE t (id int, name varchar(3);")
    assert_one_clear_line(askdb("schema", "show", "--ddl", str(bad)), "bad.sql", "line 1")


def test_unreachable_mysql_says_to_start_the_server():
    url = f"mysql+pymysql://root@{MARIADB_HOST}:1/ads"
    assert_one_clear_line(askdb("schema", "show", "--db", url), "cannot reach", "start")


@pytest.mark.mariadb
def test_wrong_password_says_to_check_credentials():
    url = f"mysql+pymysql://root:definitely-wrong@{MARIADB_HOST}:{MARIADB_PORT}/mysql"
    result = askdb("schema", "show", "--db", url)
    assert_one_clear_line(result, "refused the login", "password")
    assert "definitely-wrong" not in result.stderr


def test_not_a_url():
    assert_one_clear_line(askdb("schema", "show", "--db", "ads on localhost"), "not a database URL")


def test_bad_setting_names_the_variable():
    result = askdb("schema", "show", env={"ASKDB_ROW_LIMIT": "lots"})
    assert_one_clear_line(result, "ASKDB_ROW_LIMIT")


def test_home_that_cannot_be_created(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = askdb("demo-db", "--scale", "0.005", env={"ASKDB_HOME": str(blocker / "home")})
    assert_one_clear_line(result, "cannot create the askdb home", "ASKDB_HOME")


def test_demo_db_then_schema_show_works(tmp_path: Path):
    assert askdb("demo-db", "--scale", "0.005").returncode == 0
    shown = askdb("schema", "show")
    assert shown.returncode == 0
    assert "CREATE TABLE `ads_summary`" in shown.stdout and "点赞数量" in shown.stdout
