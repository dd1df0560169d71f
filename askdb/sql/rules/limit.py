"""Every query returns at most ``row_limit`` rows: add a LIMIT, or lower a larger one."""

from __future__ import annotations

from sqlglot import exp

from askdb.sql.context import GuardContext, Outcome


def _is_single_row_aggregate(query: exp.Expr) -> bool:
    # SELECT COUNT(*) ... without GROUP BY returns one row whatever the data: a LIMIT adds nothing.
    if not isinstance(query, exp.Select) or query.args.get("group") or query.find(exp.Window):
        return False
    selects = query.expressions
    return bool(selects) and all(_is_aggregate(s) for s in selects)


def _is_aggregate(node: exp.Expr) -> bool:
    node = node.unalias()
    if isinstance(node, exp.AggFunc):
        return True
    if isinstance(node, (exp.Column, exp.Star)):
        return False
    columns_outside_aggs = [c for c in node.find_all(exp.Column) if not c.find_ancestor(exp.AggFunc)]
    return bool(node.find(exp.AggFunc)) and not columns_outside_aggs


def limit_value(query: exp.Expr) -> int | None:
    """The statement's own LIMIT when it is a plain number; ``None`` when there is none (or not a number)."""
    limit = query.args.get("limit")
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    return None


def row_limit(tree: exp.Expr, ctx: GuardContext) -> Outcome:
    """Add ``LIMIT n`` when missing and lower a larger (or non-literal) one; keep any OFFSET."""
    if _is_single_row_aggregate(tree):
        return tree
    current = limit_value(tree)
    if current is not None and current <= ctx.row_limit:
        return tree
    tree = tree.copy()
    tree.set("limit", exp.Limit(expression=exp.Literal.number(ctx.row_limit)))
    return tree
