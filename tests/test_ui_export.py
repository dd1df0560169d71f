"""The chat's Excel download beside the CSV one: the same rows as the CSV on the first sheet, the
question and the SQL on the second; through the handler as Gradio calls it, and clicked in Chromium."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

pytest.importorskip("gradio")

from askdb.export import QUERY_SHEET, RESULT_SHEET
from tests.test_ui_chat import ANALYSIS, _chromium, chat_url  # noqa: F401 - chat_url is a fixture
from tests.test_ui_wiring import _demo, _fn

NULLS = "SELECT NULLIF(platform, '小红书') AS platform, COUNT(*) AS n FROM ads_account GROUP BY platform"


def _sheet(path: Path, name: str) -> list[list]:
    return [[c.value for c in row] for row in openpyxl.load_workbook(path)[name].iter_rows()]


def test_the_excel_download_has_the_csv_rows_and_the_sql(demo_retrieval_parts, tmp_path):
    demo, _ = _demo(demo_retrieval_parts, tmp_path, [NULLS, "- 分析"])
    ask = _fn(demo, "ask")
    updates = list(ask.fn("各平台的达人数量", [], [], {}, {}, None))
    assert all("askdb-xlsx" not in {b.elem_id for b in u} for u in updates[:-1])  # only once answered
    final = {block.elem_id or block._id: value for block, value in updates[-1].items()}
    excel, download = final["askdb-xlsx"], final["askdb-csv"]
    assert excel["visible"] and excel["value"].endswith(".xlsx")
    rows = _sheet(Path(excel["value"]), RESULT_SHEET)
    with open(download["value"], encoding="utf-8-sig", newline="") as handle:
        csv_rows = list(csv.reader(handle))
    assert rows[0] == csv_rows[0] == ["platform", "n"] and len(rows) == len(csv_rows) > 2
    assert [["" if v is None else str(v) for v in row] for row in rows] == csv_rows  # NULL empty in both
    assert None in [row[0] for row in rows[1:]]
    [question, sql] = _sheet(Path(excel["value"]), QUERY_SHEET)
    assert question == ["问题", "各平台的达人数量"] and sql[0] == "SQL" and sql[1].startswith(NULLS)


def test_an_answer_without_rows_hides_the_excel_download(demo_retrieval_parts, tmp_path):
    none = "SELECT platform FROM ads_account WHERE platform = '不存在的平台'"
    demo, _ = _demo(demo_retrieval_parts, tmp_path, [none])
    updates = list(_fn(demo, "ask").fn("不存在的平台有哪些达人", [], [], {}, {}, None))
    final = {block.elem_id or block._id: value for block, value in updates[-1].items()}
    assert not final["askdb-xlsx"]["visible"] and not final["askdb-csv"]["visible"]


@pytest.mark.browser
def test_the_excel_download_in_chromium(chat_url, tmp_path):  # noqa: F811 - the imported fixture
    with _chromium() as browser:
        page = browser.new_page(
            viewport={"width": 1280, "height": 1500}, locale="zh-CN", accept_downloads=True
        )
        page.goto(chat_url[0], wait_until="domcontentloaded")
        box = page.locator("#askdb-question textarea")
        box.wait_for(timeout=60_000)
        box.fill("各平台的达人数量")
        box.press("Enter")
        page.locator("#askdb-chat").get_by_text(ANALYSIS).first.wait_for(timeout=60_000)
        button = page.locator("#askdb-xlsx")
        button.wait_for(timeout=20_000)
        assert "下载 Excel" in button.inner_text() and page.locator("#askdb-csv").is_visible()
        with page.expect_download(timeout=20_000) as info:
            button.click()
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    rows = _sheet(saved, RESULT_SHEET)
    assert rows[0] == ["所在平台", "n"] and {r[0] for r in rows[1:]} >= {"小红书"}
    assert _sheet(saved, QUERY_SHEET)[0] == ["问题", "各平台的达人数量"]
