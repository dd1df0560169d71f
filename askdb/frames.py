"""Result frames as people and JSON read them: NULL is an empty cell in a table and null in JSON."""

from __future__ import annotations

from typing import Any

import pandas as pd


def is_missing(value: Any) -> bool:
    """Whether a cell is NULL as pandas keeps it: None, NaN, pd.NA or NaT (never raises on a list)."""
    try:
        return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def plain_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The rows as JSON carries them: NULL is None, never NaN (which is not JSON).

    pandas gives a column of integers with a NULL in it as floats (170732.0); when every value of such a
    float column is whole, the values go out as the integers the database returned.
    """
    columns = []
    for i in range(frame.shape[1]):
        series = frame.iloc[:, i]
        values = series.to_numpy(dtype=object).tolist()
        whole = pd.api.types.is_float_dtype(series) and all(
            is_missing(v) or float(v).is_integer() for v in values
        )
        columns.append([None if is_missing(v) else int(v) if whole else v for v in values])
    return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(len(frame))]


def number_text(value: Any) -> str:
    """One rule for every engine (SQLite's float, MariaDB's Decimal): 1.2345 -> 1.23, 0.01234 -> 0.0123,
    12345 -> 12,345, 1234567 -> 123.46万, 123456789 -> 1.23亿; never an exponent."""
    number = float(value)
    size = abs(number)
    if size >= 1e8:
        return f"{number / 1e8:,.2f}亿"
    if size >= 1e5:
        return f"{number / 1e4:,.2f}万"
    if number.is_integer():
        return f"{number:,.0f}" if size >= 1e4 else f"{number:.0f}"
    if size >= 1:
        return f"{number:,.2f}" if size >= 1e4 else f"{number:.2f}"
    return f"{number:.4g}"
