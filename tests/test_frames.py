"""NULL is an empty cell in every table and null in every JSON, whatever pandas made of it."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from askdb.analyst import markdown_table
from askdb.cli import main
from askdb.events import Answer
from askdb.frames import plain_rows

# An INT column with a NULL (pandas: float64 with NaN), a text column with a NULL (pandas 3: a str
# column with NaN), a real float column with a NULL, and a date column with a NULL (NaT).
MIXED = "SELECT account, CASE WHEN fans > 100000 THEN fans END AS f, CASE WHEN fans > 100000 THEN city END AS c, CASE WHEN fans > 100000 THEN fans * 1.5 END AS g FROM ads_account ORDER BY fans DESC"


def _strict_json(text: str):
    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_plain_rows_and_markdown_show_null_as_nothing():
    frame = pd.DataFrame(
        [("a", 170732, "南京", 1.5, pd.Timestamp("2025-03-01")), ("b", None, None, None, None)],
        columns=["k", "n", "city", "x", "day"],
    )
    frame["day"] = pd.to_datetime(frame["day"])
    assert frame["n"].dtype.kind == "f" and math.isnan(frame["city"].iloc[1])  # what pandas makes of NULL
    rows = plain_rows(frame)
    assert rows[1] == ["b", None, None, None, None]
    assert rows[0][1] == 170732 and isinstance(rows[0][1], int)  # the INT the database returned
    assert rows[0][3] == 1.5
    table = markdown_table(frame)
    assert "nan" not in table.lower() and "NaT" not in table and "None" not in table
    assert table.splitlines()[-1].replace(" ", "") == "|b|||||"


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    from askdb.schemas.load import build_sqlite

    return f"sqlite:///{build_sqlite(tmp_path_factory.mktemp('nulls') / 'ads.db', scale=0.01)}"


def test_sql_run_json_is_json_and_its_table_has_no_nan(demo_url):
    result = CliRunner().invoke(main, ["sql", "run", MIXED, "--db", demo_url, "--json"])
    assert result.exit_code == 0, result.output
    data = _strict_json(result.output)
    assert [None, None, None] in [row[1:] for row in data["rows"]]  # the query does return NULLs
    assert all(isinstance(row[1], int) for row in data["rows"] if row[1] is not None)
    table = CliRunner().invoke(main, ["sql", "run", MIXED, "--db", demo_url])
    assert table.exit_code == 0 and "nan" not in table.output.lower()


def test_an_answers_json_has_null_not_nan():
    frame = pd.DataFrame([("a", 1.0), ("b", None)], columns=["k", "v"])
    answer = Answer(question="q", outcome="answered", sql="SELECT 1", frame=frame)
    text = json.dumps(answer.to_dict(trace=False), ensure_ascii=False, default=str)
    assert _strict_json(text)["rows"] == [["a", 1], ["b", None]]


def test_the_chat_table_shows_null_as_an_empty_cell():
    from decimal import Decimal

    from askdb.ui.app import chart_frame, display_frame

    frame = pd.DataFrame(
        [("a", 170732, "南京", Decimal("1.50")), ("b", None, None, None), ("c", 5, "上海", Decimal("2"))],
        columns=["k", "n", "city", "amount"],
    )
    shown = display_frame(frame)
    assert shown.iloc[1].tolist() == ["b", None, None, None]
    assert shown.iloc[0].tolist() == ["a", 170732, "南京", 1.5]
    assert chart_frame(frame, {"type": "bar", "x": "k", "y": "n"})["n"].tolist() == [170732.0, 5.0]
