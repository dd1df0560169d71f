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


@pytest.mark.parametrize("command", [("schema", "show"), ("ask", "各平台的达人数量")])
def test_an_empty_database_says_it_has_no_tables_before_any_model_call(tmp_path: Path, command):
    import sqlite3

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    # the model's address is dead: reaching it would end in a different error
    env = {"ASKDB_HOME": str(tmp_path / "home"), "ASKDB_OLLAMA_HOST": "http://127.0.0.1:9"}
    result = askdb(*command, "--db", f"sqlite:///{empty}", env=env)
    assert_one_clear_line(result, "error: 数据库里没有可以查询的表:", "has no tables", "askdb demo-db")


def test_the_first_question_in_a_new_home_says_what_it_builds_and_the_second_does_not(tmp_path, small_demo):
    path, _ = small_demo
    env = {
        "ASKDB_HOME": str(tmp_path / "home"),
        "ASKDB_MODELS_DIR": str(tmp_path / "models"),  # not the tests' shared one, where the export is done
        "ASKDB_OLLAMA_HOST": "http://127.0.0.1:9",
    }
    first = askdb("ask", "各平台的达人数量", "--db", f"sqlite:///{path}", env=env)
    again = askdb("ask", "各平台的达人数量", "--db", f"sqlite:///{path}", env=env)
    for result in (first, again):  # the model is down: the run ends in its one error line either way
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode != 0 and last.startswith("error: 连接不上模型服务")
    assert "正在为这个数据库建立检索索引" in first.stderr and "正在导出嵌入模型" in first.stderr
    assert "检索索引" not in again.stderr and "嵌入模型" not in again.stderr
