"""Shared fixtures: settings in a temporary home, and real MariaDB databases created per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from askdb.settings import Settings

MARIADB_HOST = os.environ.get("ASKDB_TEST_MYSQL_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("ASKDB_TEST_MYSQL_PORT", "3306"))
MARIADB_ADMIN = os.environ.get("ASKDB_TEST_MYSQL_USER", "root")
MARIADB_ADMIN_PW = os.environ.get("ASKDB_TEST_MYSQL_PASSWORD", "")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of exported model files for the whole run: the ONNX export is made once, not per test."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_models_dir: Path) -> Path:
    """Every test gets its own ASKDB_HOME and no stray ASKDB_* settings from the caller's shell."""
    for key in list(os.environ):
        if key.startswith("ASKDB_") and not key.startswith("ASKDB_TEST_"):
            monkeypatch.delenv(key)
    home = tmp_path / "askdb-home"
    monkeypatch.setenv("ASKDB_HOME", str(home))
    monkeypatch.setenv("ASKDB_MODELS_DIR", str(shared_models_dir))
    monkeypatch.chdir(tmp_path)  # no .env from the project folder
    return home


@pytest.fixture
def settings(_isolated_home: Path) -> Settings:
    return Settings()


def mariadb_admin() -> pymysql.connections.Connection:
    """An administrative connection; fails loudly (not a skip) when the server is down."""
    try:
        return pymysql.connect(
            host=MARIADB_HOST,
            port=MARIADB_PORT,
            user=MARIADB_ADMIN,
            password=MARIADB_ADMIN_PW,
            charset="utf8mb4",
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"MariaDB is not reachable at {MARIADB_HOST}:{MARIADB_PORT} ({exc}); `make test` starts it"
        )


def mysql_url(database: str, user: str = MARIADB_ADMIN, password: str = MARIADB_ADMIN_PW) -> str:
    auth = f"{user}:{password}" if password else user
    return f"mysql+pymysql://{auth}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database for one test; dropped afterwards. Yields its name."""
    name = f"askdb_test_{uuid.uuid4().hex[:10]}"
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The demo data at scale 0.01, built once per session both as SQLite and in MariaDB.

    Yields (sqlite file, MariaDB URL). Tests must only read from these.
    """
    from askdb.schemas.load import build_sqlite, load_mysql

    path = build_sqlite(tmp_path_factory.mktemp("demo") / "ads.db", scale=0.01)
    name = f"askdb_test_demo_{uuid.uuid4().hex[:8]}"
    url = mysql_url(name)
    load_mysql(url, scale=0.01)
    try:
        yield path, url
    finally:
        admin = mariadb_admin()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="session")
def embedder(shared_models_dir: Path):
    """The packaged all-MiniLM-L6-v2 as askdb runs it (questions through ONNX), loaded once per session."""
    from askdb.rag.embed import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder(onnx_dir=shared_models_dir)
    model.encode(["load once per session"])
    assert model.runtime == "onnxruntime"
    return model


@pytest.fixture(scope="session")
def demo_retrieval_parts(small_demo, embedder, tmp_path_factory):
    """Retriever, read-only runner and catalog over the small demo SQLite file, built once per session.

    Tests that change the retriever (a 👍 adds an example) must wrap its index in a new HybridRetriever.
    """
    from askdb.db import make_engine
    from askdb.rag.retriever import HybridRetriever
    from askdb.rag.store import IndexStore
    from askdb.rag.values import sample_values
    from askdb.schemas.catalog import packaged_catalog
    from askdb.schemas.knowledge import packaged_examples, packaged_notes
    from askdb.sql.runner import SqlAlchemyRunner

    path, _ = small_demo
    engine = make_engine(f"sqlite:///{path}", read_only=True)
    catalog = packaged_catalog()
    index, _ = IndexStore(tmp_path_factory.mktemp("shared-index")).load_or_build(
        catalog,
        embedder,
        notes=packaged_notes(),
        examples=packaged_examples(),
        values=lambda: sample_values(engine, catalog),
    )
    return {
        "retriever": HybridRetriever(index, embedder),
        "runner": SqlAlchemyRunner(engine, timeout_s=5),
        "catalog": catalog,
    }
