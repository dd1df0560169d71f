"""MySQL-compatible functions for SQLite connections, under their MySQL names.

Each takes and returns what MySQL would: text dates in, ``YYYY-MM-DD[ HH:MM:SS]`` text out, NULL for
NULL or an unreadable date (MySQL returns NULL with a warning). Registered on every connection of
a SQLite runner through SQLAlchemy's ``connect`` event.
"""

from __future__ import annotations

import calendar
import math
import sqlite3
import statistics
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")
_DAY_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
# MySQL DATE_FORMAT specifier -> how to render it from a datetime.
_SPECIFIERS: dict[str, Callable[[datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "m": lambda d: f"{d.month:02d}",
    "c": lambda d: str(d.month),
    "d": lambda d: f"{d.day:02d}",
    "e": lambda d: str(d.day),
    "H": lambda d: f"{d.hour:02d}",
    "k": lambda d: str(d.hour),
    "h": lambda d: f"{(d.hour % 12) or 12:02d}",
    "I": lambda d: f"{(d.hour % 12) or 12:02d}",
    "l": lambda d: str((d.hour % 12) or 12),
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
    "S": lambda d: f"{d.second:02d}",
    "f": lambda d: f"{d.microsecond:06d}",
    "p": lambda d: "AM" if d.hour < 12 else "PM",
    "M": lambda d: calendar.month_name[d.month],
    "b": lambda d: calendar.month_abbr[d.month],
    "W": lambda d: calendar.day_name[d.weekday()],
    "a": lambda d: calendar.day_abbr[d.weekday()],
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "w": lambda d: str((d.weekday() + 1) % 7),
    "T": lambda d: d.strftime("%H:%M:%S"),
    "r": lambda d: d.strftime("%I:%M:%S %p"),
    "u": lambda d: f"{_week(d, 1):02d}",
    "U": lambda d: f"{_week(d, 0):02d}",
    "%": lambda d: "%",
}


def to_datetime(value: Any) -> datetime | None:
    """A MySQL date or datetime literal as a datetime, or None (MySQL's NULL) if it is not one."""
    if value is None:
        return None
    text = str(value).strip()
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
    except ValueError:
        return None


def _has_time(value: Any) -> bool:
    return len(str(value).strip()) > 10


def _text(moment: datetime, with_time: bool) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if with_time else moment.strftime("%Y-%m-%d")


def _part(fn: Callable[..., object]) -> Callable[..., object]:
    """A function of a datetime as a SQL function of a date text: NULL for NULL or an unreadable date."""

    def wrapped(value: Any, *rest: Any) -> object:
        moment = to_datetime(value)
        return None if moment is None else fn(moment, *rest)

    return wrapped


def _week(moment: datetime, mode: int = 0) -> int:
    """MySQL WEEK() for modes 0 (the default: Sunday first, 0-53), 1 (Monday first, 0-53) and 3 (ISO)."""
    if mode == 3:
        return moment.isocalendar()[1]
    if mode == 1:
        # Week 1 is the first week with 4 or more days this year; days before it are week 0.
        iso_year, iso_week, _ = moment.isocalendar()
        if iso_year < moment.year:
            return 0
        return iso_week if iso_year == moment.year else _weeks_in_year_mode1(moment)
    return int(moment.strftime("%U"))


def _weeks_in_year_mode1(moment: datetime) -> int:
    # Late December days that ISO puts in next year's week 1 stay in this year's last week for mode 1.
    return (moment - timedelta(days=7)).isocalendar()[1] + 1


def date_format(value: Any, fmt: str | None) -> str | None:
    """MySQL DATE_FORMAT: every specifier MySQL documents that has a fixed meaning."""
    moment = to_datetime(value)
    if moment is None or fmt is None:
        return None
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            out.append(_SPECIFIERS[spec](moment) if spec in _SPECIFIERS else spec)
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def str_to_date(value: Any, fmt: str | None) -> str | None:
    """MySQL STR_TO_DATE for the common numeric specifiers; DATE or DATETIME text as MySQL returns."""
    if value is None or fmt is None:
        return None
    python_fmt = fmt.replace("%i", "%M").replace("%s", "%S").replace("%T", "%H:%M:%S").replace("%e", "%d")
    try:
        moment = datetime.strptime(str(value), python_fmt)
    except ValueError:
        return None
    return _text(moment, any(s in fmt for s in ("%H", "%i", "%s", "%S", "%T", "%h")))


def date_add(value: Any, amount: Any, unit: str) -> str | None:
    """DATE_ADD/DATE_SUB with MySQL's month arithmetic (Jan 31 + 1 MONTH = Feb 28/29)."""
    moment = to_datetime(value)
    if moment is None or amount is None:
        return None
    number = float(amount)
    unit = unit.upper()
    if unit in {"MONTH", "QUARTER", "YEAR"}:
        months = int(number) * {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit]
        shifted = _add_months(moment, months)
    else:
        seconds = {"WEEK": 604800, "DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}.get(unit)
        if seconds is None:
            return None
        shifted = moment + timedelta(seconds=number * seconds)
    return _text(shifted, _has_time(value) or unit not in _DAY_UNITS)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def datediff(a: Any, b: Any) -> int | None:
    """Days between the date parts, as MySQL counts them (times of day are ignored)."""
    x, y = to_datetime(a), to_datetime(b)
    return None if x is None or y is None else (x.date() - y.date()).days


def timestampdiff(unit: str, start: Any, end: Any) -> int | None:
    """Whole units from start to end, truncated towards zero like MySQL."""
    x, y = to_datetime(start), to_datetime(end)
    if x is None or y is None:
        return None
    unit = unit.upper()
    if unit in {"MONTH", "QUARTER", "YEAR"}:
        months = (y.year - x.year) * 12 + (y.month - x.month)
        if months > 0 and (y.day, y.time()) < (x.day, x.time()):
            months -= 1
        elif months < 0 and (y.day, y.time()) > (x.day, x.time()):
            months += 1
        return int(months / {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit])
    seconds = (y - x).total_seconds()
    size = {"WEEK": 604800, "DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}.get(unit)
    return None if size is None else int(seconds / size)


def substring_index(text: Any, delimiter: Any, count: Any) -> str | None:
    if text is None or delimiter is None or count is None:
        return None
    whole, sep, n = str(text), str(delimiter), int(count)
    if n == 0 or not sep:
        return ""
    parts = whole.split(sep)
    return sep.join(parts[:n]) if n > 0 else sep.join(parts[n:])


def concat(*args: Any) -> str | None:
    """MySQL CONCAT: NULL if any argument is NULL (SQLite's || would do the same, but not for numbers)."""
    return None if any(a is None for a in args) else "".join(_as_text(a) for a in args)


def concat_ws(separator: Any, *args: Any) -> str | None:
    """MySQL CONCAT_WS: NULL separator gives NULL; NULL arguments are skipped."""
    return None if separator is None else str(separator).join(_as_text(a) for a in args if a is not None)


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def truncate(value: Any, places: Any = 0) -> float | int | None:
    if value is None or places is None:
        return None
    factor = 10.0 ** int(places)
    return math.trunc(float(value) * factor) / factor


def _left(text: Any, n: Any) -> str | None:
    return None if text is None or n is None else str(text)[: max(int(n), 0)]


def _right(text: Any, n: Any) -> str | None:
    return None if text is None or n is None else (str(text)[-int(n) :] if int(n) > 0 else "")


def _mod(a: Any, b: Any) -> float | int | None:
    # MySQL: NULL for a zero divisor, the sign of the dividend, decimals kept (SQLite's % truncates to integers).
    if a is None or b is None or float(b) == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b))
    return math.fmod(float(a), float(b))


def _octet_length(text: Any) -> int | None:
    return None if text is None else len(_as_text(text).encode("utf-8"))


def _char_length(text: Any) -> int | None:
    return None if text is None else len(_as_text(text))


def _last_day(moment: datetime) -> str:
    return moment.replace(day=calendar.monthrange(moment.year, moment.month)[1]).strftime("%Y-%m-%d")


def _from_unixtime(seconds: Any) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(float(seconds)).strftime("%Y-%m-%d %H:%M:%S")


class _Deviation:
    """STDDEV/VARIANCE aggregates; ``sample`` and ``root`` pick which of the four."""

    sample = False
    root = True

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: Any) -> None:
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        if len(self.values) < (2 if self.sample else 1):
            return None
        var = statistics.variance(self.values) if self.sample else statistics.pvariance(self.values)
        return math.sqrt(var) if self.root else var


def _deviation(sample: bool, root: bool) -> type:
    return type("Deviation", (_Deviation,), {"sample": sample, "root": root})


SCALARS: dict[str, tuple[int, Any, bool]] = {  # name: (arity, function, deterministic)
    "YEAR": (1, _part(lambda d: d.year), True),
    "MONTH": (1, _part(lambda d: d.month), True),
    "DAY": (1, _part(lambda d: d.day), True),
    "HOUR": (1, _part(lambda d: d.hour), True),
    "MINUTE": (1, _part(lambda d: d.minute), True),
    "SECOND": (1, _part(lambda d: d.second), True),
    "QUARTER": (1, _part(lambda d: (d.month - 1) // 3 + 1), True),
    "DAYOFWEEK": (1, _part(lambda d: (d.weekday() + 1) % 7 + 1), True),
    "WEEKDAY": (1, _part(lambda d: d.weekday()), True),
    "DAYOFYEAR": (1, _part(lambda d: d.timetuple().tm_yday), True),
    "WEEKOFYEAR": (1, _part(lambda d: d.isocalendar()[1]), True),
    "DAYNAME": (1, _part(lambda d: calendar.day_name[d.weekday()]), True),
    "LAST_DAY": (1, _part(_last_day), True),
    "WEEK": (-1, _part(lambda d, mode=0: _week(d, int(mode))), True),
    "DATE_FORMAT": (2, date_format, True),
    "STR_TO_DATE": (2, str_to_date, True),
    "DATE_ADD": (3, date_add, True),
    "DATEDIFF": (2, datediff, True),
    "TIMESTAMPDIFF": (3, timestampdiff, True),
    "SUBSTRING_INDEX": (3, substring_index, True),
    "MYSQL_LEFT": (2, _left, True),
    "MYSQL_RIGHT": (2, _right, True),
    "MOD": (2, _mod, True),
    "CONCAT": (-1, concat, True),
    "CONCAT_WS": (-1, concat_ws, True),
    "TRUNCATE": (2, truncate, True),
    "OCTET_LENGTH": (1, _octet_length, True),
    "CHAR_LENGTH": (1, _char_length, True),
    "FROM_UNIXTIME": (1, _from_unixtime, True),
    # The clock functions use the local time zone, as MySQL's session default does (SQLite's are UTC).
    "NOW": (0, lambda: datetime.now().strftime("%Y-%m-%d %H:%M:%S"), False),
    "CURDATE": (0, lambda: date.today().isoformat(), False),
    "CURTIME": (0, lambda: datetime.now().strftime("%H:%M:%S"), False),
}

AGGREGATES: dict[str, type] = {
    "STDDEV_POP": _deviation(sample=False, root=True),
    "STDDEV_SAMP": _deviation(sample=True, root=True),
    "VAR_POP": _deviation(sample=False, root=False),
    "VAR_SAMP": _deviation(sample=True, root=False),
}


def register_mysql_functions(connection: sqlite3.Connection, _record: Any = None) -> None:
    """Install the MySQL-compatible functions on one SQLite connection (a SQLAlchemy ``connect`` hook)."""
    for name, (arity, function, deterministic) in SCALARS.items():
        connection.create_function(name, arity, function, deterministic=deterministic)
    for name, aggregate in AGGREGATES.items():
        connection.create_aggregate(name, 1, aggregate)
