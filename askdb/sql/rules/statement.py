"""The root of the one statement must be a query."""

from __future__ import annotations

from sqlglot import exp

from askdb.sql.context import GuardContext, Outcome, Violation, fragment

QUERY_ROOTS = (exp.Select, exp.SetOperation)


def query_root(tree: exp.Expr, _ctx: GuardContext) -> Outcome:
    """Accept SELECT, UNION/INTERSECT/EXCEPT and WITH ... SELECT; refuse every other statement."""
    root = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if isinstance(root, QUERY_ROOTS):
        return root
    kind = type(root).__name__.upper()
    return (Violation("query_only", f"only SELECT queries may run, not {kind}", fragment(root)),)
