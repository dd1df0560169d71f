"""Domain knowledge shipped beside a schema: notes (markdown) and verified question-SQL examples (JSONL).

Both are data files read through ``importlib.resources`` so tests, eval and runtime share one loader.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from askdb.errors import SchemaError


@dataclass(frozen=True)
class Note:
    """A piece of domain knowledge and the tables (and columns) it is about."""

    name: str
    text: str
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # "table.column"
    # Words this database uses for the same thing (header ``synonyms: 投放=推广, 素材=创意``).
    synonyms: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Example:
    """A verified question and the MySQL that answers it."""

    question: str
    sql: str
    tables: tuple[str, ...] = ()

    @classmethod
    def create(cls, question: str, sql: str) -> Example:
        """An example whose tables are read from its SQL; bad SQL is refused, not stored."""
        question, sql = question.strip(), sql.strip()
        if not question or not sql:
            raise SchemaError("an example needs both a question and its SQL", hint="pass both, non-empty")
        return cls(question, sql, tables_in_sql(sql))

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "sql": self.sql}


def tables_in_sql(sql: str, dialect: str = "mysql") -> tuple[str, ...]:
    """The real tables a statement reads (CTE names excluded), in order of first mention."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except ParseError as exc:
        raise SchemaError(
            f"cannot parse example SQL: {str(exc).splitlines()[0]}",
            hint="fix the SQL; examples must be valid MySQL",
        ) from None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    seen: dict[str, None] = {}
    for table in tree.find_all(exp.Table):
        if table.name and table.name.lower() not in ctes:
            seen.setdefault(table.name, None)
    return tuple(seen)


def parse_note(name: str, text: str) -> Note:
    """A note file: an optional ``---`` header with ``tables:`` and ``columns:`` lines, then markdown."""
    header: dict[str, tuple[str, ...]] = {}
    body = text
    if text.startswith("---"):
        head, sep, rest = text[3:].partition("\n---")
        if not sep:
            raise SchemaError(
                f"note {name} opens a header with --- but never closes it",
                hint="end the header with a line holding only ---",
            )
        body = rest.lstrip("\n")
        for line in head.strip().splitlines():
            key, _, value = line.partition(":")
            header[key.strip().lower()] = tuple(v.strip() for v in value.split(",") if v.strip())
    synonyms = []
    for item in header.get("synonyms", ()):
        group = tuple(w.strip() for w in re.split(r"[=/]", item) if w.strip())
        if len(group) < 2:
            raise SchemaError(
                f"note {name}: synonym group {item!r} has one word",
                hint="write each group as words joined by =, groups separated by commas: 投放=推广, 素材=创意",
            )
        synonyms.append(group)
    return Note(name, body.strip(), header.get("tables", ()), header.get("columns", ()), tuple(synonyms))


def packaged_notes(name: str = "ads") -> tuple[Note, ...]:
    """The notes shipped for a schema, sorted by file name (empty if there are none)."""
    folder = resources.files("askdb.schemas").joinpath(name, "notes")
    if not folder.is_dir():
        return ()
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    return tuple(parse_note(f.name.removesuffix(".md"), f.read_text(encoding="utf-8")) for f in files)


def folder_notes(folder: Path) -> tuple[Note, ...]:
    """The ``*.md`` notes of a folder of one's own (sorted by file name; none if it does not exist).

    A file that cannot be read as a note is an error that names it, not a note left out.
    """
    if not folder.is_dir():
        return ()
    notes = []
    for path in sorted(folder.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SchemaError(f"cannot read note {path}: {exc}", hint="save it as UTF-8 text") from None
        notes.append(parse_note(path.name.removesuffix(".md"), text))
    return tuple(notes)


def merged_notes(packaged: tuple[Note, ...], own: tuple[Note, ...]) -> tuple[Note, ...]:
    """The packaged notes with one's own added; one of the same name replaces the packaged one."""
    names = {n.name for n in own}
    return tuple(n for n in packaged if n.name not in names) + own


def packaged_examples(name: str = "ads") -> tuple[Example, ...]:
    """The verified examples shipped for a schema (empty if there are none)."""
    path = resources.files("askdb.schemas").joinpath(name, "examples.jsonl")
    if not path.is_file():
        return ()
    return parse_examples(path.read_text(encoding="utf-8"), source=f"askdb/schemas/{name}/examples.jsonl")


def parse_examples(text: str, *, source: str) -> tuple[Example, ...]:
    """JSON lines of ``{"question": ..., "sql": ...}``; a bad line is an error that names it."""
    examples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append(Example.create(row["question"], row["sql"]))
        except (ValueError, KeyError, TypeError, SchemaError) as exc:
            detail = exc.message if isinstance(exc, SchemaError) else str(exc)
            raise SchemaError(
                f"{source} line {number}: {detail}",
                hint='each line must be {"question": "...", "sql": "..."}',
            ) from None
    return tuple(examples)


def knowledge_fingerprint(notes: tuple[Note, ...], examples: tuple[Example, ...]) -> str:
    """A hash of the notes and examples, so an index built from older ones is known to be stale."""
    blob = json.dumps(
        [[n.name, n.text, n.tables, n.columns, *([n.synonyms] if n.synonyms else [])] for n in notes]
        + [[e.question, e.sql] for e in examples],
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
