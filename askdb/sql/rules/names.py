"""Every table and column must come from the catalog of the ads database.

Tables are checked on every ``Table`` node in the tree (the safety part: no ``mysql.user``, no
``information_schema``, no other database). Columns are checked scope by scope, so that aliases,
derived tables, CTEs and correlated subqueries resolve as MySQL resolves them; a column that cannot
be resolved only costs a failed query, so where a scope's outputs are unknown (``SELECT *`` from a
derived table) the column check leans towards accepting.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from askdb.schemas.catalog import Catalog, Column
from askdb.sql.context import GuardContext, Outcome, Violation, fragment

SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` did you mean `x`?`` for the closest names, or nothing when none is close."""
    pool = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(pool), n=3, cutoff=0.6)
    return "; did you mean " + " or ".join(f"`{pool[c]}`" for c in close) + "?" if close else ""


_CJK = re.compile(r"[\u3400-\u9fff]")
_COMMENT_HEAD = re.compile(r"[,,::;;((/\s]")


def by_comment(name: str, columns: Iterable[Column]) -> str:
    """`` did you mean `fans` (粉丝数)?`` for a Chinese name that is a column's comment, not its name.

    People (and models) write the comment's words as if they were the column (``SELECT 粉丝``): a
    column whose comment (up to its first punctuation) contains the name, or is contained in it,
    or reads close to it, is what they meant.
    """
    if not _CJK.search(name):
        return ""
    scored = []
    for column in columns:
        head = _COMMENT_HEAD.split(column.comment.strip(), maxsplit=1)[0]
        if not head:
            continue
        if name in head or head in name:
            score = 1.0 + len(name) / max(len(head), 1)  # containment first, the closer length first
        else:
            score = difflib.SequenceMatcher(None, name, head).ratio()
        if score >= 0.5:
            scored.append((score, column.name, head))
    best = sorted(scored, key=lambda t: (-t[0], t[1]))[:3]
    if not best:
        return ""
    return "; did you mean " + " or ".join(f"`{n}` ({h})" for _, n, h in best) + "?"


def _source_columns(scope: Scope | None, catalog: Catalog, alias: str | None = None) -> list[Column]:
    """The catalog columns of the tables a scope (and its parents) reads, or of one alias."""
    columns: list[Column] = []
    while scope is not None:
        for name, source in scope.sources.items():
            if isinstance(source, exp.Table) and (alias is None or name.lower() == alias.lower()):
                table = catalog.table(source.name)
                columns += list(table.columns) if table else []
        scope = scope.parent
    return columns


# -- tables -----------------------------------------------------------------------------------


def _cte_visible(table: exp.Table) -> bool:
    name = table.name.lower()
    for ancestor in _ancestors(table):
        with_ = (
            ancestor.args.get("with_") or ancestor.args.get("with")
            if isinstance(ancestor, exp.Query)
            else None
        )
        if with_ is not None and any(cte.alias_or_name.lower() == name for cte in with_.expressions):
            return True
    return False


def _ancestors(node: exp.Expr) -> Iterator[exp.Expr]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _table_violation(table: exp.Table, ctx: GuardContext) -> Violation | None:
    if not isinstance(table.this, exp.Identifier):
        return Violation("names", "only plain table names may appear in FROM and JOIN", fragment(table))
    schema, name = table.db, table.name
    if table.catalog or (schema and (ctx.database is None or schema.lower() != ctx.database.lower())):
        where = "a system schema" if schema.lower() in SYSTEM_SCHEMAS else "another database"
        return Violation(
            "names",
            f"`{schema}.{name}` is in {where}; only the tables of the catalog may be read "
            f"({', '.join(ctx.catalog.table_names)})",
            fragment(table),
        )
    if not schema and (_cte_visible(table) or name.lower() == "dual"):
        return None
    if ctx.catalog.table(name) is not None:
        return None
    hint = (
        did_you_mean(name, ctx.catalog.table_names)
        or f"; the tables are {', '.join(ctx.catalog.table_names)}"
    )
    return Violation("names", f"unknown table `{name}`{hint}", fragment(table))


# -- columns ----------------------------------------------------------------------------------


def _outputs(source: exp.Expr | Scope, catalog: Catalog) -> set[str] | None:
    """Lower-case column names a source provides, or None when they cannot be known."""
    if isinstance(source, exp.Table):
        table = catalog.table(source.name)
        return {c.lower() for c in table.column_names} if table else None
    query = source.expression
    while isinstance(query, exp.SetOperation):
        query = query.left
    if not isinstance(query, exp.Select) or any(
        isinstance(e, exp.Star) or e.is_star for e in query.expressions
    ):
        return None
    return {name.lower() for name in query.named_selects}


def _find_source(scope: Scope | None, alias: str) -> exp.Expr | Scope | None:
    lowered = alias.lower()
    while scope is not None:
        for name, source in scope.sources.items():
            if name.lower() == lowered:
                return source
        scope = scope.parent
    return None


def _pool(scope: Scope | None, catalog: Catalog) -> set[str] | None:
    if scope is not None and isinstance(scope.expression, exp.SetOperation):
        return _outputs(scope, catalog)  # a UNION's ORDER BY sees the first SELECT's output names
    names: set[str] = set()
    first = scope
    while scope is not None:
        for source in scope.sources.values():
            outputs = _outputs(source, catalog)
            if outputs is None:
                return None
            names |= outputs
        scope = scope.parent
    if first is not None and isinstance(first.expression, exp.Select):
        # MySQL resolves select aliases in GROUP BY, HAVING and ORDER BY
        names |= {e.alias.lower() for e in first.expression.expressions if isinstance(e, exp.Alias)}
    return names


def _column_violation(column: exp.Column, scope: Scope, catalog: Catalog) -> Violation | None:
    if column.table:
        source = _find_source(scope, column.table)
        if source is None:
            return Violation(
                "names",
                f"unknown table or alias `{column.table}` in `{column.sql('mysql')}`",
                fragment(column),
            )
        if isinstance(column.this, exp.Star):
            return None
        outputs = _outputs(source, catalog)
        if outputs is None or column.name.lower() in outputs:
            return None
        where = source.name if isinstance(source, exp.Table) else column.table
        hint = did_you_mean(column.name, outputs) or by_comment(
            column.name, _source_columns(scope, catalog, column.table)
        )
        return Violation("names", f"unknown column `{column.name}` in `{where}`{hint}", fragment(column))
    pool = _pool(scope, catalog)
    if pool is None or column.name.lower() in pool or isinstance(column.this, exp.Star):
        return None
    hint = did_you_mean(column.name, pool) or by_comment(column.name, _source_columns(scope, catalog))
    return Violation("names", f"unknown column `{column.name}`{hint}", fragment(column))


def _column_violations(tree: exp.Expr, catalog: Catalog) -> list[Violation]:
    try:
        scopes = traverse_scope(tree)
    except SqlglotError:
        return []  # tables were already checked; an unresolvable shape is left to the database
    found = []
    for scope in scopes:
        for column in scope.columns:
            if column.find_ancestor(exp.Query) is not scope.expression:
                continue  # sqlglot also lists the columns of nested subqueries; their own scope checks them
            violation = _column_violation(column, scope, catalog)
            if violation is not None:
                found.append(violation)
    return found


def known_names(tree: exp.Expr, ctx: GuardContext) -> Outcome:
    """Refuse tables outside the catalog (system schemas, other databases) and unknown columns."""
    violations = [v for t in tree.find_all(exp.Table) if (v := _table_violation(t, ctx))]
    if not violations:
        violations = _column_violations(tree, ctx.catalog)
    unique = tuple(dict.fromkeys(violations))
    return unique if unique else tree
