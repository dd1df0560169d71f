"""Dates: today and each time column's range of data in the SQL prompt, and an empty result that says
which days the data covers (issue 17, item 9). The clock is always passed in, never read."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from sqlalchemy import text

from askdb.analyst import EMPTY_RESULT, empty_result_text
from askdb.assistant import Assistant
from askdb.db import make_engine
from askdb.prompts.fit import fit_prompt
from askdb.rag.dates import DateRange, date_lines, ranges_missed, relative_periods
from askdb.rag.retriever import ContextSection
from askdb.rag.store import IndexStore
from askdb.rag.values import sample_values
from askdb.schemas.catalog import packaged_catalog
from askdb.testing.scripted import ScriptedFakeLLM

TODAY = date(2025, 5, 14)  # a Wednesday, six weeks after the demo data's last day


def _days(url: str, sql: str) -> tuple[str, str]:
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            first, last = conn.execute(text(sql)).one()
    finally:
        engine.dispose()
    return str(first)[:10], str(last)[:10]


def _ranges(url: str) -> dict[tuple[str, str], tuple[str, str]]:
    engine = make_engine(url, read_only=True)
    try:
        values = sample_values(engine, packaged_catalog())
    finally:
        engine.dispose()
    return {(v.table, v.column): v.date_range for v in values if v.date_range}


def test_ranges_come_from_the_data_on_sqlite_and_mariadb(small_demo):
    path, mysql = small_demo
    sqlite = f"sqlite:///{path}"
    lite, maria = _ranges(sqlite), _ranges(mysql)
    expected = _days(sqlite, "SELECT MIN(create_time), MAX(create_time) FROM ads_summary")
    assert lite[("ads_summary", "create_time")] == expected
    assert maria[("ads_summary", "create_time")] == _days(
        mysql, "SELECT MIN(create_time), MAX(create_time) FROM ads_summary"
    )
    assert lite == maria  # date objects (MariaDB) and text (SQLite) read as the same days
    # every date-typed column, and time_slot: text, named for time, holding '2025-03-01 10:00 - 11:00'
    assert {
        ("ads_account", "created_at"),
        ("ads_campaign", "start_date"),
        ("ads_campaign", "end_date"),
        ("ads_order", "order_time"),
        ("ads_material_hourly", "time_slot"),
        ("ads_summary", "update_time"),
    } <= set(lite)
    assert ("ads_account", "city") not in lite


def test_ranges_are_kept_with_the_index(tmp_path, embedder, demo_retrieval_parts):
    index = demo_retrieval_parts["retriever"].index
    store = IndexStore(tmp_path / "index")
    store.save(index, notes_key="n")
    loaded = store.load(index.catalog, embedder)
    assert loaded.date_ranges == index.date_ranges
    assert ("ads_summary", "create_time") in loaded.date_ranges


def _assistant(parts, replies=(), **kwargs) -> tuple[Assistant, ScriptedFakeLLM]:
    llm = ScriptedFakeLLM(list(replies))
    assistant = Assistant(
        retriever=parts["retriever"],
        llm=llm,
        runner=parts["runner"],
        catalog=parts["catalog"],
        today=lambda: TODAY,
        **kwargs,
    )
    return assistant, llm


def test_the_prompt_for_last_month_has_today_and_the_tables_date_ranges(demo_retrieval_parts, small_demo):
    assistant, _ = _assistant(demo_retrieval_parts)
    question = "上个月点赞最多的笔记"
    retrieval = assistant.retriever.retrieve(question, assistant.k)
    fitted = assistant.fit(question, retrieval)
    prompt = fitted.messages[-1].content
    assert "今天是 2025-05-14(星期三)" in prompt
    assert "上个月:2025-04-01 至 2025-04-30" in prompt
    first, last = _days(
        f"sqlite:///{small_demo[0]}", "SELECT MIN(create_time), MAX(create_time) FROM ads_summary"
    )
    assert f"create_time {first} 至 {last}" in prompt
    line = next(s for s in fitted.kept if s.kind == "date" and s.name == "ads_summary")
    assert line.text.startswith("-- ads_summary 数据的时间范围:") and line.text in prompt
    # the dates come after the context, before the question: the tables stay a shared prefix
    assert prompt.index("</context>") < prompt.index("今天是") < prompt.index(question)
    assert any(r.table == "ads_summary" and r.column == "create_time" for r in retrieval.ranges)


def test_a_question_without_a_relative_period_gets_today_only():
    assert date_lines("点赞最多的笔记", TODAY) == ["今天是 2025-05-14(星期三);问题里的相对时间按这一天换算。"]
    assert date_lines("点赞最多的笔记", None) == []
    periods = {w: (a.isoformat(), b.isoformat()) for w, a, b in relative_periods("最近7天和去年", TODAY)}
    assert periods == {"最近7天": ("2025-05-08", "2025-05-14"), "去年": ("2024-01-01", "2024-12-31")}
    assert relative_periods("近三个月", date(2025, 3, 31))[0][1] == date(2025, 1, 1)


def test_date_ranges_are_trimmed_after_notes_and_before_any_table():
    sections = [
        ContextSection("table", "ads_summary", "# ads_summary " + "x" * 60, needed=True, rank=0),
        ContextSection("table", "ads_account", "# ads_account " + "x" * 60, rank=1),
        ContextSection("date", "ads_summary", "-- ads_summary 数据的时间范围: create_time ...", rank=2),
        ContextSection("date", "ads_account", "-- ads_account 数据的时间范围: created_at ...", rank=3),
        ContextSection("note", "gmv", "GMV " + "x" * 60, rank=4),
    ]

    def chat(kept):
        from askdb.llm.base import Message

        return [Message("user", "\n\n".join(s.text for s in kept))]

    def count(messages):
        return len(messages[0].content), "estimate"

    full = count(chat(sections))[0]
    fitted = fit_prompt(sections, chat, count, limit=full - 120)
    assert [(t["kind"], t["name"]) for t in fitted.trimmed] == [
        ("note", "gmv"),
        ("date", "ads_account"),
        ("date", "ads_summary"),
    ]
    assert {s.name for s in fitted.kept} == {"ads_summary", "ads_account"}


def test_a_small_retrieval_budget_keeps_no_range_without_its_table(demo_retrieval_parts):
    from dataclasses import replace

    from askdb.rag.retriever import HybridRetriever

    base = demo_retrieval_parts["retriever"]
    tight = HybridRetriever(base.index, base.embedder, replace(base.config, budget_tokens=1))
    result = tight.retrieve("上个月各平台的订单金额", k=3)
    shown = {t.name for t in result.tables}
    assert {r.table for r in result.ranges} <= shown
    assert all(s.name in shown for s in result.sections if s.kind == "date")


EMPTY_APRIL = "SELECT `desc`, star FROM ads_summary WHERE create_time >= '2025-04-01' AND create_time < '2025-05-01' LIMIT 10"


def test_an_empty_result_outside_the_data_says_which_days_it_covers(demo_retrieval_parts, small_demo):
    assistant, llm = _assistant(demo_retrieval_parts, [f"```sql\n{EMPTY_APRIL}\n```"])
    # asked as written (the chosen "仍按上个月" option): the question back is tests/test_clarify.py's
    answer = assistant.ask("上个月点赞最多的笔记", clarify=False)
    first, last = _days(
        f"sqlite:///{small_demo[0]}", "SELECT MIN(create_time), MAX(create_time) FROM ads_summary"
    )
    assert answer.outcome == "empty" and len(llm.calls) == 1  # still no analyst call
    assert answer.analysis == f"没有查询到相关数据。ads_summary.create_time 的数据范围是 {first} 至 {last}。"


def test_an_empty_result_inside_the_data_is_only_empty(demo_retrieval_parts):
    inside = (
        "SELECT id FROM ads_summary WHERE account = 'nobody' AND create_time >= '2025-02-01' "
        "AND create_time < '2025-03-01' LIMIT 10"
    )
    assistant, _ = _assistant(demo_retrieval_parts, [f"```sql\n{inside}\n```"])
    answer = assistant.ask("nobody 二月的笔记")
    assert answer.outcome == "empty" and answer.analysis == EMPTY_RESULT


RANGES = [
    DateRange("ads_summary", "create_time", "2025-01-01", "2025-03-31"),
    DateRange("ads_order", "order_time", "2025-01-04", "2025-03-31"),
]


@pytest.mark.parametrize(
    "where, missed",
    [
        ("create_time >= DATE_SUB(CURDATE(), INTERVAL 7 DAY)", ["ads_summary"]),
        (
            "DATE_FORMAT(s.create_time, '%Y-%m') = DATE_FORMAT(CURDATE() - INTERVAL 1 MONTH, '%Y-%m')",
            ["ads_summary"],
        ),
        ("create_time BETWEEN '2025-02-01' AND '2025-02-28 23:59:59'", []),
        ("YEAR(create_time) = 2024", ["ads_summary"]),
        ("create_time LIKE '2025-03%'", []),
        ("'2025-04-01' <= s.create_time", ["ads_summary"]),
        ("create_time < '2025-01-01'", ["ads_summary"]),
        ("create_time < '2025-01-02'", []),
        ("o.order_time >= NOW() - INTERVAL 2 WEEK", ["ads_order"]),
        ("s.account = 'x'", []),
    ],
)
def test_the_period_a_where_keeps(where, missed):
    sql = f"SELECT 1 FROM ads_summary s JOIN ads_order o ON 1 = 1 WHERE {where}"
    tree = sqlglot.parse_one(sql, read="mysql")
    assert [r.table for r in ranges_missed(tree, RANGES, TODAY)] == missed


def test_an_unreadable_period_names_the_range_rather_than_nothing():
    tree = sqlglot.parse_one("SELECT 1 FROM ads_order WHERE order_time > some_udf(3)", read="mysql")
    assert empty_result_text(tree, RANGES, TODAY) == (
        "没有查询到相关数据。ads_order.order_time 的数据范围是 2025-01-04 至 2025-03-31。"
    )
    assert empty_result_text(None, RANGES, TODAY) == EMPTY_RESULT


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("GMV每个月比上个月涨了多少", []),  # month over month: no period is asked about
        ("销售额环比上月增长多少", []),
        ("上个月比上上个月多卖了多少", ["上个月"]),
        ("上个月的订单", ["上个月"]),
    ],
)
def test_a_comparison_with_last_month_is_no_period(question, named):
    from datetime import date

    from askdb.rag.dates import relative_periods

    assert [w for w, _, _ in relative_periods(question, date(2026, 12, 4))] == named
