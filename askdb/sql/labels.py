"""Result headers a person reads: a selected column's comment (粉丝数) where the SQL did not name it.

Only bare columns of the outermost SELECT are labelled: ``fans`` becomes 粉丝数, ``fans AS 粉丝``
stays as the SQL named it, and ``COUNT(*)`` keeps the database's name. The raw names stay what
JSON carries; the labels travel beside them.
"""

from __future__ import annotations

import re

from sqlglot import exp

from askdb.schemas.catalog import Catalog, Table

# "所在平台:小红书/抖音/快手/B站" -> "所在平台", "预算,元" -> "预算": the comment up to its first aside
_ASIDE = re.compile(r"[::,,((;;]")


def short_comment(comment: str) -> str:
    """A column comment cut to the name it gives: the text before its first colon, comma or bracket."""
    return _ASIDE.split(comment, maxsplit=1)[0].strip()


def column_labels(tree: exp.Expr | None, catalog: Catalog) -> dict[str, str]:
    """Output column name -> its comment's name, for the unaliased columns of the outermost SELECT."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.left  # a UNION's columns are named by its first SELECT
    if not isinstance(select, exp.Select):
        return {}
    tables = _tables_by_alias(select, catalog)
    labels: dict[str, str] = {}
    for projection in select.expressions:
        if not isinstance(projection, exp.Column) or isinstance(projection.this, exp.Star):
            continue
        label = _label(projection, tables)
        # two columns with one comment (two 素材ID) would get one header: the later keeps its name
        if label and label not in labels.values() and projection.name not in labels:
            labels[projection.name] = label
    return labels


def _tables_by_alias(select: exp.Select, catalog: Catalog) -> dict[str, Table]:
    """The catalog tables this SELECT reads directly, by the name or alias its columns use."""
    found: dict[str, Table] = {}
    sources = [select.args.get("from_"), *(select.args.get("joins") or [])]
    for source in sources:
        node = source.this if source is not None else None
        if isinstance(node, exp.Table) and (table := catalog.table(node.name)) is not None:
            found[(node.alias or node.name).lower()] = table
    return found


def _label(column: exp.Column, tables: dict[str, Table]) -> str:
    if column.table:
        candidates = [tables[column.table.lower()]] if column.table.lower() in tables else []
    else:
        candidates = [t for t in tables.values() if t.column(column.name) is not None]
    if len(candidates) != 1:  # unknown or ambiguous: the database's own name is the honest header
        return ""
    found = candidates[0].column(column.name)
    return short_comment(found.comment) if found is not None else ""
