"""From rows to an answer: the chart a result suits, and the markdown table."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from askdb.analyst import analyst_messages, chart_spec, markdown_table, number_text


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (
            pd.DataFrame({"platform": ["小红书", "抖音", "B站"], "fans": [3, 2, 1]}),
            {"type": "bar", "x": "platform", "y": "fans"},
        ),
        (
            pd.DataFrame(
                {"day": ["2025-03-01", "2025-03-02", None, "2025-03-04"], "cost": [1.5, 2.0, 0.5, 3.0]}
            ),
            {"type": "line", "x": "day", "y": "cost"},
        ),
        (
            pd.DataFrame(
                {"slot": ["2025-03-01 10:00 - 11:00", "2025-03-01 11:00 - 12:00"], "clicks": [4, 5]}
            ),
            {"type": "line", "x": "slot", "y": "clicks"},
        ),
        (
            pd.DataFrame({"brand": ["A", "B"], "roi": [Decimal("1.25"), Decimal("0.50")]}),
            {"type": "bar", "x": "brand", "y": "roi"},
        ),
        (
            pd.DataFrame({"budget": [1, 2, 3], "spent": [1, 1, 2]}),
            {"type": "bar", "x": "budget", "y": "spent"},
        ),
        (pd.DataFrame({"city": ["上海", "北京"], "note": ["x", "y"]}), None),  # nothing to measure
        (pd.DataFrame({"city": ["上海"], "n": [1]}), None),  # one row is not a chart
        (pd.DataFrame({"n": [1, 2]}), None),
    ],
)
def test_chart_spec_follows_the_data(frame: pd.DataFrame, expected) -> None:
    assert chart_spec(frame) == expected


def test_a_thousand_rows_are_judged_from_a_sample() -> None:
    frame = pd.DataFrame({"day": [None] * 3 + ["2025-03-01"] * 997, "n": range(1000)})
    assert chart_spec(frame) == {"type": "line", "x": "day", "y": "n"}


def test_markdown_table_keeps_numbers_readable() -> None:
    table = markdown_table(pd.DataFrame({"达人": ["小美"], "粉丝": [2026000.0], "ctr": [0.01234]}))
    assert "202.60万" in table and "e+" not in table and "0.01234" in table


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.23456, "1.23"),
        (Decimal("1.23456"), "1.23"),  # MariaDB's AVG: the same text as SQLite's float
        (0.012345, "0.01235"),
        (2024, "2024"),
        (12345, "12,345"),
        (12345.678, "12,345.68"),
        (99999, "99,999"),
        (100000, "10.00万"),
        (1234567, "123.46万"),
        (Decimal("123456789.5"), "1.23亿"),
        (-250000, "-25.00万"),
        (3.0, "3"),
        (1e20, "1,000,000,000,000.00亿"),
    ],
)
def test_numbers_read_the_chinese_way_with_one_rule_for_both_engines(value, text) -> None:
    assert number_text(value) == text


def test_ids_and_years_keep_their_digits_while_amounts_get_units() -> None:
    frame = pd.DataFrame(
        {"material_id": [1234567], "year": [2025], "spend": [Decimal("1234567.891")], "fans": [None]}
    )
    table = markdown_table(frame, {"spend": "消耗", "fans": "粉丝数"})
    header, _, row = table.splitlines()
    assert [h.strip() for h in header.strip("|").split("|")] == ["material_id", "year", "消耗", "粉丝数"]
    assert [c.strip() for c in row.strip("|").split("|")] == ["1234567", "2025", "123.46万", ""]


def test_the_analyst_prompt_reuses_the_rendered_table() -> None:
    frame = pd.DataFrame({"platform": ["小红书", "抖音"], "n": [2, 1]})
    table = markdown_table(frame)
    given = analyst_messages("各平台达人数", "SELECT 1", frame, truncated=False, table=table)
    made = analyst_messages("各平台达人数", "SELECT 1", frame, truncated=False)
    assert given == made and table in given[-1].content


def test_a_sorted_top_n_keeps_its_order_in_the_bar_chart() -> None:
    """A top-N like 点赞最多的10篇笔记 keeps the ORDER BY order, not the plot's sort by label (the biggest bar came ninth)."""
    from askdb.ui.app import bar_order, chart_frame

    frame = pd.DataFrame({"title": [f"笔记{i}" for i in (9, 2, 10, 1)], "likes": [900, 800, 700, 600]})
    spec = chart_spec(frame, ordered=True)
    assert spec == {"type": "bar", "x": "title", "y": "likes", "order": "rows"}
    data = chart_frame(frame, spec)
    assert bar_order(data, spec) == ["笔记9", "笔记2", "笔记10", "笔记1"]  # the biggest bar first
    assert bar_order(data, chart_spec(frame)) is None  # no ORDER BY: the plot's own sort
    days = pd.DataFrame({"day": ["2025-03-02", "2025-03-01"], "n": [1, 2]})
    assert chart_spec(days, ordered=True) == {"type": "line", "x": "day", "y": "n"}  # time runs in order
