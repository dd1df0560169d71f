"""Only ordinary MySQL scalar, aggregate and window functions may be called.

The allow-list is a data file of MySQL names. sqlglot parses most names into typed nodes
(``DATE_FORMAT`` becomes ``TimeToStr``), so the typed node classes allowed are derived once by
parsing each allowed name: whatever sqlglot builds for an allowed name is allowed, nothing else.
Some names build another node when an argument is a literal (``STR_TO_DATE(a, '%Y-%m-%d %H:%i')``
is a ``StrToTime``, ``STR_TO_DATE(a, b)`` a ``StrToDate``), so literal argument shapes are probed too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from askdb.sql.context import GuardContext, Outcome, Violation, fragment

# Argument shapes tried for each name; the first that parses tells us the node class.
_PROBE_ARGS = (
    "a",
    "a, b",
    "a, b, c",
    "",
    "a, b, c, d",
    "DAY, a, b",
    "a, INTERVAL 1 DAY",
    "a AS CHAR",
    "YEAR FROM a",
    "'x' IN a",
    "a SEPARATOR ','",
    "DISTINCT a",
)
# sqlglot reads some calls differently when an argument is a literal: STR_TO_DATE(a, b) is StrToDate,
# but STR_TO_DATE(a, '%Y-%m-%d %H:%i') is StrToTime. These shapes are tried for every name as well, and
# each one that parses into a call sqlglot writes back under an allowed name adds its node classes.
_LITERAL_PROBE_ARGS = (
    "a, '%Y-%m-%d'",
    "a, '%Y-%m-%d %H:%i:%s'",
    "a, '%Y-%m-%d %H:%i'",
    "a, '%H:%i:%s'",
    "a, '%H:%i'",
    "a, '%Y%m'",
)
# Spellings that are not plain calls but still build function nodes.
_PROBE_SQL = (
    (
        "SELECT COUNT(*), a REGEXP 'x', a RLIKE 'x', a DIV b, a MOD b, a->'$.k', a->>'$.k', CONVERT(a, CHAR), "
        "CONVERT(a USING utf8mb4), TRIM(LEADING 'x' FROM a), CURRENT_DATE, CURRENT_TIMESTAMP, "
        "a - INTERVAL 1 DAY, a + INTERVAL 1 MONTH, DATE(a) = CURDATE(), ROW_NUMBER() OVER (ORDER BY a) FROM t"
    ),
    # Operators and expressions that sqlglot also models as function nodes.
    (
        "SELECT CASE WHEN a THEN b ELSE c END, CASE a WHEN 1 THEN 2 END, NOT a, -a, ~a, a BETWEEN 1 AND 2, "
        "a IN (1, 2), a NOT IN (SELECT 1), a LIKE 'x', a NOT LIKE 'x' ESCAPE '!', a IS NULL, a IS NOT TRUE, "
        "EXISTS (SELECT 1), a <=> b, a & b, a | b, a ^ b, a << 1, a >> 1, a % b, a || b, BINARY a, "
        "a COLLATE utf8mb4_bin, a = ANY (SELECT 1), a > ALL (SELECT 1), a SOUNDS LIKE b, "
        "MATCH (a) AGAINST ('x' IN BOOLEAN MODE) FROM t WHERE a AND b OR c XOR d AND NOT e"
    ),
)


@cache
def allowed_names() -> frozenset[str]:
    """The MySQL function names of the packaged allow-list, upper-case."""
    text = resources.files("askdb.sql").joinpath("data/functions.txt").read_text(encoding="utf-8")
    return frozenset(word.upper() for line in text.splitlines() for word in line.split("#")[0].split())


@cache
def allowed_node_types() -> frozenset[type]:
    """Every typed function node sqlglot builds for an allowed name or spelling."""
    found: set[type] = set()
    with _quiet_sqlglot():
        _probe_names(found)
    for sql in _PROBE_SQL:
        tree = _try_parse(sql)
        found.update(type(f) for f in tree.find_all(exp.Func)) if tree is not None else None
    found.discard(exp.Anonymous)
    return frozenset(found)


def _probe_names(found: set[type]) -> None:
    for name in sorted(allowed_names()):
        for args in _PROBE_ARGS:
            tree = _try_parse(f"SELECT {name}({args}) FROM t")
            if tree is not None and any(not isinstance(f, exp.Anonymous) for f in tree.find_all(exp.Func)):
                found.update(type(f) for f in tree.find_all(exp.Func))
                break
        for args in _LITERAL_PROBE_ARGS:
            tree = _try_parse(f"SELECT {name}({args}) FROM t")
            if tree is not None and _written_as_allowed_call(tree):
                found.update(type(f) for f in tree.find_all(exp.Func))


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    # Probes such as JSON_EXTRACT(a, '%Y-%m-%d') make sqlglot log warnings nobody needs to read.
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _try_parse(sql: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read="mysql")
    except (SqlglotError, AttributeError):  # some wrong-arity probes trip sqlglot itself
        return None


def _written_as_allowed_call(tree: exp.Expr) -> bool:
    # CAST(a, 'x') parses too, into a CastToStrType that MySQL would only see as CAST_TO_STR_TYPE(...):
    # a literal-argument probe counts only when sqlglot writes the call back under an allowed name.
    select = tree.expressions[0] if isinstance(tree, exp.Select) and tree.expressions else None
    if not isinstance(select, exp.Func) or isinstance(select, exp.Anonymous):
        return False
    return select.sql("mysql").split("(", 1)[0].strip().upper() in allowed_names()


def _is_allowed(node: exp.Func) -> bool:
    if isinstance(node, exp.Anonymous):
        # `db.fn()` calls a stored function in another schema, whatever fn is called.
        return node.name.upper() in allowed_names() and not isinstance(node.parent, exp.Dot)
    return type(node) in allowed_node_types()


def _display_name(node: exp.Func) -> str:
    return node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name()


def allowed_functions(tree: exp.Expr, _ctx: GuardContext) -> Outcome:
    """Refuse calls outside the allow-list (SLEEP, BENCHMARK, LOAD_FILE, GET_LOCK, UDFs ...)."""
    bad = [f for f in tree.find_all(exp.Func) if not _is_allowed(f)]
    if not bad:
        return tree
    return tuple(
        Violation(
            "functions",
            f"function {_display_name(f)}() is not allowed; use ordinary MySQL functions",
            fragment(f),
        )
        for f in bad
    )
