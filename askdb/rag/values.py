"""Distinct values of low-cardinality text columns, and finding them inside a question.

A question that names 美妆, 上海 or an account says which column to filter on even when it names no
column; only the live database knows those values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from askdb.rag.dates import as_day, time_columns
from askdb.rag.documents import ColumnValues
from askdb.rag.text import STOPWORDS, has_cjk
from askdb.schemas.catalog import Catalog, Column

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from askdb.rag.synonyms import Synonyms

TEXT_TYPES = ("varchar", "char", "text", "enum", "tinytext", "mediumtext", "nvarchar")
MAX_DISTINCT = 3000  # accounts run to a few thousand; past that a column is free text, not a category
MAX_VALUE_CHARS = 40  # longer values are sentences (note text, titles) that no question repeats verbatim
MAX_LONG_COLUMN_CHARS = (
    255  # wider declared columns are free text (varchar(500) `desc`); 255 is the usual name width
)
_NOT_A_NAME = re.compile(
    r"^[\d\s.:/\-+%万亿kKwW]*$"
)  # dates, times, counts like 1.2万: nothing a question names
ABBREVIATION_SHARE = 0.6  # 红书 is 2 of 小红书's 3 characters; 达人 is not 美妆达人小王
MAX_INITIALS_CHARS = 12  # initials of a long name are no abbreviation anyone types


@dataclass(frozen=True)
class ValueHit:
    table: str
    column: str
    value: str
    # How much the match says about which table is meant, in (0, 1]: the value's rarity across the
    # tables that hold values (IDF), lowered when it is also a word of the schema's names (电影, 城市)
    # or only part of one of the question's words.
    score: float = 1.0


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
    """Read the distinct values of every low-cardinality text column (most frequent first), and the
    first and last day of every time column, in one pass over one connection."""
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
                kept = tuple(v for v in values if nameable(v))
                if kept:
                    result.append(ColumnValues(table_name, column_name, kept))
        for table_name, columns in time_columns(catalog):
            if progress:
                progress(f"{table_name}: {', '.join(columns)}")
            result.extend(_date_ranges(conn, table_name, columns))
    return tuple(result)


def _date_ranges(conn: Connection, table_name: str, columns: tuple[str, ...]) -> list[ColumnValues]:
    """First and last day of each time column of one table: one MIN/MAX scan of the table for all."""
    from sqlalchemy import column, func, select, table

    cols = table(table_name, *(column(c) for c in columns)).c
    row = conn.execute(select(*(f(cols[c]) for c in columns for f in (func.min, func.max)))).one()
    found = []
    for i, name in enumerate(columns):
        first, last = as_day(row[2 * i]), as_day(row[2 * i + 1])
        if first is not None and last is not None:
            found.append(ColumnValues(table_name, name, (), (first, last)))
    return found


def nameable(value: str) -> bool:
    """A value a question could name: short, and not a date, time or count."""
    return len(value) <= MAX_VALUE_CHARS and not _NOT_A_NAME.match(value)


class ValueMatcher:
    """Finds known values inside a question, the way people type them.

    A value matches as written (case-insensitive), in traditional characters (小紅書: both sides go
    through OpenCC's t2s), as an abbreviation (红书: a run of at least 60% of an all-Chinese value's
    characters) or as its pinyin initials (xhs). Abbreviations and initials count only when they
    name exactly one value and are no word of the schema itself (``reserved``): 结束 is the
    comment of ``end_date`` before it is a piece of 已结束. A value found inside a longer match is
    not reported.
    """

    def __init__(
        self,
        columns: Iterable[ColumnValues],
        *,
        reserved: Iterable[str] = (),
        synonyms: Synonyms | None = None,
    ) -> None:
        columns = tuple(columns)
        self._where: dict[str, list[tuple[str, str, str]]] = {}
        for cv in columns:
            for value in cv.values:
                key = fold(value)
                # One-character values (a single 是/否) match everything and mean nothing; nor do
                # values that are words every question uses (所有, 全部).
                if len(key) < 2 or key in STOPWORDS:
                    continue
                self._where.setdefault(key, []).append((cv.table, cv.column, value))
        self._reserved = {fold(w) for w in reserved}
        self._tables = len({cv.table for cv in columns if cv.values})
        self._holders = {key: len({table for table, _, _ in where}) for key, where in self._where.items()}
        taken = set(self._where) | self._reserved
        named: dict[str, set[str]] = {}
        for key in self._where:
            for alias in _aliases(key) | set(synonyms.peers(key) if synonyms else ()):
                named.setdefault(alias, set()).add(key)
        # An alias naming two values (or a value, or a schema word) would be a guess: it names none.
        self._alias = {a: next(iter(keys)) for a, keys in named.items() if len(keys) == 1 and a not in taken}
        # The distinct key lengths, longest first, that every question is scanned for: computed once, as
        # collecting them from tens of thousands of keys took longer than the scan itself.
        self._where_lengths = _lengths(self._where)
        self._alias_lengths = _lengths(self._alias)

    def __len__(self) -> int:
        return len(self._where)

    def match(self, question: str) -> list[ValueHit]:
        """Values that occur in the question; a value inside a longer matched one is not reported."""
        text = fold(question)
        spans = _spans(text, self._where, self._where_lengths, [], _inside)
        spans = _spans(text, self._alias, self._alias_lengths, spans, _overlaps)
        words = _word_spans(text) if spans else []
        hits: list[ValueHit] = []
        for start, end, key in spans:
            value = self._alias.get(key, key)
            score = self.specificity(value)
            if key in self._reserved:
                score *= SCHEMA_WORD_SHARE
            if any(s <= start and end <= e and (s, e) != (start, end) for s, e in words):
                score *= PART_OF_WORD_SHARE
            hits.extend(ValueHit(t, c, v, round(score, 4)) for t, c, v in self._where[value])
        return hits

    def specificity(self, key: str) -> float:
        """IDF of a value over the tables holding values, scaled to (0, 1]: 1 for a value only one
        table holds, less the more tables hold it (北京 in a dozen databases says little)."""
        holders = self._holders.get(key) or 1
        if self._tables <= 1:
            return 1.0
        return max(math.log((1 + self._tables) / holders) / math.log(1 + self._tables), 0.05)


def fold(text: str) -> str:
    """What matching compares: simplified characters, lower case."""
    return str(_t2s().convert(text)).lower()


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def _aliases(key: str) -> set[str]:
    """Abbreviations (runs of at least 60% of an all-Chinese value) and pinyin initials of a value."""
    found: set[str] = set()
    if len(key) >= 3 and all(has_cjk(ch) for ch in key):
        shortest = max(2, math.ceil(len(key) * ABBREVIATION_SHARE))
        for size in range(shortest, len(key)):
            found.update(key[i : i + size] for i in range(len(key) - size + 1))
    if has_cjk(key) and len(key) <= MAX_INITIALS_CHARS:
        from pypinyin import Style, lazy_pinyin

        initials = "".join(lazy_pinyin(key, style=Style.FIRST_LETTER)).lower()
        if len(initials) >= 2 and initials.isascii() and initials.isalnum():
            found.add(initials)
    return found


Spans = list[tuple[int, int, str]]

# A value that is also a word of the schema's names (a 类型 value 电影 beside tables named 电影) or that is
# only part of one of the question's words (奥运会 inside 冬季奥运会) counts this much of its rarity.
SCHEMA_WORD_SHARE = 0.25
PART_OF_WORD_SHARE = 0.5


def _word_spans(text: str) -> list[tuple[int, int]]:
    """Where jieba's words of ``text`` start and end. A value strictly inside one of them is part of
    a longer word; one that jieba cuts in pieces is merely a word jieba does not know (小红书)."""
    from askdb.rag.text import words

    spans, at = [], 0
    for word in words(text):
        spans.append((at, at + len(word)))
        at += len(word)
    return spans


def _lengths(keys: Mapping[str, object]) -> tuple[int, ...]:
    """The distinct lengths of ``keys``, longest first."""
    return tuple(sorted({len(k) for k in keys}, reverse=True))


def _spans(
    text: str,
    keys: Mapping[str, object],
    lengths: Sequence[int],
    spans: Spans,
    blocked: Callable[[int, int, Spans], bool],
) -> Spans:
    """``spans`` and every key of ``keys`` (whose distinct ``lengths``, longest first, are given) found
    in ``text`` where ``blocked`` allows."""
    spans = list(spans)
    # Looking up every substring of the question is O(len * distinct lengths): independent of
    # how many values are known, which matters at thousands of accounts.
    for length in lengths:
        for start in range(len(text) - length + 1):
            key = text[start : start + length]
            if key in keys and not blocked(start, start + length, spans) and _bounded(text, start, length):
                spans.append((start, start + length, key))
    return spans


def _inside(start: int, end: int, spans: Spans) -> bool:
    return any(s <= start and end <= e for s, e, _ in spans)


def _overlaps(start: int, end: int, spans: Spans) -> bool:
    return any(start < e and s < end for s, e, _ in spans)


def _bounded(text: str, start: int, length: int) -> bool:
    # ASCII values must stand as words: "dy" inside "study" is not the platform prefix.
    end = start + length
    if not text[start].isascii() or not text[end - 1].isascii():
        return True
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())
