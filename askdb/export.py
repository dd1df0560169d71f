"""An answer's result table as a file a person opens in Excel: CSV (UTF-8 with a BOM) or XLSX.

The XLSX has the rows on its first sheet and the question and SQL on a second, so a file passed
around still says where its numbers came from. Both are made in memory (a result is at most
ASKDB_MAX_ROWS rows), then written to a temporary file beside the target and renamed into place:
an error or an interrupt leaves no half-written file. NULL is an empty cell in both.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from askdb.errors import ConfigError
from askdb.files import write_atomic
from askdb.frames import plain_rows

RESULT_SHEET = "结果"
QUERY_SHEET = "问题与SQL"


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as cells: NULL as None (an empty cell), integers as integers, column names as text."""
    return pd.DataFrame(plain_rows(frame), columns=[str(c) for c in frame.columns], dtype=object)


def check_writable(path: Path) -> Path:
    """``path`` if a file can be written there; else ConfigError naming what is wrong (nothing is created)."""
    path = Path(path).expanduser()
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"cannot write {path}: the folder {folder} does not exist",
            hint="create the folder first, or give a path in an existing one",
        )
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder", hint="give a file name, e.g. result.xlsx")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot write {path}: the folder {folder} is not writable", hint="pick a folder you can write to"
        )
    return path


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """The rows as CSV with a BOM, so that Excel opens the Chinese text correctly."""
    path = check_writable(path)
    _write(path, export_frame(frame).to_csv(index=False).encode("utf-8-sig"))
    return path


def write_xlsx(path: Path, frame: pd.DataFrame, *, question: str, sql: str | None) -> Path:
    """The rows on sheet 结果, the question and the SQL on sheet 问题与SQL (via pandas and openpyxl)."""
    path = check_writable(path)
    cells = export_frame(frame).map(_excel_text)
    query = pd.DataFrame([["问题", question], ["SQL", sql or ""]], dtype=object).map(_excel_text)
    buffer = io.BytesIO()
    # Not a with-block: on an error the workbook must not be saved (a half one, or openpyxl's
    # "at least one sheet must be visible" in place of the real error).
    writer = pd.ExcelWriter(buffer, engine="openpyxl")
    cells.to_excel(writer, sheet_name=RESULT_SHEET, index=False)
    query.to_excel(writer, sheet_name=QUERY_SHEET, index=False, header=False)
    for sheet in writer.sheets.values():
        _as_text(sheet)
    writer.close()
    _write(path, buffer.getvalue())
    return path


def _write(path: Path, data: bytes) -> None:
    """``write_atomic`` with the OS's refusals (a full disk, permissions) as one ConfigError."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}", hint="pick a folder you can write to"
        ) from None


def _excel_text(value: object) -> object:
    """Text without the control characters XLSX cannot hold (openpyxl refuses them)."""
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def _as_text(sheet: object) -> None:
    """Cells that openpyxl took for formulas (text starting with "=") kept as the text they are:
    a value from the database must never run in the reader's Excel."""
    for row in sheet.iter_rows():  # type: ignore[attr-defined]
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
