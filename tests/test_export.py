"""An answer's rows as CSV and XLSX: read back with openpyxl, NULL empty, written atomically, a bad path
refused before anything is written; and ``askdb ask --csv/--xlsx`` end to end (the fake Ollama server,
the real retriever, guard and runner over the small demo database)."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from askdb.errors import ConfigError
from askdb.export import QUERY_SHEET, RESULT_SHEET, write_csv, write_xlsx
from askdb.testing import FakeOllamaServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FRAME = pd.DataFrame(
    {
        "platform": ["小红书", None, "抖音"],
        "fans": [120000, None, 3],  # an INT column with a NULL: pandas makes it float
        "roi": [Decimal("1.25"), Decimal("0.50"), None],
        "note": ['=HYPERLINK("http://x")', "a\x01b", ""],
    }
)


def _cells(path: Path, sheet: str) -> list[list]:
    book = openpyxl.load_workbook(path)
    return [[c.value for c in row] for row in book[sheet].iter_rows()]


def test_xlsx_has_the_rows_then_the_question_and_sql(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", FRAME, question="各平台的达人数量?", sql="SELECT 1")
    assert openpyxl.load_workbook(path).sheetnames == [RESULT_SHEET, QUERY_SHEET]
    rows = _cells(path, RESULT_SHEET)
    assert rows[0] == ["platform", "fans", "roi", "note"]
    assert rows[1][:3] == ["小红书", 120000, 1.25] and isinstance(rows[1][1], int)
    assert rows[2][:2] == [None, None] and rows[3][2] is None  # NULL is an empty cell, not nan
    assert _cells(path, QUERY_SHEET) == [["问题", "各平台的达人数量?"], ["SQL", "SELECT 1"]]


def test_xlsx_keeps_text_that_looks_like_a_formula_as_text(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", FRAME, question="q", sql=None)
    cell = openpyxl.load_workbook(path)[RESULT_SHEET]["D2"]
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s"  # never run in Excel
    assert openpyxl.load_workbook(path)[RESULT_SHEET]["D3"].value == "ab"  # XLSX cannot hold \x01


def test_csv_has_a_bom_and_empty_nulls(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", FRAME)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["platform", "fans", "roi", "note"]
    assert rows[1][:3] == ["小红书", "120000", "1.25"] and rows[2][:3] == ["", "", "0.50"]
    assert "nan" not in path.read_text(encoding="utf-8-sig").lower()


@pytest.mark.parametrize("write", [write_csv, lambda p, f: write_xlsx(p, f, question="q", sql="s")])
def test_a_path_in_a_missing_folder_is_refused_and_nothing_is_made(tmp_path: Path, write) -> None:
    target = tmp_path / "no" / "such" / "r.out"
    with pytest.raises(ConfigError, match="does not exist"):
        write(target, FRAME)
    assert not (tmp_path / "no").exists()  # the folder is not created behind the person's back
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="does not exist"):
        write(tmp_path / "file" / "r.out", FRAME)
    with pytest.raises(ConfigError, match="is a folder"):
        write(tmp_path, FRAME)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "r.xlsx"
    target.write_bytes(b"old")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("askdb.files.os.replace", refuse)
    with pytest.raises(ConfigError, match=r"cannot write .*Permission denied"):
        write_xlsx(target, FRAME, question="q", sql="s")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.xlsx"]


def test_an_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_excel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_xlsx(tmp_path / "r.xlsx", FRAME, question="q", sql="s")
    assert list(tmp_path.iterdir()) == []


# -- askdb ask --csv / --xlsx ----------------------------------------------------------------------------
SQL = "SELECT NULLIF(platform, '小红书') AS platform, COUNT(*) AS n FROM ads_account GROUP BY platform"


def reply(messages: list[dict]) -> str:
    if any("数据分析师" in m["content"] for m in messages):
        return "- 各平台都有达人"
    return f"```sql\n{SQL}\n```"


@pytest.fixture(scope="module")
def home(tmp_path_factory, small_demo) -> Path:
    home = tmp_path_factory.mktemp("export-home")
    (home / "ads.db").write_bytes(small_demo[0].read_bytes())
    return home


def _ask(home: Path, server: FakeOllamaServer, embedder, monkeypatch, *args: str):
    monkeypatch.setattr("askdb.rag.service.embedder_for", lambda _settings: embedder)
    from askdb.cli import main

    env = {"ASKDB_HOME": str(home), "ASKDB_OLLAMA_HOST": server.url, "ASKDB_LLM_MODEL": "fake-model"}
    return CliRunner().invoke(main, ["ask", "各平台的达人数量", *args], env=env)


def test_ask_writes_the_answer_to_csv_and_xlsx(home, embedder, monkeypatch, tmp_path) -> None:
    with FakeOllamaServer(reply) as server:
        result = _ask(
            home,
            server,
            embedder,
            monkeypatch,
            "--json",
            "--csv",
            str(tmp_path / "a.csv"),
            "--xlsx",
            str(tmp_path / "a.xlsx"),
        )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)  # the notes about the files go to stderr: stdout stays JSON
    assert f"wrote {len(answer['rows'])} rows to {tmp_path / 'a.xlsx'}" in result.stderr
    rows = _cells(tmp_path / "a.xlsx", RESULT_SHEET)
    assert rows[0] == answer["columns"] == ["platform", "n"]
    assert rows[1:] == answer["rows"] and None in [r[0] for r in rows[1:]]  # 小红书 became NULL: empty
    assert _cells(tmp_path / "a.xlsx", QUERY_SHEET) == [["问题", "各平台的达人数量"], ["SQL", answer["sql"]]]
    lines = list(csv.reader((tmp_path / "a.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert lines[0] == ["platform", "n"] and len(lines) == len(answer["rows"]) + 1
    assert ["", str(next(r[1] for r in answer["rows"] if r[0] is None))] in lines


def test_ask_with_a_bad_export_path_is_one_error_line_before_any_model_call(
    home, embedder, monkeypatch, tmp_path
) -> None:
    with FakeOllamaServer(reply) as server:
        result = _ask(home, server, embedder, monkeypatch, "--xlsx", str(tmp_path / "missing" / "a.xlsx"))
        assert server.requests_to("/api/chat") == []
    assert result.exit_code == 2 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "cannot write" in line and "missing does not exist" in line
    assert not (tmp_path / "missing").exists()


def test_exports_are_headed_by_column_comments_where_the_sql_named_none(
    home, embedder, monkeypatch, tmp_path
):
    bare = "SELECT nickname, fans FROM ads_account ORDER BY fans DESC LIMIT 3"

    def bare_reply(messages: list[dict]) -> str:
        return "- 粉丝最多" if any("数据分析师" in m["content"] for m in messages) else f"```sql\n{bare}\n```"

    with FakeOllamaServer(bare_reply) as server:
        result = _ask(
            home,
            server,
            embedder,
            monkeypatch,
            "--json",
            "--csv",
            str(tmp_path / "b.csv"),
            "--xlsx",
            str(tmp_path / "b.xlsx"),
        )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["columns"] == ["nickname", "fans"]  # JSON keeps the database's names
    assert _cells(tmp_path / "b.xlsx", RESULT_SHEET)[0] == ["达人昵称", "粉丝数"]
    assert (tmp_path / "b.csv").read_text(encoding="utf-8-sig").splitlines()[0] == "达人昵称,粉丝数"
