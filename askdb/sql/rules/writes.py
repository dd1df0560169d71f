"""Nothing in the tree may write, lock, export or touch session state.

These look at every node, not only the root: MySQL accepts writes and locks inside places a
root-only check never sees (a CTE body, a subquery's FOR UPDATE, ``@v := ...`` in a select list).
"""

from __future__ import annotations

from sqlglot import exp

from askdb.sql.context import GuardContext, Outcome, Violation, fragment

_WRITES = (
    exp.DML,
    exp.DDL,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.LoadData,
    exp.Grant,
    exp.Revoke,
    exp.Pragma,
    exp.Describe,
    exp.Show,
    exp.Kill,
    exp.Analyze,
    exp.Cache,
    exp.Uncache,
    exp.Refresh,
)


def _first(tree: exp.Expr, kinds: tuple[type, ...]) -> exp.Expr | None:
    return next(tree.find_all(*kinds), None)


def read_only(tree: exp.Expr, _ctx: GuardContext) -> Outcome:
    """Refuse any data or schema change (or statement that is not a query) anywhere in the tree."""
    node = _first(tree, _WRITES)
    if node is None:
        return tree
    kind = type(node).__name__.upper()
    return (
        Violation("read_only", f"{kind} changes data or schema; only reading is allowed", fragment(node)),
    )


def no_into(tree: exp.Expr, _ctx: GuardContext) -> Outcome:
    """Refuse SELECT ... INTO (a table, a file or variables)."""
    node = _first(tree, (exp.Into,))
    if node is None:
        return tree
    return (Violation("into", "SELECT ... INTO is not allowed; return the rows instead", fragment(node)),)


def no_locking(tree: exp.Expr, _ctx: GuardContext) -> Outcome:
    """Refuse FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE: a read must never hold row locks."""
    node = _first(tree, (exp.Lock,))
    if node is None:
        return tree
    return (
        Violation(
            "locking", "locking reads (FOR UPDATE, LOCK IN SHARE MODE) are not allowed", fragment(node)
        ),
    )


def no_variables(tree: exp.Expr, _ctx: GuardContext) -> Outcome:
    """Refuse user and system variables: assignment changes session state, @@vars leak server details."""
    node = _first(tree, (exp.PropertyEQ, exp.Parameter, exp.SessionParameter, exp.Placeholder))
    if node is None:
        return tree
    return (
        Violation(
            "variables", "variables (@x, @@x, :=) are not allowed; use a CTE or subquery", fragment(node)
        ),
    )
