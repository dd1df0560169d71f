"""A column written by its Chinese comment (SELECT 粉丝) is refused with the column it names."""

from __future__ import annotations

import pytest

from askdb.schemas.catalog import packaged_catalog
from askdb.sql.context import GuardContext
from askdb.sql.guard import check


@pytest.mark.parametrize(
    ("sql", "suggested"),
    [
        ("SELECT 粉丝 FROM ads_account", "`fans` (粉丝数)"),
        ("SELECT a.昵称 FROM ads_account a", "`nickname` (达人昵称)"),
        ("SELECT 点赞 FROM ads_summary", "`star` (点赞数量)"),
        ("SELECT c.预算 FROM ads_campaign c JOIN ads_account a ON a.account = c.account", "`budget` (预算"),
    ],
)
def test_a_chinese_name_gets_the_column_whose_comment_it_is(sql, suggested):
    verdict = check(sql, GuardContext(catalog=packaged_catalog()))
    assert not verdict.ok
    message = verdict.violations[0].message
    assert "did you mean" in message and suggested in message, message


def test_an_unrelated_chinese_name_gets_no_guess():
    verdict = check("SELECT 天气 FROM ads_account", GuardContext(catalog=packaged_catalog()))
    assert not verdict.ok and "did you mean" not in verdict.violations[0].message


def test_a_statement_nested_past_the_parser_s_depth_is_refused_not_a_crash():
    # A tuned model that never stops may write ((((... until its reply is cut: the guard must answer.
    sql = "SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM ads_account"
    verdict = check(sql, GuardContext(catalog=packaged_catalog()))
    assert not verdict.ok and verdict.violations[0].rule == "syntax"
    assert "nests too deeply" in verdict.violations[0].message
