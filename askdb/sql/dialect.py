"""Transpile an accepted MySQL tree to the target engine's dialect.

MySQL and MariaDB run the tree as MySQL, written so that both servers read it (MariaDB has no
``ANY_VALUE``, ``->>``, ``REGEXP_LIKE`` or ``LAG``/``LEAD`` default, and reads sqlglot's
``INTERVAL '1' SECOND`` as a fraction of a second). For SQLite, sqlglot's own output leaves gaps
(``YEAR()``, ``DATE_SUB(.., INTERVAL ..)``, ``SUBSTRING_INDEX``, ``CAST AS UNSIGNED``, ``CONCAT``'s
NULLs, ``DATE_FORMAT`` specifiers, ``FORMAT``, ``YEARWEEK`` ...). Where SQLite has a faithful
equivalent the tree is rewritten to it; everything else becomes a call to a MySQL-compatible Python
function, registered on every SQLite connection (see ``sqlite_functions``): under its MySQL name, or
``MYSQL_<name>`` where SQLite has a built-in of that name that means something else (``HEX``,
``QUOTE``, ``SUBSTRING``...). ``tests/test_function_parity.py`` runs every allow-listed function on
both engines.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.generators.mysql import MySQLGenerator

from askdb.errors import ConfigError

MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})


_REGEXP_FLAGS = {"c": "(?-i)", "i": "(?i)", "m": "(?m)", "n": "(?s)"}


def _regexp_sql(self: MySQLGenerator, node: exp.RegexpLike) -> str:
    # REGEXP_LIKE(a, b, 'c') as `a REGEXP b` with the match type as PCRE/ICU inline flags, which both read.
    flag = node.args.get("flag")
    if isinstance(flag, exp.Literal) and flag.is_string:
        prefix = "".join(_REGEXP_FLAGS.get(ch, "") for ch in flag.name)
        if prefix:
            pattern = exp.Anonymous(this="CONCAT", expressions=[exp.Literal.string(prefix), node.expression])
            return f"{self.sql(node, 'this')} REGEXP {self.sql(pattern)}"
    return self.binary(node, "REGEXP")


class MySQLCommon(MySQL):
    """MySQL as both MySQL 8 and MariaDB run it.

    sqlglot writes ``a REGEXP b`` back as ``REGEXP_LIKE(a, b)``, ``a->>'$.k'`` as it is and
    ``UTC_DATE()`` as ``CURRENT_DATE AT TIME ZONE 'UTC'``, none of which MariaDB reads; ``ANY_VALUE``
    does not exist there (``MIN`` is one of the values it may return). ``INTERVAL 1 SECOND`` comes
    back from sqlglot as ``INTERVAL '1' SECOND``, which MariaDB takes for a decimal and answers with
    microseconds (``... 23:59:59.000000``); the number goes back as a number.
    """

    class Generator(MySQLGenerator):  # MySQL.Generator is this class
        TRANSFORMS = {  # noqa: RUF012 (sqlglot's own class attribute, extended as sqlglot does)
            **MySQLGenerator.TRANSFORMS,
            exp.RegexpLike: _regexp_sql,
            exp.AnyValue: lambda self, e: self.func("MIN", e.this),
            exp.UtcDate: lambda self, e: "UTC_DATE()",
            exp.JSONExtractScalar: lambda self, e: self.func(
                "JSON_UNQUOTE", self.func("JSON_EXTRACT", e.this, e.expression)
            ),
        }

        def interval_sql(self, expression: exp.Interval) -> str:
            this, unit = expression.this, expression.args.get("unit")
            if isinstance(this, exp.Tuple) and unit is None:  # the INTERVAL(N, N1, N2, ...) function
                return self.func("INTERVAL", *this.expressions)
            if isinstance(this, exp.Literal) and this.is_string and re.fullmatch(r"-?\d+", this.name):
                expression = expression.copy()
                expression.set("this", exp.Literal.number(this.name))
            return super().interval_sql(expression)


def _lag_lead_default(node: exp.Expr) -> exp.Expr:
    # MariaDB's LAG/LEAD take no default: LAG(x, n, d) OVER w is d where LAG(1, n) OVER w is NULL.
    if not isinstance(node, exp.Window) or not isinstance(node.this, (exp.Lag, exp.Lead)):
        return node
    default = node.this.args.get("default")
    if default is None:
        return node
    offset = node.this.args.get("offset") or exp.Literal.number(1)
    value, probe = node.copy(), node.copy()
    value.this.set("default", None)
    probe.this.set("default", None)
    probe.this.set("this", exp.Literal.number(1))
    probe.this.set("offset", offset.copy())
    return exp.Case(ifs=[exp.If(this=exp.Is(this=probe, expression=exp.Null()), true=default)], default=value)


def _bare(node: exp.Expr | None) -> exp.Expr | None:
    # sqlglot wraps MySQL date arguments in implicit casts that SQLite would render as DATE(x).
    while isinstance(node, (exp.TsOrDsToDate, exp.TsOrDsToTimestamp)):
        node = node.this
    return node


def _call(name: str, *args: exp.Expr | None) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=[_bare(a) for a in args if a is not None])


def _args(name: str, *keys: str) -> Callable[[exp.Expr], exp.Expr]:
    """A rewrite to ``name(arg, ...)`` from the node's arguments of those keys, in that order."""
    return lambda n: _call(name, *(n.args.get(k) for k in keys))


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
    if to.this in {exp.DataType.Type.BIGINT, exp.DataType.Type.INT}:
        return _call("MYSQL_SIGNED", node.this)  # MySQL rounds 1.7 to 2, reads '1.7' as 1
    if to.this in {exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT}:
        return _call("MYSQL_SIGNED", node.this, exp.Literal.number(1))
    if to.this == exp.DataType.Type.DECIMAL:
        # MySQL's DECIMAL(p,s) rounds to s places (DECIMAL alone means scale 0); SQLite has no decimals.
        params = to.expressions
        scale = params[1].this if len(params) > 1 else exp.Literal.number(0)
        return exp.Round(this=exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")), decimals=scale)
    if to.this == exp.DataType.Type.CHARACTER_SET:  # CONVERT(x USING utf8mb4): SQLite text is UTF-8
        return exp.Cast(this=node.this, to=exp.DataType.build("TEXT"))
    if to.this == exp.DataType.Type.DATE:
        return _call("DATE", node.this)
    if to.this in {exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP}:
        return _call("MYSQL_TIMESTAMP", node.this)
    if to.this == exp.DataType.Type.TIME:
        return _call("MYSQL_TIME", node.this)
    return node


def _round(node: exp.Expr) -> exp.Expr:
    # SQLite's ROUND is MySQL's (half away from zero) for places >= 0, but reads negative places as 0.
    places = node.args.get("decimals")
    if places is None or (isinstance(places, exp.Literal) and not places.is_string):
        return node
    return _call("MYSQL_ROUND", node.this, places)


def _group_concat(node: exp.Expr) -> exp.Expr:
    # SQLite 3.40 has neither ORDER BY inside group_concat nor DISTINCT with a separator.
    value, order, distinct = node.this, [], False
    if isinstance(value, exp.Order):
        order, value = value.expressions, value.this
    if isinstance(value, exp.Distinct):
        distinct, value = True, (value.expressions[0] if len(value.expressions) == 1 else None)
    separator = node.args.get("separator") or exp.Literal.string(",")
    if value is None:  # GROUP_CONCAT(a, b): the values joined, as MySQL does
        inner = node.this.this if isinstance(node.this, exp.Order) else node.this
        value = _call("CONCAT", *inner.expressions)
    if not order and not distinct:
        return exp.GroupConcat(this=value, separator=separator)
    return _call("MYSQL_GROUP_CONCAT", value, separator, exp.Literal.number(int(distinct)), *_ordering(order))


def _ordering(order: list[exp.Expr]) -> list[exp.Expr]:
    keys: list[exp.Expr] = []
    for item in order:
        keys += [item.this if isinstance(item, exp.Ordered) else item]
        keys += [exp.Literal.number(int(bool(isinstance(item, exp.Ordered) and item.args.get("desc"))))]
    return keys


def _json_arrayagg(node: exp.Anonymous) -> exp.Expr:
    value, order, distinct = node.expressions[0] if node.expressions else exp.Null(), [], False
    if isinstance(value, exp.Order):
        order, value = value.expressions, value.this
    if isinstance(value, exp.Distinct):
        distinct, value = True, value.expressions[0]
    return _call("MYSQL_JSON_ARRAYAGG", value, exp.Literal.number(int(distinct)), *_ordering(order))


def _rand(node: exp.Expr) -> exp.Expr:
    seed = node.this
    if seed is None:
        return _call("RAND")
    # A constant seed is set once per statement and each row draws on; the token keeps that draw's state.
    constant = not any(isinstance(n, (exp.Column, exp.Func)) for n in seed.walk())
    token = exp.Literal.string(uuid.uuid4().hex) if constant else None
    return _call("RAND", seed, token)


def _trim(node: exp.Expr) -> exp.Expr:
    remove = node.expression
    if remove is None:  # spaces only: SQLite's TRIM/LTRIM/RTRIM are MySQL's
        return node
    position = str(node.args.get("position") or "BOTH").upper()
    return _call("MYSQL_TRIM", node.this, remove, exp.Literal.string(position))


def _extract(node: exp.Expr) -> exp.Expr:
    return _call("MYSQL_EXTRACT", exp.Literal.string(node.this.name.upper()), node.expression)


def _unix_to_time(node: exp.Expr) -> exp.Expr:
    if node.args.get("format") is None:
        return _call("FROM_UNIXTIME", node.this)
    return _call("FROM_UNIXTIME", node.this, _mysql_format(node))


def _add_days(node: exp.Anonymous, sign: int) -> exp.Expr:
    # ADDDATE/SUBDATE(d, INTERVAL n unit) or (d, n days).
    if len(node.expressions) != 2:
        return node
    date, amount = node.expressions
    unit = _unit(amount) if isinstance(amount, exp.Interval) else exp.Literal.string("DAY")
    number = amount.this if isinstance(amount, exp.Interval) else amount
    return _call("DATE_ADD", date, number if sign > 0 else exp.Neg(this=exp.Paren(this=number)), unit)


# Calls sqlglot leaves as they are (Anonymous) that need another name or shape on SQLite.
_ANONYMOUS: dict[str, Callable[[exp.Anonymous], exp.Expr]] = {
    "QUOTE": lambda n: _call("MYSQL_QUOTE", *n.expressions),
    "JSON_VALID": lambda n: _call("MYSQL_JSON_VALID", *n.expressions),
    "MID": lambda n: _call("MYSQL_SUBSTRING", *n.expressions),
    "JSON_ARRAYAGG": _json_arrayagg,
    "ADDDATE": lambda n: _add_days(n, 1),
    "SUBDATE": lambda n: _add_days(n, -1),
}

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
    exp.CurrentDate: "CURDATE",
    exp.CurrentTimestamp: "NOW",
    exp.CurrentTime: "CURTIME",
    exp.Localtime: "NOW",
    exp.Localtimestamp: "NOW",
    exp.StddevPop: "STDDEV_POP",
    exp.StddevSamp: "STDDEV_SAMP",
    exp.VariancePop: "VAR_POP",
    exp.Variance: "VAR_SAMP",
}

_REWRITES: dict[type, Callable[[exp.Expr], exp.Expr]] = {
    # dates and times
    exp.Week: _args("WEEK", "this", "mode"),
    exp.TimeToStr: lambda n: _call("DATE_FORMAT", n.this, _mysql_format(n)),
    exp.StrToDate: lambda n: _call("STR_TO_DATE", n.this, _mysql_format(n)),
    exp.StrToTime: lambda n: _call("STR_TO_DATE", n.this, _mysql_format(n)),
    exp.DateAdd: lambda n: _call("DATE_ADD", n.this, n.expression, _unit(n)),
    exp.DateSub: lambda n: _call("DATE_ADD", n.this, exp.Neg(this=exp.Paren(this=n.expression)), _unit(n)),
    exp.TimestampAdd: lambda n: _call("DATE_ADD", n.this, n.expression, _unit(n)),
    exp.DateDiff: _args("DATEDIFF", "this", "expression"),
    exp.TimestampDiff: lambda n: _call("TIMESTAMPDIFF", _unit(n), n.expression, n.this),
    exp.Extract: _extract,
    exp.TimeFromParts: _args("MAKETIME", "hour", "min", "sec"),
    exp.ConvertTimezone: _args("CONVERT_TZ", "timestamp", "source_tz", "target_tz"),
    exp.Time: _args("MYSQL_TIME", "this"),
    exp.Timestamp: _args("MYSQL_TIMESTAMP", "this", "zone"),
    exp.UnixToTime: _unix_to_time,
    # numbers
    exp.Mod: _args("MOD", "this", "expression"),
    exp.Trunc: _args("TRUNCATE", "this", "decimals"),
    exp.Round: _round,
    exp.NumberToStr: _args("FORMAT", "this", "format", "culture"),
    exp.Atan: lambda n: _call("ATAN2", n.this, n.expression) if n.expression is not None else n,
    exp.Cot: _args("COT", "this"),
    exp.Rand: _rand,
    exp.Interval: lambda n: (
        _call("MYSQL_INTERVAL", *n.this.expressions)
        if isinstance(n.this, exp.Tuple) and n.args.get("unit") is None
        else n
    ),
    exp.Cast: _cast,
    # strings
    exp.SubstringIndex: _args("SUBSTRING_INDEX", "this", "delimiter", "count"),
    exp.Substring: _args("MYSQL_SUBSTRING", "this", "start", "length"),
    # SQLite reads LEFT( and RIGHT( as join keywords, so these two get prefixed names.
    exp.Left: _args("MYSQL_LEFT", "this", "expression"),
    exp.Right: _args("MYSQL_RIGHT", "this", "expression"),
    exp.Trim: _trim,
    exp.Pad: lambda n: _call(
        "LPAD" if n.args.get("is_left") else "RPAD", n.this, n.expression, n.args["fill_pattern"]
    ),
    exp.Stuff: _args("MYSQL_INSERT", "this", "start", "length", "expression"),
    exp.StrPosition: _args("LOCATE", "substr", "this", "position"),
    exp.Concat: lambda n: _call("CONCAT", *n.expressions),
    exp.ConcatWs: lambda n: _call("CONCAT_WS", *n.expressions),
    exp.Elt: lambda n: _call("ELT", n.this, *n.expressions),
    exp.Length: lambda n: _call("OCTET_LENGTH" if n.args.get("binary") else "CHAR_LENGTH", n.this),
    exp.BitLength: _args("BIT_LENGTH", "this"),
    exp.Repeat: _args("REPEAT", "this", "times"),
    exp.Space: lambda n: _call("REPEAT", exp.Literal.string(" "), n.this),
    exp.Reverse: _args("REVERSE", "this"),
    exp.Lower: _args("MYSQL_LOWER", "this"),
    exp.Upper: _args("MYSQL_UPPER", "this"),
    exp.Ascii: _args("ASCII", "this"),
    exp.Chr: lambda n: _call("MYSQL_CHAR", *n.expressions),
    exp.Hex: _args("MYSQL_HEX", "this"),
    exp.Unhex: _args("UNHEX", "this"),
    exp.ToBase64: _args("TO_BASE64", "this"),
    exp.FromBase64: _args("FROM_BASE64", "this"),
    exp.MD5: _args("MD5", "this"),
    exp.SHA: _args("SHA1", "this"),
    exp.SHA2: _args("SHA2", "this", "length"),
    exp.Soundex: _args("MYSQL_SOUNDEX", "this"),
    exp.Collation: _args("COLLATION", "this"),
    exp.WeightString: _args("WEIGHT_STRING", "this"),
    exp.RegexpLike: lambda n: _call("MYSQL_REGEXP_LIKE", n.this, n.expression, n.args.get("flag")),
    exp.RegexpInstr: _args(
        "REGEXP_INSTR", "this", "expression", "position", "occurrence", "option", "parameters"
    ),
    exp.RegexpSubstr: _args("REGEXP_SUBSTR", "this", "expression", "position", "occurrence", "parameters"),
    exp.RegexpReplace: _args(
        "REGEXP_REPLACE", "this", "expression", "replacement", "position", "occurrence", "modifiers"
    ),
    # JSON
    exp.JSONExtractScalar: lambda n: _call(
        "JSON_UNQUOTE", exp.JSONExtract(this=n.this, expression=n.expression)
    ),
    exp.JSONType: _args("MYSQL_JSON_TYPE", "this"),
    exp.JSONKeys: _args("JSON_KEYS", "this", "expression"),
    exp.JSONValue: _args("JSON_VALUE", "this", "path"),
    # aggregates
    exp.AnyValue: lambda n: exp.Min(this=n.this),
    exp.BitwiseAndAgg: _args("BIT_AND", "this"),
    exp.BitwiseOrAgg: _args("BIT_OR", "this"),
    exp.BitwiseXorAgg: _args("BIT_XOR", "this"),
    exp.GroupConcat: _group_concat,
    exp.JSONObjectAgg: lambda n: _call(
        "MYSQL_JSON_OBJECTAGG", n.expressions[0].this, n.expressions[0].expression
    ),
}


def _sqlite_node(node: exp.Expr) -> exp.Expr:
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        return _interval_call(node)
    if isinstance(node, exp.Anonymous):
        rewrite_call = _ANONYMOUS.get(node.name.upper())
        return rewrite_call(node) if rewrite_call is not None else node
    name = _SIMPLE.get(type(node))
    if name is not None:
        return _call(name, *node.args.values()) if node.args else _call(name)
    rewrite = _REWRITES.get(type(node))
    return rewrite(node) if rewrite is not None else node


def _rewrite(tree: exp.Expr, rewrite: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """``rewrite`` applied to every node of a copy of ``tree``, children before their parents.

    sqlglot's own ``transform`` does not look inside a node it has just replaced, so a rewrite nested in
    another (``CONCAT(LEFT(a, 2), ...)``) would keep its MySQL spelling.
    """
    root = tree.copy()
    for node in reversed(list(root.walk())):
        new = rewrite(node)
        if new is node:
            continue
        if node is root:
            root = new
        else:
            node.replace(new)
    return root


def sqlite_tree(tree: exp.Expr) -> exp.Expr:
    """The MySQL tree with every construct SQLite gets wrong rewritten (the input is not changed)."""
    return _rewrite(tree, _sqlite_node)


def mysql_tree(tree: exp.Expr) -> exp.Expr:
    """The MySQL tree with what MariaDB lacks rewritten to what both servers run (the input is not changed)."""
    if tree.find(exp.Lag, exp.Lead) is None:
        return tree  # the common case: nothing to rewrite, no copy
    return _rewrite(tree, _lag_lead_default)


def to_dialect(tree: exp.Expr, dialect: str) -> str:
    """The SQL text to send to an engine of ``dialect`` (identity for MySQL/MariaDB), without comments."""
    if dialect in MYSQL_DIALECTS:
        return mysql_tree(tree).sql(MySQLCommon, comments=False)
    if dialect == "sqlite":
        return sqlite_tree(tree).sql("sqlite", comments=False)
    raise ConfigError(f"no SQL dialect for engine {dialect!r}", hint="askdb runs on MySQL/MariaDB or SQLite")
