"""From rows to an answer: the markdown table, a chart spec drawn from the data, the analyst's messages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp
from tabulate import tabulate

from askdb.frames import is_missing, number_text
from askdb.llm.base import Message
from askdb.prompts import messages
from askdb.rag.dates import DateRange, ranges_missed

EMPTY_RESULT = "没有查询到相关数据"
ANALYST_MAX_ROWS = 50  # rows shown to the analyst model; the table in the answer has them all


def markdown_table(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """The result as a GitHub markdown table (tabulate): headers by ``labels`` (column comments) where
    given, numbers as a person reads them (``number_text``), NULL as an empty cell."""
    if frame.empty:
        return ""
    labels = labels or {}
    # Straight to tabulate from plain lists: DataFrame.to_markdown costs twice as much in copies.
    columns = []
    for i in range(frame.shape[1]):
        series, name = frame.iloc[:, i], str(frame.columns[i])
        values = series.to_numpy(dtype=object).tolist()
        text = _identifier_text if _is_identifier(name, labels.get(name, "")) else number_text
        # NULL is an empty cell, whatever pandas made of it (None, NaN in a text column, NA, NaT)
        columns.append(["" if is_missing(v) else text(v) if _is_numeric(v) else v for v in values])
    # disable_numparse: keep the texts above (tabulate would turn 2026000.0 back into 2.026e+06)
    headers = [labels.get(str(c), str(c)) for c in frame.columns]
    return tabulate(list(zip(*columns)), headers=headers, tablefmt="github", disable_numparse=True)


# ids, years, hours: digits that are names, not amounts (no separators, no 万)
_IDENTIFIER = re.compile(r"(^|_)(id|year|month|day|hour|week|yearweek)$|ID$|编号$|年$|月$|日$", re.IGNORECASE)


def _is_identifier(name: str, label: str) -> bool:
    return bool(_IDENTIFIER.search(name) or _IDENTIFIER.search(label))


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal, np.integer, np.floating)) and not isinstance(value, bool)


def _identifier_text(value: Any) -> str:
    return f"{value:.0f}" if float(value).is_integer() else str(value)


def empty_result_text(tree: exp.Expr | None, ranges: Iterable[DateRange], today: date) -> str:
    """What an empty result says: 没有查询到相关数据, and, when the statement's WHERE keeps days outside
    a time column's data, which days that data covers (the question asked for a period it lacks)."""
    missed = ranges_missed(tree, ranges, today) if tree is not None else []
    if not missed:
        return EMPTY_RESULT
    return f"{EMPTY_RESULT}。" + "；".join(r.describe() for r in missed) + "。"


def analyst_messages(
    question: str,
    sql: str,
    frame: pd.DataFrame,
    *,
    truncated: bool,
    system_in_user: bool = False,
    table: str | None = None,
    forecast: str = "",
) -> list[Message]:
    """The data-analyst prompt for one result; ``table`` is ``markdown_table(frame)`` when already made,
    ``forecast`` the forecast section of the answer (table, method, backtest) when it has one."""
    if table is None or len(frame) > ANALYST_MAX_ROWS:
        table = markdown_table(frame.head(ANALYST_MAX_ROWS))
    if forecast:
        table = f"{table}\n\n{forecast}"
    return messages(
        "analyst",
        system_in_user=system_in_user,
        question=question,
        sql=sql,
        row_count=len(frame),
        truncated=truncated or len(frame) > ANALYST_MAX_ROWS,
        table=table,
    )


def chart_spec(frame: pd.DataFrame, *, ordered: bool = False) -> dict[str, Any] | None:
    """A chart when the result suits one: a date with a number -> line; a category with a number -> bar.

    The spec names columns of the result; nothing the model wrote is run to draw it. ``ordered``:
    the SQL sorted the rows (ORDER BY), so a bar chart keeps their order (``"order": "rows"``)
    instead of the plot's sort by label: "点赞最多的10篇笔记" draws the biggest bar first. A line
    chart runs in time order either way.
    """
    if len(frame) < 2 or frame.shape[1] < 2:
        return None
    numeric = [c for c in frame.columns if _is_number(frame[c])]
    others = [c for c in frame.columns if c not in numeric]
    if not numeric:
        return None
    y = numeric[-1]
    if others:
        x = others[0]
        kind = "line" if _is_date(frame[x]) else "bar"
    elif len(numeric) >= 2:
        x, kind = numeric[0], "bar"
    else:
        return None
    if x == y:
        return None
    spec = {"type": kind, "x": str(x), "y": str(y)}
    if ordered and kind == "bar":
        spec["order"] = "rows"
    return spec


def _is_number(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    # MySQL returns DECIMAL as decimal.Decimal objects in an object column.
    sample = _sample(series)
    return bool(sample) and all(isinstance(v, (int, float)) or type(v).__name__ == "Decimal" for v in sample)


_DATE_START = re.compile(r"^\d{4}-\d{2}(-\d{2})?")


def _is_date(series: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    sample = [str(v) for v in _sample(series)]
    if not sample or not all(_DATE_START.match(v) for v in sample):
        return False
    return bool(
        pd.to_datetime(pd.Series([v[:10] for v in sample]), errors="coerce", format="mixed").notna().all()
    )


def _sample(series: pd.Series, n: int = 20) -> list[Any]:
    """Up to ``n`` non-null values from the top: enough to tell a column's kind, cheap on 1,000 rows."""
    found = []
    for value in series.iloc[: n * 5]:
        if value is not None and not (pd.api.types.is_scalar(value) and pd.isna(value)):
            found.append(value)
            if len(found) == n:
                break
    return found
