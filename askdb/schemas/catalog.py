"""The catalog: tables, columns, types, comments and keys, from DDL or from a live database.

Both sources give the same ``Catalog`` for the same schema, so the guard, the retriever and the
prompts never care where it came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from askdb.errors import EmptyDatabase, SchemaError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.MEDIUMINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    comment: str = ""
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Catalog:
    """An immutable description of one database's tables."""

    tables: tuple[Table, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # Sources list tables in different orders (file order, reflection order); compare by content.
        object.__setattr__(self, "tables", tuple(sorted(self.tables, key=lambda t: t.name.lower())))

    # -- lookup -----------------------------------------------------------------------------
    def require_tables(self, where: str) -> Catalog:
        """This catalog, or EmptyDatabase: the database ``where`` has no table to ask about."""
        if self.tables:
            return self
        raise EmptyDatabase(
            f"the database {where} has no tables (or none this user may read)",
            hint="build the demo with `askdb demo-db` (or `askdb demo-db --url URL` for MySQL), "
            "or point --db / ASKDB_DB_URL at a database with tables and grant the user SELECT on them",
        )

    def table(self, name: str) -> Table | None:
        lowered = name.lower()
        return next((t for t in self.tables if t.name.lower() == lowered), None)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.table(name) is not None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_ddl(cls, text: str, *, source: str = "<ddl>") -> Catalog:
        """Parse MySQL ``CREATE TABLE`` statements; anything else in the text is an error."""
        try:
            statements = [s for s in sqlglot.parse(text, read="mysql") if s is not None]
        except ParseError as exc:
            err = exc.errors[0] if exc.errors else {}
            where = f" at line {err.get('line')}, column {err.get('col')}" if err.get("line") else ""
            raise SchemaError(
                f"cannot parse {source}{where}: {err.get('description', exc)}",
                hint="fix the DDL there; askdb reads MySQL CREATE TABLE statements",
                source=source,
                line=err.get("line"),
            ) from None
        tables = []
        for statement in statements:
            if not (isinstance(statement, exp.Create) and statement.kind == "TABLE"):
                raise SchemaError(
                    f"{source} holds a statement that is not CREATE TABLE: {statement.sql('mysql')[:80]}",
                    hint="keep only CREATE TABLE statements in DDL files",
                    source=source,
                )
            tables.append(_table_from_create(statement))
        if not tables:
            raise SchemaError(f"{source} defines no table", hint="add CREATE TABLE statements", source=source)
        return cls(tuple(tables))

    @classmethod
    def from_ddl_file(cls, path: str | Path) -> Catalog:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaError(f"cannot read DDL file {path}: {exc.strerror}", hint="check the path") from None
        return cls.from_ddl(text, source=str(path))

    @classmethod
    def from_database(cls, engine: Engine, *, tables: Iterable[str] | None = None) -> Catalog:
        """Reflect tables, comments and keys through the SQLAlchemy inspector."""
        from sqlalchemy import inspect

        from askdb.db import translate_errors

        with translate_errors(engine.url):
            inspector = inspect(engine)
            names = list(tables) if tables is not None else sorted(inspector.get_table_names())
            return cls(tuple(_reflect_table(inspector, engine.dialect, name) for name in names))

    def with_relations(self, relations: Iterable[dict[str, Any]]) -> Catalog:
        """Add logical foreign keys that the DDL does not declare (e.g. ads_summary.account)."""
        extra: dict[str, list[ForeignKey]] = {}
        for rel in relations:
            fk = ForeignKey(tuple(rel["columns"]), rel["ref_table"], tuple(rel["ref_columns"]))
            extra.setdefault(rel["table"].lower(), []).append(fk)
        tables = []
        for table in self.tables:
            added = [fk for fk in extra.get(table.name.lower(), []) if fk not in table.foreign_keys]
            tables.append(replace(table, foreign_keys=table.foreign_keys + tuple(added)))
        return Catalog(tuple(tables))

    # -- rendering --------------------------------------------------------------------------
    def ddl(self, names: Iterable[str] | None = None) -> str:
        """Compact MySQL DDL with comments, one statement per table: what prompts show."""
        chosen = self.tables if names is None else [t for n in names if (t := self.table(n))]
        return "\n".join(compact_ddl(t) for t in chosen)

    def to_dict(self) -> dict[str, Any]:
        return {"tables": [asdict(t) for t in self.tables]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        tables = []
        for t in data["tables"]:
            tables.append(
                Table(
                    name=t["name"],
                    comment=t.get("comment", ""),
                    columns=tuple(Column(**c) for c in t["columns"]),
                    primary_key=tuple(t.get("primary_key", ())),
                    foreign_keys=tuple(
                        ForeignKey(tuple(f["columns"]), f["ref_table"], tuple(f["ref_columns"]))
                        for f in t.get("foreign_keys", ())
                    ),
                )
            )
        return cls(tuple(tables))

    def fingerprint(self) -> str:
        """A stable hash of the whole catalog: indexes are keyed by it."""
        blob = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# -- DDL parsing ------------------------------------------------------------------------------


def canonical_type(data_type: exp.DataType | str) -> str:
    """One spelling per type, whichever source it came from: ``int``, ``varchar(30)``, ``decimal(12,2)``."""
    if isinstance(data_type, str):
        data_type = exp.DataType.build(data_type, dialect="mysql")
    if data_type.this in _INTEGER_TYPES:
        data_type = exp.DataType(this=data_type.this)  # display widths (int(11)) mean nothing
    return data_type.sql("mysql").lower().replace(", ", ",")


def _table_from_create(create: exp.Create) -> Table:
    schema = create.this
    name = schema.this.name
    columns, primary_key, foreign_keys = [], [], []
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            column, is_pk = _column_from_def(item)
            columns.append(column)
            if is_pk:
                primary_key.append(column.name)
        elif isinstance(item, exp.PrimaryKey):
            primary_key.extend(_names(item.expressions))
        elif isinstance(item, (exp.ForeignKey, exp.Constraint)):
            foreign_keys.extend(_foreign_keys(item))
    comment = ""
    properties = create.args.get("properties")
    if properties:
        prop = properties.find(exp.SchemaCommentProperty)
        comment = prop.this.name if prop else ""
    pk = set(primary_key)
    columns = [replace(c, nullable=False) if c.name in pk else c for c in columns]
    return Table(name, tuple(columns), comment, tuple(primary_key), tuple(foreign_keys))


def _column_from_def(item: exp.ColumnDef) -> tuple[Column, bool]:
    comment, nullable, is_pk = "", True, False
    for constraint in item.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.CommentColumnConstraint):
            comment = kind.this.name
        elif isinstance(kind, exp.NotNullColumnConstraint):
            nullable = bool(kind.args.get("allow_null"))
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            is_pk = True
    return Column(item.name, canonical_type(item.args["kind"]), comment, nullable), is_pk


def _foreign_keys(node: exp.Expression) -> list[ForeignKey]:
    found = []
    for fk in node.find_all(exp.ForeignKey):
        reference = fk.args.get("reference")
        if reference is None:
            continue
        target = reference.this
        found.append(ForeignKey(_names(fk.expressions), target.this.name, _names(target.expressions)))
    return found


def _names(nodes: Iterable[exp.Expression]) -> tuple[str, ...]:
    return tuple(n.name for n in nodes)


# -- reflection -------------------------------------------------------------------------------


def _reflect_table(inspector: Any, dialect: Any, name: str) -> Table:
    pk = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
    columns = []
    for col in inspector.get_columns(name):
        type_sql = col["type"].compile(dialect=dialect)
        columns.append(
            Column(
                name=col["name"],
                type=_reflected_type(type_sql),
                comment=col.get("comment") or "",
                nullable=bool(col.get("nullable", True)) and col["name"] not in pk,
            )
        )
    fks = tuple(
        ForeignKey(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
        for fk in inspector.get_foreign_keys(name)
    )
    try:
        comment = inspector.get_table_comment(name).get("text") or ""
    except NotImplementedError:  # SQLite keeps no comments
        comment = ""
    return Table(name, tuple(columns), comment, pk, fks)


def _reflected_type(type_sql: str) -> str:
    # MySQL reflection appends charset/collation to string types; they are not part of the type.
    head = type_sql.split(" CHARACTER SET ")[0].split(" COLLATE ")[0]
    try:
        return canonical_type(head)
    except ParseError:
        return head.lower()


# -- rendering --------------------------------------------------------------------------------


def compact_ddl(table: Table) -> str:
    """``CREATE TABLE`` on one line with comments and keys, without storage clutter."""
    parts = []
    for col in table.columns:
        piece = f"{_quote(col.name)} {col.type}"
        if not col.nullable:
            piece += " NOT NULL"
        if col.comment:
            piece += f" COMMENT {_string(col.comment)}"
        parts.append(piece)
    if table.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(map(_quote, table.primary_key))})")
    for fk in table.foreign_keys:
        parts.append(
            f"FOREIGN KEY ({', '.join(map(_quote, fk.columns))}) REFERENCES "
            f"{_quote(fk.ref_table)} ({', '.join(map(_quote, fk.ref_columns))})"
        )
    tail = f" COMMENT={_string(table.comment)}" if table.comment else ""
    return f"CREATE TABLE {_quote(table.name)} ({', '.join(parts)}){tail};"


def _needs_quotes(name: str) -> bool:
    """A MySQL reserved word (the seed's `desc`): the compact form quotes it, as the SQL must."""
    from sqlglot.dialects.mysql import MySQL

    return name.lower() in MySQL.Generator.RESERVED_KEYWORDS or not name.replace("_", "").isalnum()


def _type_name(sql_type: str) -> str:
    """``varchar(255)`` -> ``varchar``, ``decimal(12,2)`` -> ``decimal``: lengths teach a model nothing."""
    base = sql_type.split("(", 1)[0].strip().lower()
    return base.replace(" unsigned", "") or sql_type


def compact_schema(
    table: Table,
    *,
    values: dict[str, list[str]] | None = None,
    brief: Iterable[str] = (),
) -> str:
    """One table in a compact, M-Schema-like form: a header, then a line per column.

    ``# ads_account: 达人账号表`` then ``platform varchar 所在平台 例:'抖音'``; keys say ``主键`` and
    ``-> table.column``. Columns named in ``brief`` are listed by name only, on one last line: the
    model knows they exist without paying for their types and comments. It takes about half the
    tokens of ``compact_ddl`` for the same table (bench/bench_prompt.py measures both).
    """
    values = values or {}
    brief = set(brief)
    primary = set(table.primary_key)
    refs = {c: f"{fk.ref_table}.{r}" for fk in table.foreign_keys for c, r in zip(fk.columns, fk.ref_columns)}
    head = f"# {table.name}: {table.comment}" if table.comment else f"# {table.name}"
    lines, names_only = [head], []
    for col in table.columns:
        name = _quote(col.name) if _needs_quotes(col.name) else col.name
        if col.name in brief and col.name not in primary and col.name not in refs:
            names_only.append(name)
            continue
        parts = [name, _type_name(col.type)]
        if col.name in primary:
            parts.append("主键")
        if col.name in refs:
            parts.append(f"-> {refs[col.name]}")
        if col.comment and col.comment != table.comment:
            parts.append(col.comment)
        if col.name in values:
            parts.append("例:" + "、".join(_string(v) for v in values[col.name]))
        lines.append(" ".join(parts))
    if names_only:
        lines.append("其他字段: " + ", ".join(names_only))
    return "\n".join(lines)


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# -- packaged schemas -------------------------------------------------------------------------


def packaged_ddl(name: str = "ads") -> str:
    """The DDL text shipped with askdb for a named schema."""
    return resources.files("askdb.schemas").joinpath(name, f"{name}.sql").read_text(encoding="utf-8")


def packaged_relations(name: str = "ads") -> list[dict[str, Any]]:
    path = resources.files("askdb.schemas").joinpath(name, "relations.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def packaged_catalog(name: str = "ads") -> Catalog:
    """The catalog of a schema shipped with askdb, logical relations included."""
    catalog = Catalog.from_ddl(packaged_ddl(name), source=f"askdb/schemas/{name}/{name}.sql")
    return catalog.with_relations(packaged_relations(name))


def catalog_for_engine(engine: Engine, *, schema_name: str = "ads") -> Catalog:
    """Reflect a live database; where it holds the packaged schema, fill what the engine cannot keep.

    SQLite stores no comments, and no engine stores the logical keys of ``relations.json``; both come
    from the packaged DDL for tables and columns that match it by name.
    """
    live = Catalog.from_database(engine)
    known = packaged_catalog(schema_name)
    keeps_types = engine.dialect.name != "sqlite"  # SQLite reflects declared types loosely
    tables = []
    for table in live.tables:
        ref = known.table(table.name)
        if ref is not None and not keeps_types and table.column_names == ref.column_names:
            table = ref
        elif ref is not None:
            table = _fill_comments(table, ref)
        tables.append(table)
    present = {t.name.lower() for t in tables}
    relations = [
        r
        for r in packaged_relations(schema_name)
        if r["table"].lower() in present and r["ref_table"].lower() in present
    ]
    return Catalog(tuple(tables)).with_relations(relations)


def _fill_comments(table: Table, ref: Table) -> Table:
    columns = tuple(
        replace(c, comment=c.comment or (ref.column(c.name).comment if ref.column(c.name) else ""))
        for c in table.columns
    )
    return replace(table, comment=table.comment or ref.comment, columns=columns)
