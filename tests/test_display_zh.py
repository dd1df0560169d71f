"""What a Chinese-speaking analyst reads: headers from column comments, Chinese leads on refusals and
errors, "正在修正" only when another attempt follows, syntax errors without parser internals."""

from __future__ import annotations

import pytest
import sqlglot

from askdb.assistant import Assistant
from askdb.cli_render import render_stream
from askdb.db import make_engine
from askdb.errors import DatabaseUnreachable, LLMUnavailable, NoAnswer
from askdb.events import SqlRejected
from askdb.schemas.catalog import packaged_catalog
from askdb.sql.context import GuardContext
from askdb.sql.guard import check
from askdb.sql.labels import column_labels, short_comment
from askdb.sql.runner import SqlAlchemyRunner
from askdb.testing.scripted import ScriptedFakeLLM
from tests.test_assistant import FakeRetriever

CATALOG = packaged_catalog()


def labels(sql: str) -> dict[str, str]:
    return column_labels(sqlglot.parse_one(sql, read="mysql"), CATALOG)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT nickname, fans, platform FROM ads_account",
            {"nickname": "达人昵称", "fans": "粉丝数", "platform": "所在平台"},
        ),
        ("SELECT fans AS 粉丝, city FROM ads_account", {"city": "所在城市"}),  # the SQL's own name wins
        ("SELECT platform, COUNT(*) FROM ads_campaign GROUP BY platform", {"platform": "投放平台"}),
        # both tables have platform: the bare name is ambiguous, the qualified one is not
        (
            "SELECT c.platform, budget FROM ads_campaign c JOIN ads_account a ON c.account = a.account",
            {"platform": "投放平台", "budget": "预算"},
        ),
        ("SELECT city FROM ads_account UNION SELECT nickname FROM ads_account", {"city": "所在城市"}),
        ("SELECT * FROM ads_account", {}),
        ("SELECT x.n FROM (SELECT COUNT(*) AS n FROM ads_account) x", {}),
    ],
)
def test_headers_come_from_column_comments_where_the_sql_named_none(sql, expected):
    assert labels(sql) == expected


def test_a_comment_gives_its_name_without_the_asides():
    assert short_comment("所在平台:小红书/抖音/快手/B站") == "所在平台"
    assert short_comment("预算,元") == "预算"
    assert short_comment("达人账号,与ads_summary.account对应") == "达人账号"
    assert short_comment("") == ""


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM ads_summary WHERE (", "SELECT * FROM ads_summary WHERE x = = 1", "SELECT 'abc"],
)
def test_syntax_errors_say_where_without_parser_class_names(sql):
    verdict = check(sql, GuardContext(catalog=CATALOG))
    [violation] = verdict.violations
    assert violation.rule == "syntax"
    assert "<class" not in violation.message and "sqlglot" not in violation.message
    assert "Required keyword" not in violation.message and "Error tokenizing" not in violation.message
    assert "near `" in violation.message or "not closed" in violation.message


def test_errors_lead_in_chinese_and_keep_the_exact_fix():
    line = LLMUnavailable(
        "nothing answers at http://127.0.0.1:9", hint="start it with `ollama serve`"
    ).person_line()
    assert line == "连接不上模型服务:nothing answers at http://127.0.0.1:9 — start it with `ollama serve`"
    assert DatabaseUnreachable("x").person_line().startswith("连接不上数据库:")
    assert SqlRejected(
        "SELECT 1", violations=({"rule": "functions", "message": "SLEEP() is not allowed"},)
    ).zh_reason == ("不允许使用这个函数(SLEEP() is not allowed)")


@pytest.fixture(scope="module")
def runner(small_demo):
    path, _ = small_demo
    return SqlAlchemyRunner(make_engine(f"sqlite:///{path}", read_only=True), timeout_s=5)


def _terminal(
    capsys, runner, replies: list[str], attempts: int
) -> tuple[list[SqlRejected], str, Exception | None]:
    """The events of one question, what ``askdb ask`` printed on stderr for them, and the error it ended in."""
    assistant = Assistant(
        retriever=FakeRetriever(),
        llm=ScriptedFakeLLM(replies),
        runner=runner,
        catalog=CATALOG,
        max_attempts=attempts,
    )
    seen: list = []
    failed: list[Exception] = []

    def events():
        try:
            for event in assistant.stream("粉丝最多的达人"):
                seen.append(event)
                yield event
        except NoAnswer as exc:
            failed.append(exc)

    try:
        render_stream(events())
    except AssertionError:  # no Finished event: the workflow ended in NoAnswer
        pass
    printed = capsys.readouterr().err
    return [e for e in seen if isinstance(e, SqlRejected)], printed, failed[0] if failed else None


def test_only_a_refusal_that_another_attempt_follows_says_it_is_being_corrected(capsys, runner):
    good = "```sql\nSELECT nickname, fans FROM ads_account ORDER BY fans DESC LIMIT 3\n```"
    rejected, printed, failed = _terminal(
        capsys, runner, ["```sql\nSELECT stars FROM ads_account\n```", good, "分析"], 2
    )
    assert failed is None and [e.retrying for e in rejected] == [True]
    assert "SQL 未通过,正在修正:表名或列名不存在(unknown column `stars`" in printed


def test_the_last_refusal_does_not_promise_a_correction(capsys, runner):
    rejected, printed, failed = _terminal(
        capsys, runner, ["```sql\nSELECT stars FROM ads_account\n```"] * 2, 2
    )
    assert isinstance(failed, NoAnswer)
    assert [e.retrying for e in rejected] == [True, False]
    assert rejected[-1].payload()["retrying"] is False
    assert printed.count("正在修正") == 1 and printed.count("SQL 未通过:表名或列名不存在") == 1
