"""Eval metrics and the question set: result comparison edge cases, exact-set match, splits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from askdb.eval.dataset import load_ads_questions, near_duplicates, split_of
from askdb.eval.metrics import exact_set_match, orders_at_top, percentile, results_match
from askdb.schemas.catalog import packaged_catalog
from askdb.schemas.knowledge import packaged_examples
from askdb.sql.context import GuardContext
from askdb.sql.guard import check


def frame(rows, columns=None):
    return pd.DataFrame(rows, columns=columns or [f"c{i}" for i in range(len(rows[0]))] if rows else columns)


def test_floats_match_within_tolerance_and_decimal_equals_float():
    assert results_match(
        frame([[Decimal("0.0452")]]), frame([[0.04522684634317817]])
    )  # MariaDB's 4-decimal division
    assert results_match(frame([[1, 2.5]]), frame([[1.0, Decimal("2.50")]]))
    assert not results_match(frame([[0.05]]), frame([[0.06]]))
    assert not results_match(frame([[1000.0]]), frame([[1001.0]]))


def test_order_matters_only_when_asked():
    a, b = frame([["x", 1], ["y", 2]]), frame([["y", 2], ["x", 1]])
    assert results_match(a, b) and not results_match(a, b, ordered=True)
    assert results_match(a, a, ordered=True)


def test_multisets_count_duplicates():
    assert not results_match(frame([[1], [1], [2]]), frame([[1], [2], [2]]))
    assert results_match(frame([[1], [1], [2]]), frame([[2], [1], [1]]))


def test_column_order_and_names_are_ignored_extra_columns_allowed():
    gold = pd.DataFrame({"brand": ["a", "b"], "gmv": [1.0, 2.0]})
    swapped = pd.DataFrame({"total": [2.0, 1.0], "name": ["b", "a"]})
    assert results_match(gold, swapped)
    wider = pd.DataFrame({"name": ["a", "b"], "n": [5, 6], "total": [1.0, 2.0]})
    assert results_match(gold, wider) and not results_match(gold, wider, extra_columns=False)
    assert not results_match(wider, gold)  # a missing gold column is wrong
    crossed = pd.DataFrame({"name": ["a", "b"], "total": [2.0, 1.0]})  # same columns, rows paired wrongly
    assert not results_match(gold, crossed)


def test_rows_within_tolerance_that_sort_apart_still_match():
    gold = frame([[0.12345, "a"], [0.12346, "b"]])
    pred = frame([[0.123449, "a"], [0.123461, "b"]])
    assert results_match(gold, pred)


def test_dates_nulls_and_empty_results():
    assert results_match(frame([[date(2025, 3, 1), None]]), frame([["2025-03-01", None]]))
    assert results_match(frame([[datetime(2025, 3, 1, 10, 0)]]), frame([["2025-03-01 10:00:00"]]))
    assert not results_match(frame([[None]]), frame([[0]]))
    assert results_match(pd.DataFrame(columns=["a"]), pd.DataFrame(columns=["b"]))
    assert not results_match(frame([[1]]), pd.DataFrame(columns=["a"]))


def test_top_level_order_by_only():
    assert orders_at_top("SELECT a FROM t ORDER BY a")
    assert not orders_at_top("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3) x")
    assert orders_at_top("SELECT a FROM t UNION SELECT a FROM u ORDER BY a")


def test_exact_set_match_ignores_aliases_case_and_conjunct_order():
    gold = "SELECT a.account, fans FROM ads_account a WHERE platform = '抖音' AND fans > 10 ORDER BY fans DESC LIMIT 5"
    pred = "select account, fans AS f from ads_account where fans > 10 and platform = '抖音' order by fans desc limit 5"
    assert exact_set_match(gold, pred)
    assert not exact_set_match(gold, pred.replace("limit 5", "limit 10"))
    assert not exact_set_match(gold, "not sql at all (")


def test_percentile():
    assert percentile([], 50) is None and percentile([3.0], 95) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile(list(range(101)), 95) == 95


QUESTIONS = load_ads_questions()


def test_question_set_covers_what_analysts_ask():
    assert len(QUESTIONS) >= 150 and len({q.id for q in QUESTIONS}) == len(QUESTIONS)
    assert len({q.question for q in QUESTIONS}) == len(QUESTIONS)
    features = {f for q in QUESTIONS for f in q.features}
    wanted = {
        "filter",
        "aggregate",
        "topn_varchar",
        "date_range",
        "join",
        "group_having",
        "window",
        "reserved_desc",
        "followup",
        "decline",
    }
    assert wanted <= features
    assert sum(q.sql is None for q in QUESTIONS) >= 10
    assert all(q.previous for q in QUESTIONS if "followup" in q.features)
    joins = [len(set(q.sql.lower().split(" join "))) for q in QUESTIONS if q.sql and "join" in q.features]
    assert max(joins) >= 3  # joins across up to four tables


def test_split_is_deterministic_and_both_sides_are_used():
    assert all(q.split == split_of(q.id) for q in QUESTIONS)
    test = [q for q in QUESTIONS if q.split == "test"]
    assert 50 <= len(test) <= 100
    assert {f for q in test for f in q.features} >= {"decline", "followup", "window", "topn_varchar"}


def test_test_split_never_overlaps_train_or_verified_examples():
    test = [q.question for q in QUESTIONS if q.split == "test"]
    others = [q.question for q in QUESTIONS if q.split == "train"] + [e.question for e in packaged_examples()]
    assert not set(test) & set(others)
    assert near_duplicates(test, others) == []
    gold = {q.sql for q in QUESTIONS if q.split == "test"}
    assert not gold & {e.sql for e in packaged_examples()}


@pytest.mark.parametrize("q", [q for q in QUESTIONS if q.sql], ids=lambda q: q.id)
def test_every_gold_query_passes_the_guard(q):
    verdict = check(q.sql, GuardContext(packaged_catalog(), row_limit=10))
    assert verdict.ok, verdict.violations
