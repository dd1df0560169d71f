"""Documents built from a catalog and its knowledge: what the indexes search.

Each document points at the tables it speaks for, so a hit on any kind of document (a table's DDL,
one column of a wide table, a note, an example, a column's values) becomes a vote for tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from askdb.rag.text import split_identifier
from askdb.schemas.catalog import Catalog, Table, compact_ddl
from askdb.schemas.knowledge import Example, Note

Kind = Literal["table", "column", "note", "example", "values"]

# Past this many columns a table's DDL is long and its tail columns drown in one vector:
# each column then gets a document of its own as well.
WIDE_TABLE_COLUMNS = 12


@dataclass(frozen=True)
class ColumnValues:
    """What the data holds in one column: the distinct values of a low-cardinality text column, most
    frequent first; for a time column, ``date_range``, its first and last day (ISO), and no values."""

    table: str
    column: str
    values: tuple[str, ...]
    date_range: tuple[str, str] | None = None


@dataclass(frozen=True)
class Document:
    """One searchable unit: ``dense`` is embedded, ``lexical`` is tokenised for BM25."""

    id: str
    kind: Kind
    dense: str
    lexical: str
    tables: tuple[str, ...]
    column: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "dense": self.dense,
            "lexical": self.lexical,
            "tables": list(self.tables),
            "column": self.column,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(
            data["id"],
            data["kind"],
            data["dense"],
            data["lexical"],
            tuple(data["tables"]),
            data.get("column"),
            data.get("meta") or {},
        )


def _words(name: str) -> str:
    return " ".join(split_identifier(name))


def table_document(table: Table) -> Document:
    """The table's compact DDL for BM25; a readable sentence of the same facts for the embedder."""
    columns = ", ".join(
        f"{_words(c.name)} ({c.comment})" if c.comment else _words(c.name) for c in table.columns
    )
    head = f"{_words(table.name)} ({table.comment})" if table.comment else _words(table.name)
    # The name goes in twice for BM25: a question naming the table should outweigh one naming a column.
    lexical = f"{table.name} {table.comment} {table.name} {table.comment} " + compact_ddl(table)
    return Document(f"table:{table.name}", "table", f"table {head}: {columns}", lexical, (table.name,))


def column_documents(table: Table, wide: int = WIDE_TABLE_COLUMNS) -> list[Document]:
    """One document per column, only for tables wider than ``wide``."""
    if len(table.columns) <= wide:
        return []
    docs = []
    for col in table.columns:
        text = f"{_words(table.name)} {table.comment} . {_words(col.name)} {col.comment}".strip()
        docs.append(
            Document(
                f"column:{table.name}.{col.name}",
                "column",
                text,
                f"{col.name} {col.comment} {col.name} {table.name}",
                (table.name,),
                col.name,
            )
        )
    return docs


def note_document(note: Note, catalog: Catalog) -> Document | None:
    """A note, kept only if it speaks of tables this catalog has (or of none in particular)."""
    tables = tuple(t for t in note.tables if t in catalog)
    if note.tables and not tables:
        return None
    return Document(
        f"note:{note.name}",
        "note",
        note.text,
        note.text,
        tables,
        meta={"name": note.name, "columns": list(note.columns), "synonyms": [list(g) for g in note.synonyms]},
    )


def example_document(example: Example, index: int) -> Document:
    return Document(
        f"example:{index}",
        "example",
        example.question,
        example.question,
        example.tables,
        meta={"question": example.question, "sql": example.sql},
    )


def values_document(values: ColumnValues, catalog: Catalog) -> Document:
    table = catalog.table(values.table)
    col = table.column(values.column) if table else None
    comment = col.comment if col else ""
    listed = " ".join(values.values)
    return Document(
        f"values:{values.table}.{values.column}",
        "values",
        f"{_words(values.table)} {_words(values.column)} {comment}: {listed}",
        f"{values.column} {comment} {listed}",
        (values.table,),
        values.column,
        meta={"count": len(values.values)},
    )


def schema_documents(
    catalog: Catalog,
    notes: tuple[Note, ...] = (),
    values: tuple[ColumnValues, ...] = (),
    *,
    wide: int = WIDE_TABLE_COLUMNS,
) -> list[Document]:
    """Tables, wide tables' columns, notes and column values: the part rebuilt when the schema changes."""
    docs = [table_document(t) for t in catalog.tables]
    for table in catalog.tables:
        docs.extend(column_documents(table, wide))
    docs.extend(d for n in notes if (d := note_document(n, catalog)) is not None)
    docs.extend(values_document(v, catalog) for v in values if v.table in catalog and v.values)
    return docs


def example_documents(examples: tuple[Example, ...], catalog: Catalog) -> list[Document]:
    """Examples whose tables all exist in the catalog (an example for another schema would mislead)."""
    usable = [e for e in examples if e.tables and all(t in catalog for t in e.tables)]
    return [example_document(e, i) for i, e in enumerate(usable)]
