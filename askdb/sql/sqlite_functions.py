"""MySQL-compatible functions for SQLite connections, under their MySQL names.

Each takes and returns what MySQL would: text dates in, ``YYYY-MM-DD[ HH:MM:SS]`` text out, NULL for
NULL or an unreadable argument (MySQL returns NULL with a warning). Registered on every connection
of a SQLite runner through SQLAlchemy's ``connect`` event. ``dialect.sqlite_tree`` rewrites a
guard-accepted MySQL tree into calls of these; ``tests/test_function_parity.py`` holds every
allow-listed function to the same result as MariaDB.

Where MySQL's answer depends on the collation, these follow the case-insensitive default
(``utf8mb4_general_ci``): ``STRCMP('a', 'A')`` is 0 and ``LOCATE``, ``FIELD``, ``FIND_IN_SET`` and
the ``REGEXP`` family ignore case, as they do on a MariaDB database created with askdb's defaults.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import hashlib
import json
import math
import random
import re
import sqlite3
import statistics
import time as clock
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")
_DAY_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
_MAX_TIME = timedelta(hours=838, minutes=59, seconds=59)  # MySQL's TIME range is +-838:59:59
_UINT64 = 1 << 64

# -- reading and writing dates and times --------------------------------------------------------


def to_datetime(value: Any) -> datetime | None:
    """A MySQL date or datetime literal as a datetime, or None (MySQL's NULL) if it is not one."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number_to_datetime(value)
    text = _as_text(value).strip()
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
    except ValueError:
        return None


def _number_to_datetime(value: float) -> datetime | None:
    # MySQL reads 20240305 as a date and 20240305101112 as a datetime.
    digits = str(int(value))
    for fmt, size in (("%Y%m%d", 8), ("%Y%m%d%H%M%S", 14)):
        if len(digits) == size:
            try:
                return datetime.strptime(digits, fmt)
            except ValueError:
                return None
    return None


_TIME_RE = re.compile(r"^\s*(-)?\s*(?:(\d+)\s+)?(\d+):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?\s*$")
_HHMMSS_RE = re.compile(r"^\s*(-)?(\d+)(?:\.(\d{1,6})\d*)?")


def to_time(value: Any) -> timedelta | None:
    """A MySQL TIME value ('10:11:12', '-2 03:00:00', '838:59:59', 101112) as a timedelta.

    A date or datetime gives its time of day, as MySQL converts a DATE or DATETIME column.
    """
    if value is None:
        return None
    text = _as_text(value)
    found = _TIME_RE.match(text)
    if found:
        sign, days, hours, minutes, seconds, fraction = found.groups()
        span = timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds or 0),
            microseconds=int((fraction or "0").ljust(6, "0")),
        )
        return -span if sign else span
    moment = to_datetime(value)
    if moment is not None and not isinstance(value, (int, float)):
        return moment - datetime.combine(moment.date(), datetime.min.time())
    found = _HHMMSS_RE.match(text)
    if not found:
        return None
    sign, digits, fraction = found.groups()
    number = int(digits)
    span = timedelta(
        hours=number // 10000,
        minutes=number // 100 % 100,
        seconds=number % 100,
        microseconds=int((fraction or "0").ljust(6, "0")),
    )
    return -span if sign else span


def _is_datetime(value: Any) -> bool:
    return value is not None and not _TIME_RE.match(_as_text(value)) and to_datetime(value) is not None


def _has_time(value: Any) -> bool:
    return len(str(value).strip()) > 10


def _text(moment: datetime, with_time: bool) -> str:
    if not with_time:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")


def _time_text(span: timedelta) -> str:
    """A timedelta as MySQL writes a TIME: [-]HH:MM:SS[.ffffff], hours past 24, clipped at 838."""
    span = max(min(span, _MAX_TIME), -_MAX_TIME)
    micros = abs(span) // timedelta(microseconds=1)
    seconds, micro = divmod(micros, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return ("-" if span < timedelta(0) else "") + text + (f".{micro:06d}" if micro else "")


def _part(fn: Callable[..., object]) -> Callable[..., object]:
    """A function of a datetime as a SQL function of a date text: NULL for NULL or an unreadable date."""

    def wrapped(value: Any, *rest: Any) -> object:
        moment = to_datetime(value)
        return None if moment is None or any(r is None for r in rest) else fn(moment, *rest)

    return wrapped


def _time_part(fn: Callable[[timedelta], object]) -> Callable[[Any], object]:
    """A function of a TIME (or a datetime's time of day): HOUR, MINUTE, SECOND, MICROSECOND."""

    def wrapped(value: Any) -> object:
        span = to_time(value)
        return None if span is None else fn(abs(span))

    return wrapped


# -- MySQL's calendar: day numbers and weeks (ported from MySQL's sql_time.cc) -------------------

_WEEK_MONDAY_FIRST, _WEEK_YEAR, _WEEK_FIRST_WEEKDAY = 1, 2, 4


def _cdiv(a: int, b: int) -> int:
    return int(a / b)  # C's integer division truncates towards zero


def _daynr(year: int, month: int, day: int) -> int:
    """MySQL's day number (TO_DAYS): 1 for 0000-01-01, 366 for 0001-01-01."""
    if year == 0 and month == 0:
        return 0
    delsum = 365 * year + 31 * (month - 1) + day
    if month <= 2:
        year -= 1
    else:
        delsum -= _cdiv(month * 4 + 23, 10)
    return delsum + _cdiv(year, 4) - _cdiv((_cdiv(year, 100) + 1) * 3, 4)


def _day_number(value: Any) -> int | None:
    moment = to_datetime(value)
    if moment is not None:
        return moment.toordinal() + 365
    found = re.match(r"^\s*0000-(\d\d)-(\d\d)", _as_text(value)) if value is not None else None
    return _daynr(0, int(found.group(1)), int(found.group(2))) if found else None  # TO_DAYS' own zero


def _days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def _calc_week(moment: date, behaviour: int) -> tuple[int, int]:
    """(week, year) for a date, as MySQL's calc_week computes WEEK, YEARWEEK and %U %u %V %v %X %x."""
    daynr = _daynr(moment.year, moment.month, moment.day)
    first_daynr = _daynr(moment.year, 1, 1)
    monday_first = bool(behaviour & _WEEK_MONDAY_FIRST)
    week_year = bool(behaviour & _WEEK_YEAR)
    first_weekday = bool(behaviour & _WEEK_FIRST_WEEKDAY)
    weekday = (first_daynr + 5 + (0 if monday_first else 1)) % 7
    year = moment.year
    if moment.month == 1 and moment.day <= 7 - weekday:
        if not week_year and ((first_weekday and weekday != 0) or (not first_weekday and weekday >= 4)):
            return 0, year
        week_year = True
        year -= 1
        days = _days_in_year(year)
        first_daynr -= days
        weekday = (weekday + 53 * 7 - days) % 7
    if (first_weekday and weekday != 0) or (not first_weekday and weekday >= 4):
        days = daynr - (first_daynr + (7 - weekday))
    else:
        days = daynr - (first_daynr - weekday)
    if week_year and days >= 52 * 7:
        weekday = (weekday + _days_in_year(year)) % 7
        if (not first_weekday and weekday < 4) or (first_weekday and weekday == 0):
            return 1, year + 1
    return days // 7 + 1, year


def _week_mode(mode: int) -> int:
    behaviour = mode & 7
    return behaviour if behaviour & _WEEK_MONDAY_FIRST else behaviour ^ _WEEK_FIRST_WEEKDAY


def _week(moment: datetime, mode: Any = 0) -> int:
    """MySQL WEEK(date, mode) for every mode 0-7."""
    return _calc_week(moment.date(), _week_mode(int(mode)))[0]


def _yearweek(moment: datetime, mode: Any = 0) -> int:
    week, year = _calc_week(moment.date(), _week_mode(int(mode)) | _WEEK_YEAR)
    return year * 100 + week


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# MySQL DATE_FORMAT specifier -> how to render it from a datetime.
_SPECIFIERS: dict[str, Callable[[datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "m": lambda d: f"{d.month:02d}",
    "c": lambda d: str(d.month),
    "d": lambda d: f"{d.day:02d}",
    "e": lambda d: str(d.day),
    "D": lambda d: _ordinal(d.day),
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
    "U": lambda d: f"{_calc_week(d.date(), _WEEK_FIRST_WEEKDAY)[0]:02d}",
    "u": lambda d: f"{_calc_week(d.date(), _WEEK_MONDAY_FIRST)[0]:02d}",
    "V": lambda d: f"{_calc_week(d.date(), _WEEK_YEAR | _WEEK_FIRST_WEEKDAY)[0]:02d}",
    "v": lambda d: f"{_calc_week(d.date(), _WEEK_YEAR | _WEEK_MONDAY_FIRST)[0]:02d}",
    "X": lambda d: f"{_calc_week(d.date(), _WEEK_YEAR | _WEEK_FIRST_WEEKDAY)[1]:04d}",
    "x": lambda d: f"{_calc_week(d.date(), _WEEK_YEAR | _WEEK_MONDAY_FIRST)[1]:04d}",
    "%": lambda d: "%",
}


def _render(fmt: str, specifiers: dict[str, Callable[[Any], str]], value: Any) -> str | None:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec in specifiers:
                out.append(specifiers[spec](value))
            elif spec.isalpha() and specifiers is _TIME_SPECIFIERS:
                return None  # TIME_FORMAT: a date specifier makes the result NULL
            else:
                out.append(spec)
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def date_format(value: Any, fmt: str | None) -> str | None:
    """MySQL DATE_FORMAT: every specifier MySQL documents that has a fixed meaning."""
    moment = to_datetime(value)
    if moment is None or fmt is None:
        return None
    return _render(str(fmt), _SPECIFIERS, moment)


def _hours(span: timedelta) -> int:
    return abs(span) // timedelta(hours=1)


_TIME_SPECIFIERS: dict[str, Callable[[timedelta], str]] = {
    "H": lambda t: f"{_hours(t):02d}",
    "k": lambda t: str(_hours(t)),
    "h": lambda t: f"{(_hours(t) % 12) or 12:02d}",
    "I": lambda t: f"{(_hours(t) % 12) or 12:02d}",
    "l": lambda t: str((_hours(t) % 12) or 12),
    "i": lambda t: f"{abs(t).seconds // 60 % 60:02d}",
    "s": lambda t: f"{abs(t).seconds % 60:02d}",
    "S": lambda t: f"{abs(t).seconds % 60:02d}",
    "f": lambda t: f"{abs(t).microseconds:06d}",
    "p": lambda t: "AM" if _hours(t) % 24 < 12 else "PM",
    "T": lambda t: _time_text(abs(t))[:8],
    "r": lambda t: (
        f"{(_hours(t) % 12) or 12:02d}:{abs(t).seconds // 60 % 60:02d}:{abs(t).seconds % 60:02d} "
        + ("AM" if _hours(t) % 24 < 12 else "PM")
    ),
    "%": lambda t: "%",
}


def time_format(value: Any, fmt: Any) -> str | None:
    """MySQL TIME_FORMAT: hours may pass 24; a date specifier gives NULL."""
    span = to_time(value)
    return None if span is None or fmt is None else _render(str(fmt), _TIME_SPECIFIERS, span)


_DATE_SPECIFIERS = set("YymcdeMbjWaDUuVvXxw")
_CLOCK_SPECIFIERS = set("HkhIlisSfpTr")
_DIGITS = {"Y": 4, "y": 2, "m": 2, "c": 2, "d": 2, "e": 2, "D": 2, "H": 2, "k": 2, "h": 2, "I": 2, "l": 2}
_DIGITS |= {"i": 2, "s": 2, "S": 2, "j": 3, "w": 1, "U": 2, "u": 2, "V": 2, "v": 2, "X": 4, "x": 4}
_FIELDS = {"Y": "year", "y": "year", "m": "month", "c": "month", "d": "day", "e": "day", "D": "day"}
_FIELDS |= {"H": "hour", "k": "hour", "h": "hour", "I": "hour", "l": "hour", "i": "minute", "s": "second"}
_FIELDS |= {"S": "second", "j": "yearday"}
_NAMES = {
    "M": [m.lower() for m in calendar.month_name],
    "b": [m.lower() for m in calendar.month_abbr],
    "W": [d.lower() for d in calendar.day_name],
    "a": [d.lower() for d in calendar.day_abbr],
}


def _scan(text: str, fmt: str, parts: dict[str, int]) -> int | None:
    """Read ``text`` by a MySQL format into ``parts``, as MySQL's extract_date_time does.

    Returns how much of the text was read, or None where it does not fit the format. Like MySQL, a
    text that ends before the format leaves the rest at zero, and text after the format is ignored.
    """
    at, i = 0, 0
    while i < len(fmt) and at < len(text):
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        if fmt[i] == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            i += 2
            if spec in _DIGITS:
                found = re.match(rf"[+-]?\d{{1,{_DIGITS[spec]}}}", text[at:])
                if found is None:
                    return None
                number, width = int(found.group()), found.end()
                at += width
                if spec in {"Y", "y"} and width <= 2:
                    number += 2000 if number < 70 else 1900
                if spec in {"h", "I", "l"}:
                    parts["usa"] = 1
                if spec == "D":  # 1st, 2nd, 3rd, 4th ...
                    at += min(2, len(text) - at)
                if spec in _FIELDS:
                    parts[_FIELDS[spec]] = number
            elif spec in _NAMES:
                found = re.match(r"[^\W\d_]+", text[at:])
                word = found.group().lower() if found else ""
                if not word or word not in _NAMES[spec]:
                    return None
                if spec in {"M", "b"}:
                    parts["month"] = _NAMES[spec].index(word)
                at += len(word)
            elif spec == "f":
                found = re.match(r"\d{1,6}", text[at:])
                if found is None:
                    return None
                parts["micro"] = int(found.group().ljust(6, "0"))
                at += found.end()
            elif spec == "p":
                half = text[at : at + 2].upper()
                if half not in {"AM", "PM"} or not parts.get("usa"):
                    return None
                parts["pm"] = int(half == "PM")
                at += 2
            elif spec in {"T", "r"}:
                read = _scan(text[at:], "%H:%i:%S" if spec == "T" else "%I:%i:%S %p", parts)
                if read is None:
                    return None
                at += read
            elif spec == "%":
                if text[at] != "%":
                    return None
                at += 1
            else:
                return None
        else:
            if not fmt[i].isspace():
                if text[at] != fmt[i]:
                    return None
                at += 1
            i += 1
    return at


def str_to_date(value: Any, fmt: Any) -> str | None:
    """MySQL STR_TO_DATE: a DATETIME, DATE or TIME text as the format's parts say, NULL if unreadable.

    Text after the format is ignored, as MySQL does: STR_TO_DATE('2025-03-01 10:00 - 11:00',
    '%Y-%m-%d %H:%i') is 2025-03-01 10:00:00. A part the format does not read is zero
    (STR_TO_DATE('2024-03', '%Y-%m') is 2024-03-00).
    """
    if value is None or fmt is None:
        return None
    fmt = str(fmt)
    parts: dict[str, int] = {}
    if _scan(_as_text(value), fmt, parts) is None:
        return None
    year, month, day = parts.get("year", 0), parts.get("month", 0), parts.get("day", 0)
    hour, minute, second = parts.get("hour", 0), parts.get("minute", 0), parts.get("second", 0)
    if parts.get("usa"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + 12 * parts.get("pm", 0)
    if parts.get("yearday"):
        moment = date(year, 1, 1) + timedelta(days=parts["yearday"] - 1)
        year, month, day = moment.year, moment.month, moment.day
    if month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        return None
    if month and day and day > calendar.monthrange(year or 2000, month)[1]:
        return None  # 2024-02-30
    specs = re.findall(r"%(.)", fmt)
    has_date = any(s in _DATE_SPECIFIERS for s in specs)
    has_time = any(s in _CLOCK_SPECIFIERS for s in specs)
    clock_text = f"{hour:02d}:{minute:02d}:{second:02d}" + (f".{parts['micro']:06d}" if "f" in specs else "")
    if not has_date:
        return clock_text
    day_text = f"{year:04d}-{month:02d}-{day:02d}"
    return f"{day_text} {clock_text}" if has_time else day_text


# -- date arithmetic ------------------------------------------------------------------------------

_UNIT_SECONDS = {"WEEK": 604800, "DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1, "MICROSECOND": 1e-6}


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
        seconds = _UNIT_SECONDS.get(unit)
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
    x, y = _day_number(a), _day_number(b)
    return None if x is None or y is None else x - y


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
    if unit == "MICROSECOND":
        return (y - x) // timedelta(microseconds=1)
    seconds = (y - x).total_seconds()
    size = _UNIT_SECONDS.get(unit)
    return None if size is None else int(seconds / size)


def addtime(value: Any, amount: Any, sign: int = 1) -> str | None:
    """ADDTIME/SUBTIME: a datetime stays a datetime, a TIME stays a TIME."""
    span = to_time(amount)
    if value is None or span is None:
        return None
    if _is_datetime(value):
        moment = to_datetime(value)
        return None if moment is None else _text(moment + sign * span, True)
    start = to_time(value)
    return None if start is None else _time_text(start + sign * span)


def _time_kind(value: Any) -> str:
    return "time" if not _is_datetime(value) else "datetime" if _has_time(value) else "date"


def timediff(a: Any, b: Any) -> str | None:
    """TIMEDIFF: two datetimes, two dates or two times; a mix (DATETIME and DATE too) is NULL, as in MySQL."""
    if a is None or b is None or _time_kind(a) != _time_kind(b):
        return None
    if _is_datetime(a):
        x, y = to_datetime(a), to_datetime(b)
        return None if x is None or y is None else _time_text(x - y)
    s, t = to_time(a), to_time(b)
    return None if s is None or t is None else _time_text(s - t)


def _timestamp(value: Any, add: Any = None) -> str | None:
    moment = to_datetime(value)
    if moment is None:
        return None
    if add is not None:
        span = to_time(add)
        if span is None:
            return None
        moment += span
    return _text(moment, True)


def _time(value: Any) -> str | None:
    span = to_time(value)
    return None if span is None else _time_text(span)


def _time_to_sec(value: Any) -> float | int | None:
    span = to_time(value)
    if span is None:
        return None
    seconds = span.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _sec_to_time(seconds: Any) -> str | None:
    return None if seconds is None else _time_text(timedelta(seconds=float(seconds)))


def _maketime(hour: Any, minute: Any, second: Any) -> str | None:
    if (
        hour is None
        or minute is None
        or second is None
        or not (0 <= int(minute) < 60 and 0 <= float(second) < 60)
    ):
        return None
    span = timedelta(hours=abs(int(hour)), minutes=int(minute), seconds=float(second))
    return _time_text(-span if int(hour) < 0 else span)


def _makedate(year: Any, day_of_year: Any) -> str | None:
    if year is None or day_of_year is None or int(day_of_year) <= 0:
        return None
    return (date(int(year), 1, 1) + timedelta(days=int(day_of_year) - 1)).isoformat()


def _from_days(number: Any) -> str | None:
    if number is None:
        return None
    return "0000-00-00" if int(number) < 366 else date.fromordinal(int(number) - 365).isoformat()


def _to_seconds(value: Any) -> int | None:
    moment, day = to_datetime(value), _day_number(value)
    if moment is None or day is None:
        return None
    return day * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second


def _period_months(period: int) -> int:
    year, month = divmod(period, 100)
    if year < 100:
        year += 2000 if year < 70 else 1900
    return year * 12 + month - 1


def _period_add(period: Any, months: Any) -> int | None:
    if period is None or months is None:
        return None
    if int(period) == 0:
        return 0
    year, month = divmod(_period_months(int(period)) + int(months), 12)
    return year * 100 + month + 1


def _period_diff(a: Any, b: Any) -> int | None:
    return None if a is None or b is None else _period_months(int(a)) - _period_months(int(b))


def _last_day(moment: datetime) -> str:
    return moment.replace(day=calendar.monthrange(moment.year, moment.month)[1]).strftime("%Y-%m-%d")


def _from_unixtime(seconds: Any, fmt: Any = None) -> str | None:
    if seconds is None or float(seconds) < 0:
        return None
    moment = datetime.fromtimestamp(float(seconds))
    return _text(moment, True) if fmt is None else date_format(_text(moment, True), fmt)


def _unix_timestamp(*value: Any) -> float | int | None:
    """UNIX_TIMESTAMP(): now; UNIX_TIMESTAMP(date): its seconds since the epoch, in the local time zone."""
    if not value:
        return int(clock.time())
    moment = to_datetime(value[0])
    if moment is None:
        return None
    stamp = moment.timestamp()
    return max(int(stamp), 0) if not moment.microsecond else max(round(stamp, 6), 0)


def _zone(name: Any) -> tzinfo | None:
    text = str(name).strip()
    offset = re.fullmatch(r"([+-])(\d{1,2}):(\d\d)", text)
    if offset:
        sign, hours, minutes = offset.groups()
        span = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-span if sign == "-" else span)
    if text.upper() == "SYSTEM":
        return datetime.now().astimezone().tzinfo
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(text)
    except (ImportError, ValueError, KeyError, OSError):
        return None  # MySQL without its time zone tables gives NULL for a named zone too


def _convert_tz(value: Any, source: Any, target: Any) -> str | None:
    moment = to_datetime(value)
    if moment is None or source is None or target is None:
        return None
    src, dst = _zone(source), _zone(target)
    if src is None or dst is None:
        return None
    return _text(moment.replace(tzinfo=src).astimezone(dst).replace(tzinfo=None), True)


_EXTRACT: dict[str, Callable[[datetime, timedelta], int]] = {
    "MICROSECOND": lambda d, t: t.microseconds,
    "SECOND": lambda d, t: t.seconds % 60,
    "MINUTE": lambda d, t: t.seconds // 60 % 60,
    "HOUR": lambda d, t: _hours(t),
    "DAY": lambda d, t: d.day,
    "WEEK": lambda d, t: _week(d, 0),
    "MONTH": lambda d, t: d.month,
    "QUARTER": lambda d, t: (d.month - 1) // 3 + 1,
    "YEAR": lambda d, t: d.year,
    "YEAR_MONTH": lambda d, t: d.year * 100 + d.month,
    "DAY_HOUR": lambda d, t: d.day * 100 + d.hour,
    "DAY_MINUTE": lambda d, t: (d.day * 100 + d.hour) * 100 + d.minute,
    "DAY_SECOND": lambda d, t: ((d.day * 100 + d.hour) * 100 + d.minute) * 100 + d.second,
    "HOUR_MINUTE": lambda d, t: _hours(t) * 100 + t.seconds // 60 % 60,
    "HOUR_SECOND": lambda d, t: (_hours(t) * 100 + t.seconds // 60 % 60) * 100 + t.seconds % 60,
    "MINUTE_SECOND": lambda d, t: t.seconds // 60 % 60 * 100 + t.seconds % 60,
}


def _extract(unit: Any, value: Any) -> int | None:
    """EXTRACT(unit FROM value), the composite units (YEAR_MONTH, DAY_HOUR ...) as MySQL joins them."""
    if unit is None or value is None:
        return None
    name = str(unit).upper()
    micro = name.endswith("_MICROSECOND")
    base = name.removesuffix("_MICROSECOND") if micro else name
    span = to_time(value)
    moment = to_datetime(value) or datetime(1, 1, 1)
    if span is None or (
        base in {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "YEAR_MONTH"} and not _is_datetime(value)
    ):
        return None
    if micro:  # SECOND_MICROSECOND, MINUTE_MICROSECOND ...: the _SECOND unit's digits, then 6 more
        whole = span.seconds % 60 if base == "SECOND" else _EXTRACT[f"{base}_SECOND"](moment, span)
        return whole * 1_000_000 + span.microseconds
    part = _EXTRACT.get(base)
    return None if part is None else part(moment, span)


# -- numbers ---------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _as_bytes(value: Any) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else _as_text(value).encode()


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(_as_text(value).strip() or "0")


def truncate(value: Any, places: Any = 0) -> float | int | None:
    if value is None or places is None:
        return None
    factor = 10.0 ** int(places)
    result = math.trunc(float(value) * factor) / factor
    return int(result) if isinstance(value, int) and int(places) <= 0 else result


def _round(value: Any, places: Any = 0) -> float | int | None:
    """ROUND half away from zero, to any number of places, negative ones too (ROUND(1234, -2) = 1200)."""
    if value is None or places is None:
        return None
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
    return int(rounded) if isinstance(value, int) or int(places) <= 0 else float(rounded)


_LOCALES = {"de_DE": (".", ","), "es_ES": (".", ","), "it_IT": (".", ","), "pt_BR": (".", ",")}


def _format(value: Any, places: Any, locale: Any = None) -> str | None:
    """MySQL FORMAT(x, d[, locale]): rounded half away from zero, thousands grouped ('1,234,567.89')."""
    if value is None or places is None:
        return None
    digits = max(min(int(places), 30), 0)
    try:
        number = _decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    text = f"{number:,.{digits}f}"
    group, point = _LOCALES.get(str(locale), (",", "."))
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


def _signed(value: Any, unsigned: int = 0) -> int | float | None:
    """CAST(x AS SIGNED/UNSIGNED): numbers rounded half away from zero, text read up to its first non-digit."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        number = int(_decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    else:
        found = re.match(r"\s*([+-]?\d+)", _as_text(value))
        number = int(found.group(1)) if found else 0
    if unsigned and number < 0:
        number += _UINT64
    return number if number < 1 << 63 else float(number)  # SQLite integers are signed 64-bit


def _conv(value: Any, from_base: Any, to_base: Any) -> str | None:
    """MySQL CONV: digits of ``value`` in one base written in another; a negative base means signed."""
    if value is None or from_base is None or to_base is None:
        return None
    source, target = int(from_base), int(to_base)
    if not (2 <= abs(source) <= 36 and 2 <= abs(target) <= 36):
        return None
    found = re.match(r"\s*(-?)([0-9a-zA-Z]*)", _as_text(value))
    assert found is not None  # the pattern matches every string
    sign, text = found.groups()
    number = 0
    for ch in text.lower():
        digit = int(ch, 36)
        if digit >= abs(source):
            break
        number = number * abs(source) + digit
    number = -number if sign else number
    if target > 0 or number >= 0:
        number %= _UINT64
        return _digits(number, abs(target))
    return "-" + _digits(-number, abs(target))


def _digits(number: int, base: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, base)
        out = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit] + out
        if number == 0:
            return out


def _floor(value: Any) -> int | None:
    # Registered over SQLAlchemy's own floor (math.floor), which fails on NULL.
    return None if value is None else math.floor(float(value))


def _cot(value: Any) -> float | None:
    if value is None or math.tan(float(value)) == 0:
        return None
    return 1 / math.tan(float(value))


_RAND_MAX = 0x3FFFFFFF
_RAND_STATES: OrderedDict[str, tuple[int, int]] = OrderedDict()


def _rand(*args: Any) -> float | None:
    """RAND(): a float in [0, 1). RAND(seed) follows MySQL's generator, so a seeded draw repeats MySQL's.

    ``dialect`` adds a token to a constant seed: MySQL seeds such a RAND once per statement and every row
    draws the next number; a seed from a column reseeds on every row.
    """
    if not args:
        return random.random()
    if args[0] is None:
        seed = 0
    else:
        seed = int(float(args[0])) % (1 << 32)
    state = (seed * 0x10001 + 55555555) % _RAND_MAX, (seed * 0x10000001) % _RAND_MAX
    token = str(args[1]) if len(args) > 1 else None
    if token is not None and token in _RAND_STATES:
        state = _RAND_STATES[token]
    seed1 = (state[0] * 3 + state[1]) % _RAND_MAX
    seed2 = (seed1 + state[1] + 33) % _RAND_MAX
    if token is not None:
        _RAND_STATES[token] = (seed1, seed2)
        _RAND_STATES.move_to_end(token)
        while len(_RAND_STATES) > 256:
            _RAND_STATES.popitem(last=False)
    return seed1 / _RAND_MAX


def _interval(value: Any, *bounds: Any) -> int:
    """INTERVAL(N, N1, N2, ...): how many of the ascending bounds are <= N; -1 for a NULL N."""
    if value is None:
        return -1
    return sum(1 for bound in bounds if bound is not None and float(bound) <= float(value))


def _bit_int(value: Any) -> int:
    number = _signed(value)
    return int(number) % _UINT64 if number is not None else 0


def _mod(a: Any, b: Any) -> float | int | None:
    # MySQL: NULL for a zero divisor, the sign of the dividend, decimals kept (SQLite's % truncates to integers).
    if a is None or b is None or float(b) == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b))
    return math.fmod(float(a), float(b))


# -- strings ---------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Case-folded for comparing as utf8mb4_general_ci does, one character for one (positions hold)."""
    return _lower(text) or ""


def _each_char(text: Any, change: Callable[[str], str]) -> str | None:
    # SQLite's LOWER/UPPER change ASCII letters only; MySQL maps every letter, one character for one.
    if text is None:
        return None
    return "".join(new if len(new := change(ch)) == 1 else ch for ch in _as_text(text))


def _lower(text: Any) -> str | None:
    return _each_char(text, str.lower)


def _upper(text: Any) -> str | None:
    return _each_char(text, str.upper)


def substring_index(text: Any, delimiter: Any, count: Any) -> str | None:
    if text is None or delimiter is None or count is None:
        return None
    whole, sep, n = _as_text(text), _as_text(delimiter), int(count)
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


def _substring(text: Any, start: Any, length: Any = None) -> str | None:
    """MySQL SUBSTRING: position 0 gives '', a negative one counts from the end, a length < 1 gives ''."""
    if text is None or start is None:
        return None
    whole, pos = _as_text(text), int(start)
    if pos == 0 or abs(pos) > len(whole):
        return ""
    begin = pos - 1 if pos > 0 else len(whole) + pos
    if length is None:
        return whole[begin:]
    count = int(length)
    return whole[begin : begin + count] if count > 0 else ""


def _left(text: Any, n: Any) -> str | None:
    return None if text is None or n is None else _as_text(text)[: max(int(n), 0)]


def _right(text: Any, n: Any) -> str | None:
    return None if text is None or n is None else (_as_text(text)[-int(n) :] if int(n) > 0 else "")


def _trim(text: Any, remove: Any, where: str = "BOTH") -> str | None:
    """TRIM(LEADING|TRAILING|BOTH remstr FROM str): removes whole copies of remstr, not characters of it."""
    if text is None or remove is None:
        return None
    out, cut = _as_text(text), _as_text(remove)
    if not cut:
        return out
    if where in {"LEADING", "BOTH"}:
        while out.startswith(cut):
            out = out[len(cut) :]
    if where in {"TRAILING", "BOTH"}:
        while out.endswith(cut):
            out = out[: -len(cut)]
    return out


def _pad(text: Any, length: Any, fill: Any, left: bool) -> str | None:
    if text is None or length is None or fill is None or int(length) < 0:
        return None
    whole, size, pattern = _as_text(text), int(length), _as_text(fill)
    if len(whole) >= size:
        return whole[:size]
    if not pattern:
        return None
    padding = (pattern * (size // len(pattern) + 1))[: size - len(whole)]
    return padding + whole if left else whole + padding


def _insert(text: Any, pos: Any, length: Any, new: Any) -> str | None:
    """INSERT(str, pos, len, newstr): str unchanged when pos is outside it."""
    if text is None or pos is None or length is None or new is None:
        return None
    whole, start, count = _as_text(text), int(pos), int(length)
    if start < 1 or start > len(whole):
        return whole
    end = len(whole) if count < 0 else start - 1 + count
    return whole[: start - 1] + _as_text(new) + whole[end:]


def _locate(needle: Any, haystack: Any, pos: Any = 1) -> int | None:
    """LOCATE/INSTR/POSITION, 1-based, 0 when absent; case-insensitive as the default collation."""
    if needle is None or haystack is None or pos is None:
        return None
    start = int(pos)
    if start < 1:
        return 0
    return _fold(_as_text(haystack)).find(_fold(_as_text(needle)), start - 1) + 1


def _strcmp(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    x, y = _fold(_as_text(a)), _fold(_as_text(b))
    return (x > y) - (x < y)


def _field(value: Any, *choices: Any) -> int:
    """FIELD(s, a, b, ...): the 1-based index of the first equal choice, 0 if none (or s is NULL)."""
    if value is None:
        return 0
    numeric = isinstance(value, (int, float)) and all(
        isinstance(c, (int, float)) for c in choices if c is not None
    )
    for index, choice in enumerate(choices, start=1):
        if choice is None:
            continue
        if numeric and float(choice) == float(value):
            return index
        if not numeric and _fold(_as_text(choice)) == _fold(_as_text(value)):
            return index
    return 0


def _find_in_set(value: Any, items: Any) -> int | None:
    if value is None or items is None:
        return None
    needle = _fold(_as_text(value))
    if "," in needle or not _as_text(items):
        return 0
    parts = [_fold(p) for p in _as_text(items).split(",")]
    return parts.index(needle) + 1 if needle in parts else 0


def _elt(index: Any, *choices: Any) -> Any:
    if index is None or not 1 <= int(index) <= len(choices):
        return None
    return choices[int(index) - 1]


def _hex(value: Any) -> str | None:
    """MySQL HEX: a number's hexadecimal digits (HEX(255) = 'FF'), a string's bytes ('abc' = '616263')."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        number = _signed(value)
        return f"{int(number or 0) % _UINT64:X}"
    return _as_bytes(value).hex().upper()


def _unhex(value: Any) -> bytes | None:
    if value is None:
        return None
    text = _as_text(value)
    try:
        return bytes.fromhex(("0" + text) if len(text) % 2 else text)
    except ValueError:
        return None


def _char(*codes: Any) -> bytes:
    """CHAR(n, ...): the bytes of each code (NULLs skipped), as MySQL's binary string."""
    out = b""
    for code in codes:
        if code is not None:
            number = int(float(code)) % (1 << 32)
            out += number.to_bytes(max((number.bit_length() + 7) // 8, 1), "big")
    return out


def _ascii(value: Any) -> int | None:
    if value is None:
        return None
    raw = _as_bytes(value)
    return raw[0] if raw else 0


def _ord(value: Any) -> int | None:
    """ORD: a multibyte first character as the number its bytes make (ORD('数') = 0xE695B0)."""
    if value is None:
        return None
    text = _as_text(value)
    return int.from_bytes(text[0].encode(), "big") if text else 0


def _quote(value: Any) -> str:
    if value is None:
        return "NULL"
    text = _as_text(value)
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0").replace("\x1a", "\\Z")
    return f"'{escaped}'"


_SOUNDEX_CODES = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "01230120022455012623010202"))


def _soundex(value: Any) -> str | None:
    """MySQL's SOUNDEX: not cut to four characters, vowels do not separate repeated codes."""
    if value is None:
        return None
    letters = [ch for ch in _as_text(value) if ch.isalpha()]
    if not letters:
        return ""
    first = letters[0].upper()
    out, last = first, _SOUNDEX_CODES.get(first, "0")
    for ch in letters[1:]:
        code = _SOUNDEX_CODES.get(ch.upper(), "0")
        if code != "0" and code != last:
            out += code
            last = code
    return out.ljust(4, "0")


def _repeat(text: Any, count: Any) -> str | None:
    return None if text is None or count is None else _as_text(text) * max(int(count), 0)


def _reverse(text: Any) -> str | None:
    return None if text is None else _as_text(text)[::-1]


def _to_base64(value: Any) -> str | None:
    if value is None:
        return None
    encoded = base64.b64encode(_as_bytes(value)).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))  # MySQL wraps at 76


def _from_base64(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(re.sub(r"\s", "", _as_text(value)), validate=True)
    except (binascii.Error, ValueError):
        return None


def _digest(name: str) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else hashlib.new(name, _as_bytes(value)).hexdigest()


def _sha2(value: Any, bits: Any) -> str | None:
    name = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}.get(int(bits or -1))
    return None if value is None or name is None else hashlib.new(name, _as_bytes(value)).hexdigest()


def _crc32(value: Any) -> int | None:
    return None if value is None else zlib.crc32(_as_bytes(value))


def _charset(value: Any) -> str:
    return "utf8mb4" if isinstance(value, str) else "binary"


def _collation(value: Any) -> str:
    return "utf8mb4_general_ci" if isinstance(value, str) else "binary"


def _weight_string(value: Any) -> bytes | None:
    """WEIGHT_STRING under utf8mb4_general_ci: each character's upper-case, accent-free code in 2 bytes."""
    if not isinstance(value, str):
        return None
    out = b""
    for ch in value.rstrip(" "):
        base = unicodedata.normalize("NFD", ch)[0].upper()
        code = ord(base[0]) if ord(base[0]) <= 0xFFFF else 0xFFFD
        out += code.to_bytes(2, "big")
    return out


def _octet_length(text: Any) -> int | None:
    return None if text is None else len(_as_bytes(text))


def _bit_length(text: Any) -> int | None:
    return None if text is None else 8 * len(_as_bytes(text))


def _char_length(text: Any) -> int | None:
    return None if text is None else len(_as_text(text))


# -- regular expressions (case-insensitive, as under the default collation) ------------------------


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str, flags: str = "") -> re.Pattern[str]:
    options = re.IGNORECASE
    for flag in flags:
        if flag == "c":
            options &= ~re.IGNORECASE
        elif flag == "i":
            options |= re.IGNORECASE
        elif flag == "m":
            options |= re.MULTILINE
        elif flag == "n":
            options |= re.DOTALL
    return re.compile(pattern, options)


def _regexp(pattern: Any, text: Any) -> int | None:
    # SQLite calls regexp(pattern, text) for `text REGEXP pattern`.
    if pattern is None or text is None:
        return None
    return int(_pattern(_as_text(pattern)).search(_as_text(text)) is not None)


def _regexp_like(text: Any, pattern: Any, flags: Any = "") -> int | None:
    if text is None or pattern is None:
        return None
    return int(_pattern(_as_text(pattern), str(flags or "")).search(_as_text(text)) is not None)


def _regexp_instr(
    text: Any, pattern: Any, pos: Any = 1, occurrence: Any = 1, option: Any = 0, flags: Any = ""
) -> int | None:
    if text is None or pattern is None:
        return None
    matches = list(_pattern(_as_text(pattern), str(flags or "")).finditer(_as_text(text), int(pos) - 1))
    if len(matches) < int(occurrence):
        return 0
    found = matches[int(occurrence) - 1]
    return (found.end() if int(option) else found.start()) + 1


def _regexp_substr(text: Any, pattern: Any, pos: Any = 1, occurrence: Any = 1, flags: Any = "") -> str | None:
    if text is None or pattern is None:
        return None
    matches = list(_pattern(_as_text(pattern), str(flags or "")).finditer(_as_text(text), int(pos) - 1))
    return matches[int(occurrence) - 1].group(0) if len(matches) >= int(occurrence) else None


def _regexp_replace(
    text: Any, pattern: Any, replacement: Any, pos: Any = 1, occurrence: Any = 0, flags: Any = ""
) -> str | None:
    if text is None or pattern is None or replacement is None:
        return None
    whole, start = _as_text(text), int(pos) - 1
    compiled = _pattern(_as_text(pattern), str(flags or ""))
    template = re.sub(r"\\(\d)", r"\\g<\1>", _as_text(replacement).replace("\\\\", "\\"))
    seen = 0

    def swap(found: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return found.expand(template) if int(occurrence) in (0, seen) else found.group(0)

    return whole[:start] + compiled.sub(swap, whole[start:])


# -- JSON ------------------------------------------------------------------------------------------


def _json_load(doc: Any) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(name)

    return json.loads(_as_text(doc), parse_constant=refuse)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # MySQL's spacing: {"a": 1, "b": [1, 2]}


_PATH_STEP = re.compile(r'\.(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_$][\w$]*))|\[(\d+)\]')
_MISSING = object()


def _json_path(doc: Any, path: Any) -> Any:
    """The value at a MySQL JSON path ($, .key, ."key", [n]); _MISSING when there is none."""
    text = str(path).strip()
    if not text.startswith("$"):
        raise ValueError(f"bad JSON path {text!r}")
    at, value = 1, doc
    while at < len(text):
        step = _PATH_STEP.match(text, at)
        if step is None:
            raise ValueError(f"unsupported JSON path {text!r}")
        quoted, key, index = step.groups()
        if index is not None:
            if not isinstance(value, list):
                value = [value]  # MySQL treats a scalar as a one-element array
            value = value[int(index)] if int(index) < len(value) else _MISSING
        else:
            name = json.loads(f'"{quoted}"') if quoted is not None else key
            value = value.get(name, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return _MISSING
        at = step.end()
    return value


def _at_path(doc: Any, path: Any = None) -> Any:
    value = _json_load(doc)
    return value if path is None else _json_path(value, path)


def _json_unquote(value: Any) -> str | None:
    if value is None:
        return None
    text = _as_text(value)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            return text
    return text


def _json_type(doc: Any) -> str | None:
    if doc is None:
        return None
    value = _json_load(doc)
    if isinstance(value, bool):
        return "BOOLEAN"
    if value is None:
        return "NULL"
    names = ((dict, "OBJECT"), (list, "ARRAY"), (str, "STRING"), (int, "INTEGER"), (float, "DOUBLE"))
    return next(name for kind, name in names if isinstance(value, kind))


def _json_valid(doc: Any) -> int | None:
    if doc is None:
        return None
    try:
        _json_load(doc)
    except ValueError:
        return 0
    return 1


def _json_length(doc: Any, path: Any = None) -> int | None:
    if doc is None:
        return None
    value = _at_path(doc, path)
    if value is _MISSING:
        return None
    return len(value) if isinstance(value, (list, dict)) else 1


def _json_keys(doc: Any, path: Any = None) -> str | None:
    if doc is None:
        return None
    value = _at_path(doc, path)
    return _json_text(list(value)) if isinstance(value, dict) else None


def _json_value(doc: Any, path: Any) -> str | None:
    if doc is None or path is None:
        return None
    value = _at_path(doc, path)
    if value is _MISSING or value is None or isinstance(value, (list, dict)):
        return None
    return value if isinstance(value, str) else _json_text(value)


def _contains(target: Any, candidate: Any) -> bool:
    if isinstance(target, dict):
        return isinstance(candidate, dict) and all(
            k in target and _contains(target[k], v) for k, v in candidate.items()
        )
    if isinstance(target, list):
        if isinstance(candidate, list):
            return all(_contains(target, c) for c in candidate)
        return any(_contains(t, candidate) for t in target)
    if _is_json_number(target) and _is_json_number(candidate):
        return bool(target == candidate)  # 1 and 1.0 are the same JSON number
    return not isinstance(candidate, (list, dict)) and type(target) is type(candidate) and target == candidate


def _is_json_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_contains(target: Any, candidate: Any, path: Any = None) -> int | None:
    if target is None or candidate is None:
        return None
    value = _at_path(target, path)
    return None if value is _MISSING else int(_contains(value, _json_load(candidate)))


def _like_regex(pattern: str, escape: str = "\\") -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        out += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.compile(out, re.DOTALL | re.IGNORECASE)


def _json_search(doc: Any, mode: Any, needle: Any, escape: Any = None, *paths: Any) -> str | None:
    """JSON_SEARCH(doc, 'one'|'all', pattern): the path (or an array of paths) of matching strings."""
    if doc is None or mode is None or needle is None or str(mode).lower() not in {"one", "all"}:
        return None
    matcher = _like_regex(_as_text(needle), str(escape) if escape else "\\")
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if re.fullmatch(r"[A-Za-z_$][\w$]*", key) else f'{where}."{key}"')
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")
        elif isinstance(value, str) and matcher.fullmatch(value):
            found.append(where)

    root = _json_load(doc)
    for start in paths or ("$",):
        value = _json_path(root, start)
        if value is not _MISSING:
            walk(value, str(start))
    if not found:
        return None
    if str(mode).lower() == "one" or len(found) == 1:
        return _json_text(found[0])
    return _json_text(found)


# -- aggregates ------------------------------------------------------------------------------------


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


class _Bits:
    """BIT_AND/BIT_OR/BIT_XOR over unsigned 64-bit integers; NULLs are skipped."""

    start = 0
    combine: Callable[[int, int], int] = staticmethod(lambda a, b: a | b)

    def __init__(self) -> None:
        self.value = self.start

    def step(self, value: Any) -> None:
        if value is not None:
            self.value = self.combine(self.value, _bit_int(value))

    def finalize(self) -> int | float:
        return self.value if self.value < 1 << 63 else float(self.value)


def _bits(start: int, combine: Callable[[int, int], int]) -> type:
    return type("Bits", (_Bits,), {"start": start, "combine": staticmethod(combine)})


def _sort_rows(rows: list[tuple[list[Any], Any]], descending: list[bool]) -> list[Any]:
    """Values ordered by their keys as MySQL orders them: NULL first ascending, last descending."""
    for position in reversed(range(len(descending))):
        rows.sort(
            key=lambda row: (row[0][position] is not None, _sort_key(row[0][position])),
            reverse=descending[position],
        )
    return [value for _, value in rows]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, float(value))
    return (2, _fold(_as_text(value)))


class _OrderedAggregate:
    """step(value, distinct, key1, desc1, key2, desc2, ...): the values collected, then sorted by the keys."""

    def __init__(self) -> None:
        self.rows: list[tuple[list[Any], Any]] = []
        self.descending: list[bool] = []
        self.distinct = False

    def collect(self, value: Any, distinct: Any, ordering: tuple[Any, ...]) -> None:
        self.distinct = bool(distinct)
        self.descending = [bool(d) for d in ordering[1::2]]
        self.rows.append((list(ordering[0::2]), value))

    def values(self) -> list[Any]:
        values = _sort_rows(self.rows, self.descending)
        if not self.distinct:
            return values
        kept, seen = [], set()
        for value in values:
            if _sort_key(value) not in seen:  # equal under the case-insensitive collation
                seen.add(_sort_key(value))
                kept.append(value)
        return kept


class _GroupConcat(_OrderedAggregate):
    """GROUP_CONCAT(value, separator, distinct, keys...) with MySQL's ORDER BY and DISTINCT."""

    separator = ","

    def step(self, value: Any, separator: Any, distinct: Any, *ordering: Any) -> None:
        self.separator = _as_text(separator)
        if value is not None:
            self.collect(value, distinct, ordering)

    def finalize(self) -> str | None:
        values = self.values()
        return self.separator.join(_as_text(v) for v in values) if values else None


def _json_value_of(value: Any) -> Any:
    return bytes(value).decode("utf-8", errors="replace") if isinstance(value, (bytes, memoryview)) else value


class _JsonArrayAgg(_OrderedAggregate):
    """JSON_ARRAYAGG(value, distinct, keys...): NULLs are kept as JSON null, as in MySQL."""

    def step(self, value: Any, distinct: Any, *ordering: Any) -> None:
        self.collect(_json_value_of(value), distinct, ordering)

    def finalize(self) -> str | None:
        return _json_text(self.values()) if self.rows else None


class _JsonObjectAgg:
    """JSON_OBJECTAGG(key, value): rows with a NULL key are left out, as MariaDB does."""

    def __init__(self) -> None:
        self.members: dict[str, Any] = {}
        self.any_row = False

    def step(self, key: Any, value: Any) -> None:
        self.any_row = True
        if key is not None:
            self.members[_as_text(key)] = _json_value_of(value)

    def finalize(self) -> str | None:
        return _json_text(self.members) if self.any_row else None


# -- registration ----------------------------------------------------------------------------------


def _null_on_error(function: Callable[..., Any]) -> Callable[..., Any]:
    """MySQL answers NULL (with a warning) for an argument it cannot read; so do these."""

    @functools.wraps(function)
    def wrapped(*args: Any) -> Any:
        try:
            return function(*args)
        except (ValueError, TypeError, OverflowError, ArithmeticError, IndexError, KeyError):
            return None

    return wrapped


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


SCALARS: dict[str, tuple[int, Any, bool]] = {  # name: (arity, function, deterministic)
    # dates and times
    "YEAR": (1, _part(lambda d: d.year), True),
    "MONTH": (1, _part(lambda d: d.month), True),
    "DAY": (1, _part(lambda d: d.day), True),
    "HOUR": (1, _time_part(_hours), True),
    "MINUTE": (1, _time_part(lambda t: t.seconds // 60 % 60), True),
    "SECOND": (1, _time_part(lambda t: t.seconds % 60), True),
    "MICROSECOND": (1, _time_part(lambda t: t.microseconds), True),
    "QUARTER": (1, _part(lambda d: (d.month - 1) // 3 + 1), True),
    "DAYOFWEEK": (1, _part(lambda d: (d.weekday() + 1) % 7 + 1), True),
    "WEEKDAY": (1, _part(lambda d: d.weekday()), True),
    "DAYOFYEAR": (1, _part(lambda d: d.timetuple().tm_yday), True),
    "WEEKOFYEAR": (1, _part(lambda d: _week(d, 3)), True),
    "DAYNAME": (1, _part(lambda d: calendar.day_name[d.weekday()]), True),
    "MONTHNAME": (1, _part(lambda d: calendar.month_name[d.month]), True),
    "LAST_DAY": (1, _part(_last_day), True),
    "WEEK": (-1, _part(_week), True),
    "YEARWEEK": (-1, _part(_yearweek), True),
    "DATE_FORMAT": (2, date_format, True),
    "TIME_FORMAT": (2, time_format, True),
    "STR_TO_DATE": (2, str_to_date, True),
    "DATE_ADD": (3, date_add, True),
    "DATEDIFF": (2, datediff, True),
    "TIMESTAMPDIFF": (3, timestampdiff, True),
    "ADDTIME": (2, addtime, True),
    "SUBTIME": (2, lambda value, amount: addtime(value, amount, -1), True),
    "TIMEDIFF": (2, timediff, True),
    "MYSQL_TIMESTAMP": (-1, _timestamp, True),
    "MYSQL_TIME": (1, _time, True),
    "TIME_TO_SEC": (1, _time_to_sec, True),
    "SEC_TO_TIME": (1, _sec_to_time, True),
    "MAKETIME": (3, _maketime, True),
    "MAKEDATE": (2, _makedate, True),
    "FROM_DAYS": (1, _from_days, True),
    "TO_DAYS": (1, _day_number, True),
    "TO_SECONDS": (1, _to_seconds, True),
    "PERIOD_ADD": (2, _period_add, True),
    "PERIOD_DIFF": (2, _period_diff, True),
    "FROM_UNIXTIME": (-1, _from_unixtime, True),
    "UNIX_TIMESTAMP": (-1, _unix_timestamp, False),
    "CONVERT_TZ": (3, _convert_tz, True),
    "MYSQL_EXTRACT": (2, _extract, True),
    # The clock functions use the local time zone, as MySQL's session default does (SQLite's are UTC).
    "NOW": (0, _now, False),
    "SYSDATE": (0, _now, False),
    "CURDATE": (0, lambda: date.today().isoformat(), False),
    "CURTIME": (0, lambda: datetime.now().strftime("%H:%M:%S"), False),
    # numbers
    "MOD": (2, _mod, True),
    "TRUNCATE": (2, truncate, True),
    "MYSQL_ROUND": (-1, _round, True),
    "FORMAT": (-1, _format, True),
    "MYSQL_SIGNED": (-1, _signed, True),
    "CONV": (3, _conv, True),
    "BIN": (1, lambda n: _conv(n, 10, 2), True),
    "OCT": (1, lambda n: _conv(n, 10, 8), True),
    "COT": (1, _cot, True),
    "FLOOR": (1, _floor, True),
    "CRC32": (1, _crc32, True),
    "RAND": (-1, _rand, False),
    "MYSQL_INTERVAL": (-1, _interval, True),
    # strings
    "SUBSTRING_INDEX": (3, substring_index, True),
    "MYSQL_SUBSTRING": (-1, _substring, True),
    "MYSQL_LEFT": (2, _left, True),
    "MYSQL_RIGHT": (2, _right, True),
    "MYSQL_TRIM": (3, _trim, True),
    "MYSQL_INSERT": (4, _insert, True),
    "LPAD": (3, lambda s, n, p: _pad(s, n, p, True), True),
    "RPAD": (3, lambda s, n, p: _pad(s, n, p, False), True),
    "LOCATE": (-1, _locate, True),
    "STRCMP": (2, _strcmp, True),
    "FIELD": (-1, _field, True),
    "FIND_IN_SET": (2, _find_in_set, True),
    "ELT": (-1, _elt, True),
    "CONCAT": (-1, concat, True),
    "CONCAT_WS": (-1, concat_ws, True),
    "MYSQL_LOWER": (1, _lower, True),
    "MYSQL_UPPER": (1, _upper, True),
    "REPEAT": (2, _repeat, True),
    "REVERSE": (1, _reverse, True),
    "OCTET_LENGTH": (1, _octet_length, True),
    "BIT_LENGTH": (1, _bit_length, True),
    "CHAR_LENGTH": (1, _char_length, True),
    "MYSQL_HEX": (1, _hex, True),
    "UNHEX": (1, _unhex, True),
    "MYSQL_CHAR": (-1, _char, True),
    "ASCII": (1, _ascii, True),
    "ORD": (1, _ord, True),
    "MYSQL_QUOTE": (1, _quote, True),
    "MYSQL_SOUNDEX": (1, _soundex, True),
    "TO_BASE64": (1, _to_base64, True),
    "FROM_BASE64": (1, _from_base64, True),
    "MD5": (1, _digest("md5"), True),
    "SHA1": (1, _digest("sha1"), True),
    "SHA2": (2, _sha2, True),
    "CHARSET": (1, _charset, True),
    "COLLATION": (1, _collation, True),
    "WEIGHT_STRING": (1, _weight_string, True),
    "regexp": (2, _regexp, True),
    "MYSQL_REGEXP_LIKE": (-1, _regexp_like, True),
    "REGEXP_INSTR": (-1, _regexp_instr, True),
    "REGEXP_SUBSTR": (-1, _regexp_substr, True),
    "REGEXP_REPLACE": (-1, _regexp_replace, True),
    # JSON
    "JSON_UNQUOTE": (1, _json_unquote, True),
    "MYSQL_JSON_TYPE": (1, _json_type, True),
    "MYSQL_JSON_VALID": (1, _json_valid, True),
    "JSON_LENGTH": (-1, _json_length, True),
    "JSON_KEYS": (-1, _json_keys, True),
    "JSON_VALUE": (2, _json_value, True),
    "JSON_CONTAINS": (-1, _json_contains, True),
    "JSON_SEARCH": (-1, _json_search, True),
}

AGGREGATES: dict[str, tuple[int, type]] = {  # name: (arity, class)
    "STDDEV_POP": (1, _deviation(sample=False, root=True)),
    "STDDEV_SAMP": (1, _deviation(sample=True, root=True)),
    "VAR_POP": (1, _deviation(sample=False, root=False)),
    "VAR_SAMP": (1, _deviation(sample=True, root=False)),
    "BIT_AND": (1, _bits(_UINT64 - 1, lambda a, b: a & b)),
    "BIT_OR": (1, _bits(0, lambda a, b: a | b)),
    "BIT_XOR": (1, _bits(0, lambda a, b: a ^ b)),
    "MYSQL_GROUP_CONCAT": (-1, _GroupConcat),
    "MYSQL_JSON_ARRAYAGG": (-1, _JsonArrayAgg),
    "MYSQL_JSON_OBJECTAGG": (2, _JsonObjectAgg),
}


def register_mysql_functions(connection: sqlite3.Connection, _record: Any = None) -> None:
    """Install the MySQL-compatible functions on one SQLite connection (a SQLAlchemy ``connect`` hook).

    It runs after SQLAlchemy's own hook, so its ``regexp`` and ``floor`` replace SQLAlchemy's.
    """
    for name, (arity, function, deterministic) in SCALARS.items():
        connection.create_function(name, arity, _null_on_error(function), deterministic=deterministic)
    for name, (arity, aggregate) in AGGREGATES.items():
        connection.create_aggregate(name, arity, aggregate)
