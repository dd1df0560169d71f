"""From rows to one regular series: parse the time and value columns, infer the period, settle
duplicate times, fill missing periods, and refuse what cannot be forecast honestly.

Every refusal is a ``ForecastError`` whose hint says what to change (a column, ``freq``, the SQL).
Missing periods are filled, never dropped: a tree model's lag 24 must be the same hour yesterday.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from askdb.errors import ForecastError

Duplicates = Literal["refuse", "sum", "mean"]
Fill = Literal["interpolate", "zero"]

# More missing periods than this and a filled series is mostly made up.
MAX_MISSING_SHARE = 0.25
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class Frequency:
    """One supported period: its code, its season (periods per cycle) and a second, longer cycle."""

    code: str
    label: str
    season: int
    long_season: int | None
    step: pd.Timedelta  # the typical spacing, for inference only (months and weeks vary or anchor)


FREQUENCIES: dict[str, Frequency] = {
    f.code: f
    for f in (
        Frequency("30min", "half-hourly", 48, 336, pd.Timedelta(minutes=30)),
        Frequency("H", "hourly", 24, 168, pd.Timedelta(hours=1)),
        Frequency("D", "daily", 7, None, pd.Timedelta(days=1)),
        Frequency("W", "weekly", 52, None, pd.Timedelta(days=7)),
        Frequency("M", "monthly", 12, None, pd.Timedelta(days=30.4)),
    )
}
_ALIASES = {"h": "H", "1h": "H", "d": "D", "w": "W", "m": "M", "ms": "M", "me": "M", "30t": "30min"}


@dataclass(frozen=True)
class Series:
    """A regular series ready to forecast, and what was done to the rows to get it.

    ``values`` has one float per period on a regular ``DatetimeIndex``; ``filled`` lists the
    periods that had no value and how they were filled; ``aggregated`` counts the rows merged
    into another row of the same period.
    """

    values: pd.Series
    freq: Frequency
    offset: str
    filled: tuple[pd.Timestamp, ...] = ()
    fill_method: str = "none"
    aggregated: int = 0

    @property
    def season(self) -> int:
        return self.freq.season

    def future_index(self, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` periods after the last one."""
        return pd.date_range(self.values.index[-1], periods=horizon + 1, freq=self.offset)[1:]


def frequency(code: str) -> Frequency:
    """The Frequency for a code such as ``H``, ``D``, ``W``, ``M`` or ``30min`` (case-insensitive)."""
    key = _ALIASES.get(code.strip().lower(), code.strip())
    if key not in FREQUENCIES:
        raise ForecastError(
            f"unknown frequency {code!r}",
            hint=f"use one of {', '.join(FREQUENCIES)} (or leave it out to infer)",
        )
    return FREQUENCIES[key]


def prepare_series(
    frame: pd.DataFrame,
    time_col: str,
    value_col: str,
    freq: str | None = None,
    *,
    duplicates: Duplicates = "refuse",
    fill: Fill = "interpolate",
) -> Series:
    """Check and regularise one series of ``frame``.

    Args:
        frame: rows with a time column and a numeric value column, in any order.
        time_col: the column of dates or times (dates, datetimes or text pandas can parse).
        value_col: the column to forecast; NULL values count as missing periods.
        freq: ``30min``, ``H``, ``D``, ``W`` or ``M``; inferred from the median spacing when None.
            Times are floored to the period, so ``freq="D"`` over hourly rows aggregates them
            (that needs ``duplicates="sum"`` or ``"mean"``).
        duplicates: what to do with several rows in one period: refuse (default), sum or mean.
        fill: missing periods get a linear interpolation of their neighbours (default) or zero
            (right for counts and sums, where SQL's GROUP BY leaves out the periods without rows).

    Raises:
        ForecastError: a missing column, unparseable times, non-numeric values, duplicates when
            refused, an irregular spacing, or more than a quarter of the periods missing.
    """
    times = _times(frame, time_col)
    values = _values(frame, value_col)
    code = frequency(freq) if freq else _infer(times, time_col)
    keys, offset = _period_keys(times, code)
    grouped, aggregated = _settle_duplicates(pd.Series(values.to_numpy(), index=keys), duplicates, time_col)
    regular = grouped.reindex(pd.date_range(grouped.index.min(), grouped.index.max(), freq=offset))
    regular = _trim(regular, value_col)
    missing = regular.index[regular.isna()]
    _check_missing(len(missing), len(regular), code, fill)
    if len(missing):
        regular = regular.fillna(0.0) if fill == "zero" else regular.interpolate(method="linear")
    regular.index.name = time_col
    regular.name = value_col
    method = ("zero" if fill == "zero" else "linear interpolation") if len(missing) else "none"
    return Series(regular.astype(float), code, offset, tuple(missing), method, aggregated)


def _times(frame: pd.DataFrame, time_col: str) -> pd.Series:
    if time_col not in frame.columns:
        raise ForecastError(
            f"no time column {time_col!r} in the rows",
            hint=f"name one of the columns: {', '.join(map(str, frame.columns)) or '(none)'}",
        )
    raw = frame[time_col]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        raise ForecastError(
            f"the time column {time_col!r} holds numbers ({raw.iloc[0] if len(raw) else ''}), not dates or times",
            hint="select a date or datetime column (e.g. DATE(stat_time)) as the time column",
        )
    try:
        times = pd.to_datetime(raw, errors="coerce", format="mixed")
    except (TypeError, ValueError):
        times = pd.Series(pd.NaT, index=raw.index)
    bad = times.isna() & raw.notna()
    if bad.any() or times.isna().all():
        example = raw[bad].iloc[0] if bad.any() else None
        raise ForecastError(
            f"the time column {time_col!r} has values that are not dates or times (e.g. {example!r})",
            hint="select a DATE or DATETIME column, or text like 2025-03-01 / 2025-03-01 10:00",
        )
    if times.isna().any():
        raise ForecastError(
            f"the time column {time_col!r} has NULL times", hint="filter them out (WHERE time IS NOT NULL)"
        )
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_localize(None)
    return times.reset_index(drop=True)


def _values(frame: pd.DataFrame, value_col: str) -> pd.Series:
    if value_col not in frame.columns:
        raise ForecastError(
            f"no value column {value_col!r} in the rows",
            hint=f"name one of the columns: {', '.join(map(str, frame.columns)) or '(none)'}",
        )
    raw = frame[value_col]
    numbers = pd.to_numeric(raw.map(_plain), errors="coerce")
    bad = numbers.isna() & raw.notna()
    if bad.any():
        raise ForecastError(
            f"the value column {value_col!r} has {int(bad.sum())} non-numeric values (e.g. {raw[bad].iloc[0]!r})",
            hint="forecast a numeric column, or CAST it in the SQL",
        )
    if np.isinf(numbers.to_numpy(dtype=float)).any():
        raise ForecastError(f"the value column {value_col!r} has infinite values", hint="filter them out")
    return numbers.astype(float).reset_index(drop=True)


def _plain(value: object) -> object:
    # Decimal (MySQL's DECIMAL) and numpy scalars become floats; text stays text for the check above.
    if isinstance(value, bool) or value is None:
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def _infer(times: pd.Series, time_col: str) -> Frequency:
    steps = times.drop_duplicates().sort_values().diff().dropna()
    if steps.empty:
        raise ForecastError(
            f"the time column {time_col!r} has only one distinct time",
            hint="a forecast needs a history: query a range of periods",
        )
    median = steps.median()
    for code in FREQUENCIES.values():
        if abs(median - code.step) <= code.step * 0.15:
            return code
    raise ForecastError(
        f"cannot tell the period of {time_col!r}: its times are {median} apart (median)",
        hint=f"pass freq ({', '.join(FREQUENCIES)}); rows finer than that are aggregated with duplicates='sum'|'mean'",
    )


def _period_keys(times: pd.Series, freq: Frequency) -> tuple[pd.DatetimeIndex, str]:
    """Each time's period start, and the pandas offset that steps from one period to the next."""
    if freq.code in ("30min", "H"):
        offset = "30min" if freq.code == "30min" else "h"
        return pd.DatetimeIndex(times.dt.floor(offset)), offset
    days = times.dt.floor("D")
    if freq.code == "D":
        return pd.DatetimeIndex(days), "D"
    if freq.code == "W":
        # Anchor on the weekday most rows fall on, so weeks keep the dates the database gave.
        anchor = int(days.dt.day_of_week.mode().iloc[0])
        back = pd.to_timedelta((days.dt.day_of_week - anchor) % 7, unit="D")
        return pd.DatetimeIndex(days - back), f"W-{_WEEKDAYS[anchor]}"
    return pd.DatetimeIndex(times.dt.to_period("M").dt.to_timestamp()), "MS"


def _settle_duplicates(values: pd.Series, duplicates: Duplicates, time_col: str) -> tuple[pd.Series, int]:
    counts = values.index.value_counts()
    repeated = counts[counts > 1]
    if repeated.empty:
        return values.sort_index(), 0
    if duplicates == "refuse":
        raise ForecastError(
            f"{int(repeated.sum())} rows share {len(repeated)} periods of {time_col!r} (e.g. {repeated.index[0]})",
            hint="GROUP BY the time in the SQL, or aggregate them with duplicates='sum' or 'mean' (--duplicates)",
        )
    grouped = values.groupby(level=0)
    merged = grouped.sum(min_count=1) if duplicates == "sum" else grouped.mean()
    return merged.sort_index(), int(repeated.sum() - len(repeated))


def _trim(regular: pd.Series, value_col: str) -> pd.Series:
    """Drop NULL values at either end: the history runs from the first to the last real value."""
    known = regular.notna().to_numpy()
    if not known.any():
        raise ForecastError(f"the value column {value_col!r} is NULL in every row", hint="check the query")
    first, last = int(np.argmax(known)), len(known) - int(np.argmax(known[::-1]))
    return regular.iloc[first:last]


def _check_missing(missing: int, total: int, freq: Frequency, fill: Fill) -> None:
    # Zero is a statement about the data (no orders that day), not a guess: any share of it is honest.
    if fill != "zero" and missing > MAX_MISSING_SHARE * total:
        coarser = {"30min": "H", "H": "D", "D": "W", "W": "M"}.get(freq.code)
        also = f" or a coarser period (freq={coarser!r})" if coarser else ""
        zero = "; if a missing period means none happened, fill='zero' (--fill zero)"
        raise ForecastError(
            f"{missing} of {total} {freq.label} periods ({missing / total:.0%}) have no value; more than "
            f"{MAX_MISSING_SHARE:.0%} cannot be filled honestly",
            hint=f"query a range without the holes{also}{zero}",
        )


def guess_columns(
    frame: pd.DataFrame, time_col: str | None = None, value_col: str | None = None
) -> tuple[str, str]:
    """The time and value columns: the ones named, else the first datetime-like and the first numeric."""
    names = [str(c) for c in frame.columns]
    time_col = time_col or next((c for c in names if _looks_like_time(frame[c])), None)
    if time_col is None:
        raise ForecastError(
            f"no column of dates or times in the rows (columns: {', '.join(names) or 'none'})",
            hint="select a date or datetime column, or name it (--time-col)",
        )
    value_col = value_col or next((c for c in names if c != time_col and _looks_numeric(frame[c])), None)
    if value_col is None:
        raise ForecastError(
            f"no numeric column besides {time_col!r} in the rows (columns: {', '.join(names)})",
            hint="select the number to forecast (e.g. SUM(cost) AS cost), or name it (--value-col)",
        )
    return time_col, value_col


def _looks_like_time(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    sample = column.dropna().head(50)
    if sample.empty or not all(isinstance(v, str) or hasattr(v, "year") for v in sample):
        return False
    parsed = pd.to_datetime(sample.astype(str), errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def _looks_numeric(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    sample = column.dropna().head(50)
    return not sample.empty and bool(pd.to_numeric(sample.map(_plain), errors="coerce").notna().all())
