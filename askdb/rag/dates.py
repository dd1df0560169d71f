"""Dates: which days each time column's data covers, today for the prompt, and the period a WHERE asks for.

A model told only "上个月" cannot know which month that is, nor that the data stops in March; a
person whose query comes back empty wants to know which range the data does cover. The ranges are
read once with the column values (``askdb.rag.values.sample_values``) and kept in the index, so a
question costs no query for them. Everything here works in whole days (ISO ``YYYY-MM-DD`` text):
enough for 上个月 and 最近7天, and the same on SQLite (dates as text) and MySQL (date objects).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlglot import exp

from askdb.schemas.catalog import Catalog

TIME_TYPES = ("date", "datetime", "timestamp")
# A text column holds dates when its name or comment says so and its MIN and MAX read as dates
# (ads_material_hourly.time_slot, '2025-03-01 10:00 - 11:00').
_TIME_WORDS = re.compile(r"date|time|day|month|日期|时间|月份")
_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")
_WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class DateRange:
    """The first and last day of one time column's data."""

    table: str
    column: str
    first: str
    last: str

    def describe(self) -> str:
        return f"{self.table}.{self.column} 的数据范围是 {self.first} 至 {self.last}"


def time_columns(catalog: Catalog) -> list[tuple[str, tuple[str, ...]]]:
    """Per table, the columns whose range is worth knowing: date types, and text columns named for time."""
    found = []
    for table in catalog.tables:
        names = tuple(
            c.name
            for c in table.columns
            if c.type.lower().startswith(TIME_TYPES) or (_is_text(c.type) and _TIME_WORDS.search(_words(c)))
        )
        if names:
            found.append((table.name, names))
    return found


def _is_text(type_name: str) -> bool:
    return type_name.lower().startswith(("varchar", "char", "text", "nvarchar"))


def _words(col: Any) -> str:
    return f"{col.name} {col.comment}".lower()


def as_day(value: Any) -> str | None:
    """``value`` as an ISO day (a date, a datetime, or text starting with one); None when it is none."""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    match = _DAY.match(str(value).strip()) if value is not None else None
    if match is None:
        return None
    try:
        return date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        return None


def describe_today(today: date) -> str:
    return f"今天是 {today.isoformat()}(星期{_WEEKDAYS[today.weekday()]})"


# -- relative periods named in a question --------------------------------------------------------
_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_COUNT = r"(\d+|[一二两三四五六七八九十]+)"
_RECENT = re.compile(rf"(?:最近|近|过去|前)\s*{_COUNT}\s*(天|日|周|个?星期|个?礼拜|个?月|年)")


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        value = (_NUMERALS.get(tens, 0) if tens else 1) * 10 + (_NUMERALS.get(ones, 0) if ones else 0)
        return value if all(ch in _NUMERALS for ch in tens + ones) else None
    return _NUMERALS.get(text) if len(text) == 1 else None


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _month_end(start: date) -> date:
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _shift_months(day: date, months: int) -> date:
    start = _month_start(day, -months)
    return start.replace(day=min(day.day, _month_end(start).day))


def _fixed_periods(today: date) -> list[tuple[tuple[str, ...], date, date]]:
    monday = today - timedelta(days=today.weekday())
    last_month = _month_start(today, 1)
    return [
        (("今天", "今日"), today, today),
        (("昨天", "昨日"), today - timedelta(days=1), today - timedelta(days=1)),
        (("本周", "这周", "这一周", "本星期"), monday, today),
        (("上周", "上一周", "上星期", "上个星期"), monday - timedelta(days=7), monday - timedelta(days=1)),
        (("本月", "这个月", "当月"), _month_start(today), today),
        (("上个月", "上月", "上一个月"), last_month, _month_end(last_month)),
        (("今年", "本年"), date(today.year, 1, 1), today),
        (("去年", "上一年"), date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    ]


def relative_periods(question: str, today: date) -> list[tuple[str, date, date]]:
    """The relative periods a question names (上个月, 最近7天, 去年), as (words, first day, last day)."""
    found: list[tuple[str, date, date]] = []
    for words, first, last in _fixed_periods(today):
        for word in words:
            if _names_period(question, word):
                found.append((word, first, last))
                break
    for match in _RECENT.finditer(question):
        count, unit = _number(match.group(1)), match.group(2)
        if not count:
            continue
        if unit in ("天", "日"):
            first = today - timedelta(days=count - 1)
        elif unit.endswith(("周", "星期", "礼拜")):
            first = today - timedelta(days=7 * count - 1)
        elif unit.endswith("月"):
            first = _shift_months(today, -count) + timedelta(days=1)
        else:
            first = _shift_months(today, -12 * count) + timedelta(days=1)
        found.append((match.group(0), first, today))
    return found


def _names_period(question: str, word: str) -> bool:
    """Whether ``word`` names the period asked about: "比上个月涨了多少" compares each month with the one
    before it (a month-over-month change), it does not ask about last month."""
    at = question.find(word)
    while at != -1:
        if not question[max(0, at - 2) : at].endswith(("比", "较", "环比", "相比", "对比")):
            return True
        at = question.find(word, at + 1)
    return False


def date_lines(question: str, today: date | None) -> list[str]:
    """The SQL prompt's lines about dates: today, then each relative period of the question in days."""
    if today is None:
        return []
    lines = [describe_today(today) + ";问题里的相对时间按这一天换算。"]
    lines += [
        f"{words}:{first.isoformat()} 至 {last.isoformat()}"
        for words, first, last in relative_periods(question, today)
    ]
    return lines


# -- the period a statement's WHERE keeps --------------------------------------------------------
@dataclass
class Bounds:
    """The days a statement keeps of one column: ``None`` is open; ``known`` is False when unreadable."""

    first: date | None = None
    last: date | None = None
    known: bool = True

    def outside(self, data: DateRange) -> bool:
        """Whether the kept days miss every day of ``data`` (unreadable bounds count as missing)."""
        if not self.known:
            return True
        return (self.last is not None and self.last.isoformat() < data.first) or (
            self.first is not None and self.first.isoformat() > data.last
        )


_UNITS = {"DAY": "days", "WEEK": "weeks"}


def _period(node: exp.Expression, today: date) -> tuple[date, date] | None:
    """The days an expression stands for: a literal day, month or year, CURDATE() +/- an interval."""
    if isinstance(node, exp.Literal):
        return _literal_period(str(node.this))
    if isinstance(node, exp.CurrentDate | exp.CurrentTimestamp | exp.CurrentDatetime) or (
        isinstance(node, exp.Anonymous) and str(node.this).upper() in ("NOW", "CURDATE", "SYSDATE")
    ):
        return today, today
    if isinstance(node, exp.DateSub | exp.DateAdd):
        amount, unit = node.expression, node.args.get("unit")
        return _shifted(node.this, amount, unit, -1 if isinstance(node, exp.DateSub) else 1, today)
    if isinstance(node, exp.Sub | exp.Add) and isinstance(node.expression, exp.Interval):
        interval = node.expression
        sign = -1 if isinstance(node, exp.Sub) else 1
        return _shifted(node.this, interval.this, interval.args.get("unit"), sign, today)
    if isinstance(node, exp.TimeToStr):
        inner = _period(node.this, today)
        return _coarsen(inner, str(node.args["format"].this)) if inner else None
    if isinstance(node, exp.TsOrDsToDate | exp.TsOrDsToTimestamp | exp.Date | exp.Cast | exp.Paren):
        return _period(node.this, today)
    if isinstance(node, exp.StrToTime | exp.StrToDate):
        return _period(node.this, today)
    return None


def _literal_period(text: str) -> tuple[date, date] | None:
    text = text.strip().rstrip("%")
    if day := as_day(text):
        parsed = date.fromisoformat(day)
        return parsed, parsed
    if month := _MONTH.match(text):
        start = date(int(month.group(1)), int(month.group(2)), 1) if 1 <= int(month.group(2)) <= 12 else None
        return (start, _month_end(start)) if start else None
    if year := _YEAR.match(text):
        return date(int(year.group(1)), 1, 1), date(int(year.group(1)), 12, 31)
    return None


def _shifted(
    base: exp.Expression, amount: exp.Expression, unit: exp.Expression | None, sign: int, today: date
) -> tuple[date, date] | None:
    start = _period(base, today)
    try:
        count = sign * int(str(amount.this if isinstance(amount, exp.Literal) else amount.name))
    except ValueError:
        return None
    name = (unit.name if unit is not None else "DAY").upper()
    if name in _UNITS:
        step = timedelta(**{_UNITS[name]: count})
        return (start[0] + step, start[1] + step) if start else None
    if name in ("MONTH", "YEAR", "QUARTER") and start:
        months = count * {"MONTH": 1, "YEAR": 12, "QUARTER": 3}[name]
        return _shift_months(start[0], months), _shift_months(start[1], months)
    return None


def _coarsen(period: tuple[date, date], fmt: str) -> tuple[date, date]:
    """A day seen through DATE_FORMAT: '%Y-%m' keeps its month, '%Y' its year."""
    if "%d" in fmt or "%j" in fmt:
        return period
    if "%m" in fmt:
        first = _month_start(period[0])
        return first, _month_end(_month_start(period[1]))
    if "%Y" in fmt:
        return date(period[0].year, 1, 1), date(period[1].year, 12, 31)
    return period


def _column_side(node: exp.Expression) -> tuple[exp.Column, str] | None:
    """The column under a comparison's side, and how it was cut ('day', a DATE_FORMAT format, 'year')."""
    cut = "day"
    while not isinstance(node, exp.Column):
        if isinstance(node, exp.TimeToStr):
            cut = str(node.args["format"].this)
        elif isinstance(node, exp.Year):
            cut = "%Y"
        elif not isinstance(
            node,
            exp.TsOrDsToDate | exp.TsOrDsToTimestamp | exp.Date | exp.Cast | exp.StrToTime | exp.StrToDate,
        ):
            return None
        node = node.this
        if node is None:
            return None
    return node, cut


_FLIP: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
}


def filtered_bounds(
    tree: exp.Expr, ranges: Iterable[DateRange], today: date
) -> dict[tuple[str, str], Bounds]:
    """For each time column of ``ranges`` that a WHERE of ``tree`` compares, the days it keeps."""
    by_column: dict[str, list[DateRange]] = {}
    for r in ranges:
        by_column.setdefault(r.column.lower(), []).append(r)
    aliases = {t.alias_or_name.lower(): t.name.lower() for t in tree.find_all(exp.Table)}
    tables = set(aliases.values())
    found: dict[tuple[str, str], Bounds] = {}
    for where in tree.find_all(exp.Where):
        for node in where.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.Between, exp.Like):
            _bound(node, by_column, aliases, tables, found, today)
    return found


def _bound(
    node: exp.Expr,
    by_column: dict[str, list[DateRange]],
    aliases: dict[str, str],
    tables: set[str],
    found: dict[tuple[str, str], Bounds],
    today: date,
) -> None:
    kind, side, other = type(node), _column_side(node.this), node.args.get("expression")
    if side is None and kind in _FLIP and other is not None:
        kind, side, other = _FLIP[kind], _column_side(other), node.this
    if side is None:
        return
    column, cut = side
    owner = aliases.get(column.table.lower()) if column.table else None
    targets = [
        r
        for r in by_column.get(column.name.lower(), [])
        if (r.table.lower() == owner if owner else r.table.lower() in tables)
    ]
    if not targets:
        return
    if kind is exp.Between:
        low, high = _period(node.args["low"], today), _period(node.args["high"], today)
        period = (low[0], high[1]) if low and high else None
    else:
        period = _period(other, today) if other is not None else None
        period = _coarsen(period, cut) if period and cut != "day" else period
    for r in targets:
        bounds = found.setdefault((r.table, r.column), Bounds())
        if period is None:
            bounds.known = False
            continue
        first, last = period
        if kind in (exp.GT, exp.GTE, exp.EQ, exp.Between, exp.Like):
            bounds.first = max(bounds.first or first, first)
        if kind in (exp.LTE, exp.EQ, exp.Between, exp.Like):
            bounds.last = min(bounds.last or last, last)
        if kind is exp.LT:
            before = first - timedelta(days=1)
            bounds.last = min(bounds.last or before, before)


def ranges_missed(tree: exp.Expr, ranges: Iterable[DateRange], today: date) -> list[DateRange]:
    """The time columns whose filtered period lies outside their data (or cannot be read)."""
    ranges = list(ranges)
    bounds = filtered_bounds(tree, ranges, today)
    return [r for r in ranges if (b := bounds.get((r.table, r.column))) is not None and b.outside(r)]
