"""Forgiving input (issue 17, item 13): full-width punctuation in a question, and value matching that
finds 小红书 for 小紅書 (traditional), 红书 (an abbreviation) and xhs (pinyin initials), never a guess."""

from __future__ import annotations

import pytest

from askdb.rag.documents import ColumnValues
from askdb.rag.text import normalise_question
from askdb.rag.values import ValueHit, ValueMatcher

PLATFORMS = ColumnValues("ads_account", "platform", ("小红书", "抖音", "快手", "B站"))
STATUS = ColumnValues("ads_campaign", "status", ("投放中", "已结束", "已暂停"))


@pytest.mark.parametrize(
    "question", ["小紅書上粉丝最多的达人", "红书上粉丝最多的达人", "xhs上粉丝最多的达人", "XHS 的达人"]
)
def test_traditional_abbreviated_and_initials_find_the_value(question):
    assert ValueMatcher([PLATFORMS]).match(question) == [ValueHit("ads_account", "platform", "小红书")]


def test_an_ambiguous_abbreviation_or_initials_match_nothing():
    # 红书 is a piece of both values, dy the initials of both: either would be a guess
    matcher = ValueMatcher([ColumnValues("ads_account", "nickname", ("小红书", "红书网", "抖音", "大鱼"))])
    assert matcher.match("红书的达人") == []
    assert matcher.match("dy的达人") == []
    assert matcher.match("红书网的达人") == [
        ValueHit("ads_account", "nickname", "红书网")
    ]  # exact still wins


def test_a_schema_word_is_not_taken_for_a_piece_of_a_value():
    matcher = ValueMatcher([STATUS], reserved=["结束", "日期"])
    assert matcher.match("结束日期在三月的计划") == []
    assert matcher.match("暂停的计划") == [ValueHit("ads_campaign", "status", "已暂停")]


def test_short_and_ascii_pieces_stay_out():
    matcher = ValueMatcher([PLATFORMS])
    assert matcher.match("抖的达人") == []  # one character of 抖音 is no abbreviation
    assert matcher.match("study xhsx") == []  # initials stand as a word, like ASCII values


def test_full_width_punctuation_and_letters_are_read_as_ascii():
    assert (
        normalise_question("小红书，粉丝最多的（前5个）达人；Ｂ站呢？")
        == "小红书,粉丝最多的(前5个)达人;B站呢?"
    )


@pytest.fixture(scope="module")
def retriever(demo_retrieval_parts):
    return demo_retrieval_parts["retriever"]


@pytest.mark.parametrize(
    "question", ["小紅書上粉丝最多的达人", "红书上粉丝最多的达人", "xhs上粉丝最多的达人"]
)
def test_retrieval_shows_the_value_in_the_sql_context(retriever, question):
    result = retriever.retrieve(question, k=3)
    assert ("ads_account", "platform", "小红书") in {(v.table, v.column, v.value) for v in result.values}
    assert "ads_account" in result.table_names
    account = next(s.text for s in result.sections if s.kind == "table" and s.name == "ads_account")
    platform = next(line for line in account.splitlines() if line.startswith("platform "))
    assert "'小红书'" in platform


def test_the_demo_schema_keeps_end_date_apart_from_the_ended_status(retriever):
    assert "结束" in retriever.index.schema_words  # the comment of end_date
    hits = retriever.index.matcher.match("结束日期在三月的计划")
    assert all(h.value != "已结束" for h in hits)


def test_a_full_width_question_retrieves_what_its_ascii_twin_does(retriever):
    full = retriever.retrieve("小红书，粉丝最多的（前5个）达人", k=3)
    ascii_ = retriever.retrieve("小红书,粉丝最多的(前5个)达人", k=3)
    assert full.table_names == ascii_.table_names and full.values == ascii_.values
    assert full.question == "小红书，粉丝最多的（前5个）达人"  # as asked
