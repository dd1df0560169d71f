"""Two engines, one data set: the embedded SQLite file and MariaDB hold identical rows."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from askdb.errors import ConfigError
from askdb.schemas.catalog import packaged_catalog
from askdb.schemas.load import STAGING_SUFFIX, build_sqlite, load_mysql, table_checksums
from tests.conftest import mariadb_admin, mysql_url


def _checksums(url: str) -> dict:
    engine = create_engine(url)
    try:
        return table_checksums(engine, packaged_catalog())
    finally:
        engine.dispose()


@pytest.mark.mariadb
def test_sqlite_and_mariadb_hold_identical_rows(small_demo):
    path, url = small_demo
    embedded = _checksums(f"sqlite:///{path}")
    server = _checksums(url)
    assert embedded == server
    assert embedded["ads_summary"][0] == 1900
    assert all(count > 0 for count, _ in embedded.values())


def test_rebuild_is_deterministic(tmp_path):
    a = build_sqlite(tmp_path / "a.db", scale=0.005)
    b = build_sqlite(tmp_path / "b.db", scale=0.005)
    assert _checksums(f"sqlite:///{a}") == _checksums(f"sqlite:///{b}")


def test_interrupted_sqlite_build_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = build_sqlite(tmp_path / "ads.db", scale=0.005)
    before = _checksums(f"sqlite:///{target}")

    def stop_midway(table: str, _rows: int) -> None:
        if table == "ads_order":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_sqlite(target, scale=0.01, progress=stop_midway)
    assert _checksums(f"sqlite:///{target}") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ads.db"]


def test_unwritable_home_is_a_config_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot create the askdb home"):
        build_sqlite(blocker / "home" / "ads.db", scale=0.005)


def _tables(database: str) -> set[str]:
    admin = mariadb_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"SHOW TABLES FROM `{database}`")
            return {r[0] for r in cur.fetchall()}
    finally:
        admin.close()


@pytest.mark.mariadb
def test_mysql_load_refuses_to_overwrite_then_replaces_on_request(mariadb_database):
    url = mysql_url(mariadb_database)
    load_mysql(url, scale=0.005)
    first = _checksums(url)
    with pytest.raises(ConfigError) as refused:
        load_mysql(url, scale=0.005)
    assert "--replace" in refused.value.hint
    load_mysql(url, scale=0.005, seed=1, replace=True)
    assert _checksums(url) != first
    assert _tables(mariadb_database) == set(packaged_catalog().table_names)


@pytest.mark.mariadb
def test_failed_mysql_load_keeps_old_tables_and_drops_staging(mariadb_database):
    url = mysql_url(mariadb_database)
    load_mysql(url, scale=0.005)
    before = _checksums(url)

    def fail_midway(table: str, _rows: int) -> None:
        if table == "ads_order":
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        load_mysql(url, scale=0.01, replace=True, progress=fail_midway)
    assert _checksums(url) == before
    assert not any(name.endswith(STAGING_SUFFIX) for name in _tables(mariadb_database))


@pytest.mark.mariadb
def test_mysql_load_creates_a_missing_database():
    name = "askdb_test_created_by_load"
    admin = mariadb_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        load_mysql(mysql_url(name), scale=0.005)
        assert _tables(name) == set(packaged_catalog().table_names)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
