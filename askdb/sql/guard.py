"""The SQL guard: parse one MySQL statement, apply the rules in order, return it safe or refuse it.

Two checks run before the tree exists because they are about text sqlglot does not keep:
MySQL executes ``/*! ... */`` (and MariaDB ``/*M! ... */``) comments and obeys ``/*+ ... */``
optimizer hints (one can lift ``MAX_EXECUTION_TIME``), while sqlglot treats them as comments.
The statement that runs is always regenerated from the checked tree without comments, so even a
comment trick the lexer check missed could not reach the server; refusing it still tells the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import SqlglotError

from askdb.errors import SqlRejected
from askdb.schemas.catalog import Catalog
from askdb.sql.context import GuardContext, RowLimit, Rule, Violation, fragment
from askdb.sql.dialect import to_dialect
from askdb.sql.fullwidth import ascii_punctuation
from askdb.sql.rules import RULES
from askdb.sql.rules.limit import limit_value

_QUERY_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN}
# "/*+" anywhere, not only after SELECT: a hint-looking comment is refused rather than reasoned about.
_EXECUTABLE_MARKERS = ("/*!", "/*M!", "/*m!", "/*+")


@dataclass(frozen=True)
class Verdict:
    """The guard's answer: the accepted tree and its MySQL text, or the violations.

    ``limit`` (accepted statements only) says which LIMIT the statement asked for and which one
    it runs with, so a front end can tell the person that rows were held back.
    """

    sql: str
    tree: exp.Expr | None = None
    violations: tuple[Violation, ...] = field(default_factory=tuple)
    limit: RowLimit | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def ordered(self) -> bool:
        """Whether the accepted statement sorts its rows (a top-level ORDER BY): their order means something."""
        return self.tree is not None and bool(self.tree.args.get("order"))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "sql": self.sql, "violations": [v.to_dict() for v in self.violations]}


def _tokens(sql: str) -> list[Token] | tuple[Violation, ...]:
    try:
        # The sentinel ';' gives trailing comments a token to attach to: a statement that is only
        # "/*!DROP TABLE t*/" has no other token, and its comment would be dropped unseen.
        return MySQL().tokenize(sql + "\n;")
    except SqlglotError:
        # sqlglot's text quotes the whole statement back; what a person can act on is this
        return (
            Violation("syntax", "cannot read the statement: a quote or bracket is not closed", sql[:120]),
        )


def lexical_violations(sql: str, tokens: list[Token]) -> tuple[Violation, ...]:
    """Executable comments and optimizer hints, which MySQL obeys and sqlglot does not."""
    found = [
        Violation("comments", "optimizer hints /*+ ... */ are not allowed", t.text)
        for t in tokens
        if t.token_type == TokenType.HINT
    ]
    # The tokenizer strips the '!' or '+' from comment text, so look at the raw text: a marker that
    # no token (string, quoted name) covers sits in a comment, where MySQL would act on it.
    spans = [(t.start, t.end) for t in tokens]
    for marker in _EXECUTABLE_MARKERS:
        at = sql.find(marker)
        while at != -1:
            if not any(start <= at <= end for start, end in spans):
                found.append(
                    Violation(
                        "comments",
                        "executable comments /*! ... */ and hints /*+ ... */ are not "
                        "allowed: MySQL acts on their content",
                        sql[at : at + 60],
                    )
                )
            at = sql.find(marker, at + 1)
    return tuple(found)


def _parse_violation(sql: str, tokens: list[Token], exc: SqlglotError) -> Violation:
    # sqlglot cannot parse SELECT ... INTO OUTFILE/DUMPFILE/@var; say what is wrong, not just "syntax".
    types = [t.token_type for t in tokens]
    if types and types[0] not in _QUERY_STARTS:
        # An unparsable LOAD DATA, HANDLER, DO ...: the model needs to hear "not a query", not "syntax".
        return Violation(
            "query_only", f"only SELECT queries may run, not {tokens[0].text.upper()}", sql[:120]
        )
    if TokenType.INTO in types and TokenType.SELECT in types:
        return Violation("into", "SELECT ... INTO (OUTFILE, DUMPFILE, variables) is not allowed", sql[:120])
    first_error = (getattr(exc, "errors", None) or [{}])[0]
    return Violation("syntax", f"not valid MySQL: {_syntax_detail(first_error, exc)}", sql[:120])


def _syntax_detail(error: dict[str, Any], exc: SqlglotError) -> str:
    """sqlglot's description without its internals ("missing for <class 'sqlglot...EQ'>"), and where."""
    description = error.get("description") or str(exc).splitlines()[0]
    if "<class" in description or description.startswith("Required keyword"):
        description = "the expression is incomplete"
    where = error.get("highlight")
    if not where:
        return description
    return f"{description} near `{where}` (line {error.get('line', 1)}, column {error.get('col', 0)})"


def parse_statement(sql: str) -> exp.Expr | tuple[Violation, ...]:
    """Exactly one MySQL statement, parsed; or why not. Full-width punctuation typed with a Chinese
    input method (，（）‘’；) is read as its ASCII form outside string literals first."""
    sql = ascii_punctuation(sql)
    tokens = _tokens(sql)
    if isinstance(tokens, tuple):
        return tokens
    lexical = lexical_violations(sql, tokens)
    if lexical:
        return lexical
    try:
        # The lexical check's tokens, parsed as they are: tokenizing again costs as much as the parse.
        statements = [s for s in MySQL().parser().parse(tokens, sql) if s is not None]
    except SqlglotError as exc:
        return (_parse_violation(sql, tokens, exc),)
    if len(statements) != 1:
        what = "no statement" if not statements else f"{len(statements)} statements"
        return (
            Violation(
                "single_statement",
                f"exactly one statement is allowed, got {what}",
                "; ".join(fragment(s, 60) for s in statements),
            ),
        )
    return statements[0]


def apply_rules(tree: exp.Expr, ctx: GuardContext, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """Run the rules in order; the first that refuses ends the check."""
    requested = limit_value(tree)
    for rule in rules:
        outcome = rule(tree, ctx)
        if isinstance(outcome, tuple):
            return Verdict(sql=tree.sql("mysql", comments=False), violations=outcome)
        tree = outcome
    limit = RowLimit(requested=requested, applied=limit_value(tree))
    return Verdict(sql=to_dialect(tree, "mysql"), tree=tree, limit=limit)


def check(sql: str, ctx: GuardContext) -> Verdict:
    """Check one statement: parse it as MySQL, then apply the rules in order.

    Args:
        sql: the statement as the model (or a person) wrote it.
        ctx: the catalog its names must come from, the LIMIT to enforce and the current database.

    Returns:
        A ``Verdict``: when ``ok``, the checked (LIMITed) tree, the MySQL text regenerated from
        it without comments and the LIMIT asked for beside the one applied; otherwise the violations of the first rule that refused.

    Raises:
        Nothing for bad SQL: unreadable, multiple or unsafe statements come back as violations.
    """
    try:
        parsed = parse_statement(sql)
        if isinstance(parsed, tuple):
            return Verdict(sql=sql, violations=parsed)
        return apply_rules(parsed, ctx)
    except RecursionError:  # a model that writes ((((... until its tokens run out: refuse, do not crash
        return Verdict(
            sql=sql,
            violations=(
                Violation("syntax", "the statement nests too deeply to check; write it flat", sql[:120]),
            ),
        )


def guard(sql: str, catalog: Catalog, *, row_limit: int = 10, database: str | None = None) -> exp.Expr:
    """The checked, LIMITed tree of ``sql``, or SqlRejected with every violation."""
    verdict = check(sql, GuardContext(catalog=catalog, row_limit=row_limit, database=database))
    if verdict.ok:
        assert verdict.tree is not None
        return verdict.tree
    first = verdict.violations[0]
    raise SqlRejected(
        f"SQL rejected ({first.rule}): {first.message}",
        hint="rewrite it as one read-only SELECT over the catalog's tables",
        violations=verdict.violations,
    )
