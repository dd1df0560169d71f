"""Metrics: execution accuracy, exact-set match, and the rates and latencies of a run.

Execution accuracy compares result sets, not SQL: rows as a multiset (in order only where the
gold query orders at its top level), columns matched by their values whatever their order or
names, numbers equal within a tolerance, dates and datetimes compared as ISO text. The tolerance
is wide enough for MySQL's division, which keeps only 4 decimals (``div_precision_increment``):
MariaDB answers ``SUM(clicks) / SUM(impressions)`` with ``0.0452`` where SQLite gives
``0.04522684...``; so two numbers are equal within 1e-4 relative or 5e-5 absolute. The predicted result may carry extra columns (a nickname
beside the account), as defog's sql-eval allows; the gold's every column must be there.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

REL_TOL = 1e-4
ABS_TOL = 5e-5


# -- execution accuracy ------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """One comparable form per cell: numbers as float, dates as ISO text, NaN as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, Decimal)):
        return float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (time, timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item"):  # numpy scalars
        return canonical(value.item())
    return str(value)


def _sort_key(value: Any) -> tuple:
    # None first, then numbers (rounded so values within tolerance sort together), then text.
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, float):
        return (1, round(value, 4), "")
    return (2, 0.0, value)


def cells_equal(a: Any, b: Any) -> bool:
    """Two canonical cells are the same value (numbers within tolerance)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(canonical(v) for v in row) for row in frame.itertuples(index=False, name=None)]


def _same_sequence(a: Sequence[tuple], b: Sequence[tuple]) -> bool:
    return len(a) == len(b) and all(len(x) == len(y) and all(map(cells_equal, x, y)) for x, y in zip(a, b))


def _same_multiset(a: Sequence[tuple], b: Sequence[tuple]) -> bool:
    def key(row: tuple) -> tuple:
        return tuple(_sort_key(v) for v in row)

    if len(a) != len(b):
        return False
    if _same_sequence(sorted(a, key=key), sorted(b, key=key)):
        return True
    # Values within tolerance can straddle a rounding edge and sort apart: match row by row instead.
    return len(a) <= _GREEDY_MAX and _greedy_match(a, b)


_GREEDY_MAX = 2000


def _greedy_match(a: Sequence[tuple], b: Sequence[tuple]) -> bool:
    unused = list(b)
    for row in a:
        for i, other in enumerate(unused):
            if len(row) == len(other) and all(map(cells_equal, row, other)):
                del unused[i]
                break
        else:
            return False
    return True


def _column(rows: Sequence[tuple], j: int) -> list[tuple]:
    return [(row[j],) for row in rows]


def _assignments(gold: list[tuple], pred: list[tuple], n_gold: int, n_pred: int, ordered: bool):
    """Ways to map each gold column to a distinct predicted column holding the same values."""
    same = _same_sequence if ordered else _same_multiset
    candidates = [
        [k for k in range(n_pred) if same(_column(gold, j), _column(pred, k))] for j in range(n_gold)
    ]

    def extend(j: int, used: tuple[int, ...]):
        if j == n_gold:
            yield used
            return
        for k in candidates[j]:
            if k not in used:
                yield from extend(j + 1, (*used, k))

    return extend(0, ())


def results_match(
    gold: pd.DataFrame, pred: pd.DataFrame, *, ordered: bool = False, extra_columns: bool = True
) -> bool:
    """Whether ``pred`` holds the same result as ``gold`` (see the module docstring for the rules)."""
    gold_rows, pred_rows = _rows(gold), _rows(pred)
    if len(gold_rows) != len(pred_rows):
        return False
    n_gold, n_pred = len(gold.columns), len(pred.columns)
    if n_pred < n_gold or (n_pred != n_gold and not extra_columns):
        return False
    if not gold_rows:
        return True
    same = _same_sequence if ordered else _same_multiset
    for mapping in _assignments(gold_rows, pred_rows, n_gold, n_pred, ordered):
        projected = [tuple(row[k] for k in mapping) for row in pred_rows]
        if same(gold_rows, projected):
            return True
    return False


def orders_at_top(sql: str, dialect: str = "mysql") -> bool:
    """Whether the statement's outermost query has an ORDER BY (subquery ORDER BYs do not count)."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return False
    return tree.args.get("order") is not None


# -- exact-set match ---------------------------------------------------------------------------


def _strip(node: exp.Expression) -> str:
    node = node.copy()
    for column in node.find_all(exp.Column):
        column.set("table", None)  # aliases differ between writers; the column name is what matters
    if isinstance(node, exp.Alias):
        node = node.this
    return node.sql("mysql", normalize=True).lower()


def _conjuncts(node: exp.Expression | None) -> frozenset[str]:
    if node is None:
        return frozenset()
    return (
        frozenset(_strip(part) for part in node.this.flatten() if part is not None)
        if isinstance(node.this, exp.And)
        else frozenset({_strip(node.this)})
    )


def components(sql: str, dialect: str = "mysql") -> dict[str, Any] | None:
    """The clauses of a query as comparable sets, or None if it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return None
    if not isinstance(tree, exp.Select):
        return {"sql": tree.sql("mysql", normalize=True).lower()}
    group = tree.args.get("group")
    order = tree.args.get("order")
    limit = tree.args.get("limit")
    return {
        "select": frozenset(_strip(e) for e in tree.expressions),
        "tables": frozenset(t.name.lower() for t in tree.find_all(exp.Table)),
        "where": _conjuncts(tree.args.get("where")),
        "group": frozenset(_strip(e) for e in group.expressions) if group else frozenset(),
        "having": _conjuncts(tree.args.get("having")),
        "order": tuple(_strip(e) for e in order.expressions) if order else (),
        "limit": _strip(limit) if limit else None,
        "distinct": tree.args.get("distinct") is not None,
    }


def exact_set_match(gold: str, pred: str) -> bool:
    """Spider-style exact-set match: the same clauses as sets, after sqlglot normalisation."""
    a, b = components(gold), components(pred)
    return a is not None and a == b


# -- summaries ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _rate(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return round(sum(flags) / len(flags), 4) if flags else None


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures of a run from its per-question records."""
    answerable = [r for r in records if r["gold_sql"] is not None]
    declines = [r for r in records if r["gold_sql"] is None]
    attempted = [r for r in answerable if r["outcome"] not in ("error",)]
    guard_checks = sum(r["guard_checks"] for r in records)
    steps: dict[str, list[float]] = {}
    for r in records:
        for name, times in r["steps_ms"].items():
            steps.setdefault(name, []).extend(times)
    totals = [r["total_ms"] for r in records]
    with_recall = [r["table_recall"] for r in answerable if r["table_recall"] is not None]
    return {
        "questions": len(records),
        "answerable": len(answerable),
        "should_decline": len(declines),
        "accuracy": _rate(r["correct"] for r in records),
        "execution_accuracy": _rate(r["correct"] for r in answerable),
        "exact_set_match": _rate(r["exact_match"] for r in answerable),
        "valid_sql_rate": _rate(r["valid_sql"] for r in attempted),
        "first_try_valid_rate": _rate(r["valid_sql"] and r["repairs"] == 0 for r in attempted),
        "guard_rejection_rate": round(sum(r["guard_rejections"] for r in records) / guard_checks, 4)
        if guard_checks
        else None,
        "repairs_used": sum(r["repairs"] for r in records),
        "questions_repaired": sum(1 for r in records if r["repairs"] > 0),
        "correct_declines": _rate(r["outcome"] == "declined" for r in declines),
        "false_declines": _rate(r["outcome"] == "declined" for r in answerable),
        "errors": sum(1 for r in records if r["outcome"] == "error"),
        "table_recall": round(statistics.fmean(with_recall), 4) if with_recall else None,
        "latency_ms": {
            "total": _latency(totals),
            **{name: _latency(times) for name, times in sorted(steps.items())},
        },
        "tokens": {
            "prompt": sum(r["tokens"]["prompt"] for r in records),
            "completion": sum(r["tokens"]["completion"] for r in records),
        },
        "model_calls": _calls_ended(records),
        "by_category": _by(records, "category"),
        "by_difficulty": _by(records, "difficulty"),
    }


def _calls_ended(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The SQL calls of a run and how many ran to their budget (``cut``) or were stopped as loops."""
    stops = [stop for r in records for stop in r.get("stops", ())]  # older results files have none
    return {
        "calls": len(stops),
        "cut": sum(1 for stop in stops if stop == "length"),
        "looped": sum(1 for stop in stops if stop == "loop"),
    }


def _latency(values: Sequence[float]) -> dict[str, float | None]:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    return {
        "p50": None if p50 is None else round(p50, 2),
        "p95": None if p95 is None else round(p95, 2),
        "n": len(values),
    }


def _by(records: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = {}
    for r in records:
        groups.setdefault(r[key], []).append(r["correct"])
    return {k: {"n": len(v), "accuracy": _rate(v)} for k, v in sorted(groups.items())}
