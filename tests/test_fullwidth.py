"""Full-width punctuation from a Chinese keyboard in SQL: ASCII outside strings, untouched inside."""

from __future__ import annotations

import pytest

from askdb.schemas.catalog import packaged_catalog
from askdb.sql.context import GuardContext
from askdb.sql.fullwidth import ascii_punctuation
from askdb.sql.guard import check


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("SELECT nickname，fans FROM ads_account", "SELECT nickname,fans FROM ads_account"),
        ("SELECT COUNT（*） FROM ads_account；", "SELECT COUNT(*) FROM ads_account;"),
        (
            "SELECT fans FROM ads_account WHERE city = ‘上海’",
            "SELECT fans FROM ads_account WHERE city = '上海'",
        ),
        (
            "SELECT fans FROM ads_account WHERE city = “上海”",
            'SELECT fans FROM ads_account WHERE city = "上海"',
        ),
        (
            "SELECT title FROM ads_material WHERE title LIKE '%，（%'",
            "SELECT title FROM ads_material WHERE title LIKE '%，（%'",
        ),
        ("SELECT 'it''s，' ，1", "SELECT 'it''s，' ,1"),
        ("SELECT `a，b` FROM t", "SELECT `a，b` FROM t"),
        ("SELECT 'a\\'，' ，2", "SELECT 'a\\'，' ,2"),
        ("SELECT 'it’s' ，1", "SELECT 'it’s' ,1"),  # a full-width quote inside an ASCII string stays
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_ascii_punctuation(typed, meant):
    assert ascii_punctuation(typed) == meant


def test_the_guard_reads_full_width_punctuation_and_runs_ascii_sql():
    typed = (
        "SELECT nickname，fans FROM ads_account WHERE city = ‘上海’ AND fans > （1000） ORDER BY fans DESC；"
    )
    verdict = check(typed, GuardContext(catalog=packaged_catalog()))
    assert verdict.ok, verdict.violations
    assert verdict.sql == (
        "SELECT nickname, fans FROM ads_account WHERE city = '上海' AND fans > (1000) ORDER BY fans DESC LIMIT 10"
    )
    inside = check(
        "SELECT title FROM ads_material WHERE title LIKE '%，%'", GuardContext(catalog=packaged_catalog())
    )
    assert inside.ok and "'%，%'" in inside.sql
