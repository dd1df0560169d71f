"""Reasoning/SQL extraction: every case of the packaged corpus, and the edges around it."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from askdb.llm.extract import NoSql, SqlFound, extract, extract_sql, split_reasoning


def _corpus() -> list[dict]:
    text = files("askdb.llm").joinpath("data/extraction_corpus.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


CORPUS = _corpus()


def test_corpus_is_broad() -> None:
    assert len(CORPUS) >= 60
    assert len({c["id"] for c in CORPUS}) == len(CORPUS)
    assert sum(c["sql"] is None for c in CORPUS) >= 8  # declines and prose are part of it


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_case(case: dict) -> None:
    result = extract(case["reply"])
    if case["sql"] is None:
        assert isinstance(result.outcome, NoSql), result.outcome
        assert case["reason"] in result.outcome.reason
        assert result.outcome.text == result.answer
    else:
        assert isinstance(result.outcome, SqlFound), result.outcome
        assert result.outcome.sql == case["sql"]
        if "source" in case:
            assert result.outcome.source == case["source"]
    if "reasoning" in case:
        assert result.reasoning == case["reasoning"]


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [
        ("<think>a</think>b", "a", "b"),
        ("a</think>b", "a", "b"),  # R1 distills omit the opening tag
        ("<think>still going", "still going", ""),
        ("<think></think>\n\nSELECT 1", "", "SELECT 1"),
        ("  \n<think>\n  x \n</think>\n\n  y  \n", "x", "y"),
        ("no tags at all", "", "no tags at all"),
        ("lead <think>r</think> tail", "r", "lead  tail"),
        ("<think>r</think>done<|im_end|>", "r", "done"),
    ],
)
def test_split_reasoning(text: str, reasoning: str, answer: str) -> None:
    assert split_reasoning(text) == (reasoning, answer)


def test_decline_is_typed_never_sql() -> None:
    outcome = extract_sql("抱歉,无法根据提供的表回答")
    assert outcome == NoSql("the model declined to write SQL", "抱歉,无法根据提供的表回答")


def test_unfinished_reasoning_is_no_sql() -> None:
    result = extract("<think>先看ads_summary表 SELECT")
    assert isinstance(result.outcome, NoSql)
    assert "still reasoning" in result.outcome.reason
    assert result.reasoning.startswith("先看")


def test_sql_inside_reasoning_is_not_the_answer() -> None:
    result = extract("<think>SELECT * FROM ads_summary</think>我不确定。")
    assert isinstance(result.outcome, NoSql)


def test_results_are_frozen() -> None:
    outcome = extract_sql("SELECT 1")
    with pytest.raises(AttributeError):
        outcome.sql = "DROP TABLE x"  # type: ignore[misc]


def test_unparseable_candidate_is_still_returned() -> None:
    # The guard, not extraction, reports parse errors to the model.
    outcome = extract_sql("```sql\nSELECT FROM WHERE ads_summary\n```")
    assert outcome == SqlFound("SELECT FROM WHERE ads_summary", "```sql fence")


def test_different_statements_stay_together_for_the_guard() -> None:
    outcome = extract_sql("SELECT 1; SELECT 2;")
    assert isinstance(outcome, SqlFound)
    assert outcome.sql == "SELECT 1; SELECT 2"


def test_semicolon_inside_string_does_not_split() -> None:
    sql = "SELECT * FROM ads_summary WHERE `desc` = 'a;b' LIMIT 10"
    assert extract_sql(sql + ";\n\n这是查询。") == SqlFound(sql, "text")


@pytest.mark.parametrize("case", [c for c in CORPUS if c["sql"] is not None], ids=lambda c: c["id"])
def test_what_reaches_the_guard_opens_with_a_statement(case: dict) -> None:
    """Nothing that is not SQL goes to the guard as SQL: every found statement opens with a keyword."""
    import re

    sql = re.sub(r"^(?:\s*(?:--|#)[^\n]*\n)*", "", extract(case["reply"]).outcome.sql).lstrip("( \n")
    assert re.match(
        r"(?i)(SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE|SHOW|DESC)\b", sql
    )


@pytest.mark.parametrize(
    ("reply", "opened"),
    [
        ("<think>\n想一想\n</think>\n\n- 要点一\n- 要点二", False),
        ("想一想\n</think>\n\n- 要点", True),
        ("<think>想一想</think>- 要点", True),
        ("- 没有思考 <b>x</b> < 3", False),
        ("- 没有思考,也没有标签", True),
        ("<think>没想完", False),
        ("   <think>a</think>b", False),
    ],
)
def test_think_stream_splits_like_split_reasoning_at_every_chunk_boundary(reply, opened):
    from askdb.llm.extract import ThinkStream, split_reasoning

    reasoning, answer = split_reasoning(reply)
    for size in range(1, len(reply) + 1):
        stream, pieces = ThinkStream(opened=opened), []
        for start in range(0, len(reply), size):
            pieces += stream.feed(reply[start : start + size])
        pieces += stream.close()
        got_answer = "".join(t for k, t in pieces if k == "answer")
        got_reasoning = "".join(t for k, t in pieces if k == "reasoning")
        assert got_answer.strip() == answer, size
        if reasoning:
            assert got_reasoning.strip() == reasoning, size
        assert "<think>" not in got_answer and "</think>" not in got_answer
