"""Transpile an accepted MySQL tree to the target engine's dialect.

MySQL and MariaDB run the tree as MySQL. For SQLite, sqlglot's own output leaves gaps (``YEAR()``,
``DATE_SUB(.., INTERVAL ..)``, ``SUBSTRING_INDEX``, ``CAST AS UNSIGNED``, ``CONCAT``'s NULLs,
``DATE_FORMAT`` specifiers ...). Where SQLite has a faithful equivalent the tree is rewritten to it;
everything else becomes a call to a MySQL-compatible Python function of the same MySQL name,
registered on every SQLite connection (see ``sqlite_functions``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.generators.mysql import MySQLGenerator

from askdb.errors import ConfigError

MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})


class MySQLCommon(MySQL):
    """MySQL as both MySQL 8 and MariaDB run it.

    sqlglot writes ``a REGEXP b`` back as ``REGEXP_LIKE(a, b)``, which MariaDB does not have; the
    operator spelling works on both servers.
    """

    class Generator(MySQLGenerator):  # MySQL.Generator is this class
        TRANSFORMS = {  # noqa: RUF012 (sqlglot's own class attribute, extended as sqlglot does)
            **MySQLGenerator.TRANSFORMS,
            exp.RegexpLike: lambda self, e: self.binary(e, "REGEXP"),
        }


def _bare(node: exp.Expr | None) -> exp.Expr | None:
    # sqlglot wraps MySQL date arguments in implicit casts that SQLite would render as DATE(x).
    while isinstance(node, (exp.TsOrDsToDate, exp.TsOrDsToTimestamp)):
        node = node.this
    return node


def _call(name: str, *args: exp.Expr | None) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=[_bare(a) for a in args if a is not None])


def _mysql_format(node: exp.Expr) -> exp.Literal:
    # The tree keeps formats in sqlglot's strftime spelling; give the UDF MySQL's own specifiers back.
    rendered = MySQL().generator().format_time(node) or "''"
    return exp.Literal.string(rendered[1:-1].replace("''", "'"))


def _unit(node: exp.Expr) -> exp.Literal:
    unit = node.args.get("unit")
    return exp.Literal.string(unit.name.upper() if unit is not None else "DAY")


def _interval_call(node: exp.Binary) -> exp.Expr:
    date, interval = node.this, node.expression
    amount = interval.this if isinstance(node, exp.Add) else exp.Neg(this=exp.Paren(this=interval.this))
    return _call("DATE_ADD", date, amount, _unit(interval))


def _cast(node: exp.Expr) -> exp.Expr:
    if not isinstance(node, exp.Cast):  # registered for exp.Cast only
        return node
    to = node.to
    if to.this in {exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT, exp.DataType.Type.BIGINT}:
        return exp.Cast(this=node.this, to=exp.DataType.build("BIGINT"))
    if to.this == exp.DataType.Type.DECIMAL:
        # MySQL's DECIMAL(p,s) rounds to s places (DECIMAL alone means scale 0); SQLite has no decimals.
        params = to.expressions
        scale = params[1].this if len(params) > 1 else exp.Literal.number(0)
        return exp.Round(this=exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")), decimals=scale)
    return node


_SIMPLE: dict[type, str] = {
    exp.Year: "YEAR",
    exp.Month: "MONTH",
    exp.Day: "DAY",
    exp.DayOfMonth: "DAY",
    exp.Hour: "HOUR",
    exp.Minute: "MINUTE",
    exp.Second: "SECOND",
    exp.Quarter: "QUARTER",
    exp.DayOfWeek: "DAYOFWEEK",
    exp.DayOfYear: "DAYOFYEAR",
    exp.WeekOfYear: "WEEKOFYEAR",
    exp.LastDay: "LAST_DAY",
    exp.Dayname: "DAYNAME",
    exp.UnixToTime: "FROM_UNIXTIME",
    exp.CurrentDate: "CURDATE",
    exp.CurrentTimestamp: "NOW",
    exp.CurrentTime: "CURTIME",
    exp.StddevPop: "STDDEV_POP",
    exp.StddevSamp: "STDDEV_SAMP",
    exp.VariancePop: "VAR_POP",
    exp.Variance: "VAR_SAMP",
}

_REWRITES: dict[type, Callable[[exp.Expr], exp.Expr]] = {
    exp.Week: lambda n: _call("WEEK", n.this, n.args.get("mode")),
    exp.TimeToStr: lambda n: _call("DATE_FORMAT", n.this, _mysql_format(n)),
    exp.StrToDate: lambda n: _call("STR_TO_DATE", n.this, _mysql_format(n)),
    exp.DateAdd: lambda n: _call("DATE_ADD", n.this, n.expression, _unit(n)),
    exp.DateSub: lambda n: _call("DATE_ADD", n.this, exp.Neg(this=exp.Paren(this=n.expression)), _unit(n)),
    exp.DateDiff: lambda n: _call("DATEDIFF", n.this, n.expression),
    exp.TimestampDiff: lambda n: _call("TIMESTAMPDIFF", _unit(n), n.expression, n.this),
    exp.SubstringIndex: lambda n: _call("SUBSTRING_INDEX", n.this, n.args["delimiter"], n.args["count"]),
    # SQLite reads LEFT( and RIGHT( as join keywords, so these two get prefixed names.
    exp.Left: lambda n: _call("MYSQL_LEFT", n.this, n.expression),
    exp.Right: lambda n: _call("MYSQL_RIGHT", n.this, n.expression),
    exp.Mod: lambda n: _call("MOD", n.this, n.expression),
    exp.Concat: lambda n: _call("CONCAT", *n.expressions),
    exp.ConcatWs: lambda n: _call("CONCAT_WS", *n.expressions),
    exp.Trunc: lambda n: _call("TRUNCATE", n.this, n.args.get("decimals")),
    exp.Length: lambda n: _call("OCTET_LENGTH" if n.args.get("binary") else "CHAR_LENGTH", n.this),
    exp.Cast: _cast,
}


def _sqlite_node(node: exp.Expr) -> exp.Expr:
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        return _interval_call(node)
    name = _SIMPLE.get(type(node))
    if name is not None:
        return _call(name, *node.args.values()) if node.args else _call(name)
    rewrite = _REWRITES.get(type(node))
    return rewrite(node) if rewrite is not None else node


def sqlite_tree(tree: exp.Expr) -> exp.Expr:
    """The MySQL tree with every construct SQLite gets wrong rewritten (the input is not changed)."""
    return tree.transform(_sqlite_node)  # transform works on a copy


def to_dialect(tree: exp.Expr, dialect: str) -> str:
    """The SQL text to send to an engine of ``dialect`` (identity for MySQL/MariaDB), without comments."""
    if dialect in MYSQL_DIALECTS:
        return tree.sql(MySQLCommon, comments=False)
    if dialect == "sqlite":
        return sqlite_tree(tree).sql("sqlite", comments=False)
    raise ConfigError(f"no SQL dialect for engine {dialect!r}", hint="askdb runs on MySQL/MariaDB or SQLite")
