"""Helpers for the SQL tests: the packaged corpora and catalogs of the external benchmark schemas."""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from askdb.schemas.catalog import Catalog, Column, Table

BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"


def corpus(name: str) -> list[dict]:
    """A JSON-lines corpus shipped in askdb/sql/data."""
    text = resources.files("askdb.sql").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def require_bench() -> Path:
    if not BENCH.is_dir():
        pytest.skip(f"external benchmark data not found at {BENCH} (see shared/bench/README.md)")
    return BENCH


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
    lines = (bench / "bird_minidev" / "mini_dev_mysql_gold.sql").read_text(encoding="utf-8").splitlines()
    return [tuple(line.rsplit("\t", 1)) for line in lines if line.strip()]


def defog_catalog(bench: Path, db: str) -> Catalog:
    """Tables and columns of a defog database from its PostgreSQL DDL (types do not matter here)."""
    text = (bench / "defog" / "defog_data" / db / f"{db}.sql").read_text(encoding="utf-8")
    tables = []
    for create in re.findall(r"CREATE TABLE .*?\n\);", text, flags=re.DOTALL):
        tree = sqlglot.parse_one(create, read="postgres")
        name = tree.this.this.name
        cols = tuple(Column(c.name, "text") for c in tree.this.expressions if isinstance(c, exp.ColumnDef))
        tables.append(Table(name, cols))
    return Catalog(tuple(tables))


def defog_queries(bench: Path) -> list[tuple[str, str, str]]:
    """(file, db, statement): each ';'-separated alternative of a gold answer is its own statement."""
    out = []
    for path in sorted((bench / "defog").glob("*_mysql.csv")):
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for statement in _split(row["query"]):
                    out.append((path.name, row["db_name"], statement))
    return out


def _split(text: str) -> list[str]:
    # Gold answers list alternatives separated by ';'; split on the tokens, not the characters.
    from sqlglot.dialects.mysql import MySQL
    from sqlglot.tokens import TokenType

    parts, start = [], 0
    for token in MySQL().tokenize(text):
        if token.token_type == TokenType.SEMICOLON:
            parts.append(text[start : token.start])
            start = token.end + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]
