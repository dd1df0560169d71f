"""Distinct values of low-cardinality text columns, and finding them inside a question.

A question that names 美妆, 上海 or an account says which column to filter on even when it names no
column; only the live database knows those values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from askdb.rag.documents import ColumnValues
from askdb.schemas.catalog import Catalog, Column

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

TEXT_TYPES = ("varchar", "char", "text", "enum", "tinytext", "mediumtext", "nvarchar")
MAX_DISTINCT = 3000  # accounts run to a few thousand; past that a column is free text, not a category
MAX_VALUE_CHARS = 40  # longer values are sentences (note text, titles) that no question repeats verbatim
MAX_LONG_COLUMN_CHARS = (
    255  # wider declared columns are free text (varchar(500) `desc`); 255 is the usual name width
)
_NOT_A_NAME = re.compile(
    r"^[\d\s.:/\-+%万亿kKwW]*$"
)  # dates, times, counts like 1.2万: nothing a question names


@dataclass(frozen=True)
class ValueHit:
    table: str
    column: str
    value: str


def _declared_width(col: Column) -> int | None:
    match = re.search(r"\((\d+)\)", col.type)
    return int(match.group(1)) if match else None


def candidate_columns(catalog: Catalog) -> list[tuple[str, str]]:
    """Text columns that could hold categories; wide free-text columns are left out before any query."""
    found = []
    for table in catalog.tables:
        for col in table.columns:
            width = _declared_width(col)
            if col.type.startswith(TEXT_TYPES) and (width is None or width <= MAX_LONG_COLUMN_CHARS):
                found.append((table.name, col.name))
    return found


def sample_values(
    engine: Engine,
    catalog: Catalog,
    *,
    max_distinct: int = MAX_DISTINCT,
    progress: Callable[[str], None] | None = None,
) -> tuple[ColumnValues, ...]:
    """Read the distinct values of every low-cardinality text column (most frequent first)."""
    from sqlalchemy import column, func, select, table

    from askdb.db import translate_errors

    result = []
    with translate_errors(engine.url), engine.connect() as conn:
        for table_name, column_name in candidate_columns(catalog):
            if progress:
                progress(f"{table_name}.{column_name}")
            # Lightweight constructs, no reflection: the dialect quotes the names (`desc` is a keyword).
            col = table(table_name, column(column_name)).c[column_name]
            # One more than the limit tells "too many" apart from "exactly the limit" without a COUNT DISTINCT.
            query = (
                select(col)
                .where(col.is_not(None))
                .group_by(col)
                .order_by(func.count().desc())
                .limit(max_distinct + 1)
            )
            values = [str(v) for (v,) in conn.execute(query) if str(v).strip()]
            if values and len(values) <= max_distinct:
                kept = tuple(v for v in values if _nameable(v))
                if kept:
                    result.append(ColumnValues(table_name, column_name, kept))
    return tuple(result)


def _nameable(value: str) -> bool:
    return len(value) <= MAX_VALUE_CHARS and not _NOT_A_NAME.match(value)


class ValueMatcher:
    """Finds known values inside a question by exact (case-insensitive) substring, longest first."""

    def __init__(self, columns: Iterable[ColumnValues]) -> None:
        self._where: dict[str, list[tuple[str, str, str]]] = {}
        self._lengths: set[int] = set()
        for cv in columns:
            for value in cv.values:
                key = value.lower()
                # One-character values (a single 是/否) match everything and mean nothing.
                if len(key) < 2:
                    continue
                self._where.setdefault(key, []).append((cv.table, cv.column, value))
                self._lengths.add(len(key))

    def __len__(self) -> int:
        return len(self._where)

    def match(self, question: str) -> list[ValueHit]:
        """Values that occur in the question; a value inside a longer matched one is not reported."""
        text = question.lower()
        spans: list[tuple[int, int, str]] = []
        # Looking up every substring of the question is O(len * distinct lengths): independent of
        # how many values are known, which matters at thousands of accounts.
        for length in sorted(self._lengths, reverse=True):
            for start in range(len(text) - length + 1):
                key = text[start : start + length]
                if (
                    key in self._where
                    and not _inside(start, start + length, spans)
                    and _bounded(text, start, length)
                ):
                    spans.append((start, start + length, key))
        hits = []
        for _, _, key in spans:
            hits.extend(ValueHit(t, c, v) for t, c, v in self._where[key])
        return hits


def _inside(start: int, end: int, spans: list[tuple[int, int, str]]) -> bool:
    return any(s <= start and end <= e for s, e, _ in spans)


def _bounded(text: str, start: int, length: int) -> bool:
    # ASCII values must stand as words: "dy" inside "study" is not the platform prefix.
    end = start + length
    if not text[start].isascii() or not text[end - 1].isascii():
        return True
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())
