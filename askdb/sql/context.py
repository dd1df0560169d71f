"""What every guard rule sees besides the tree, and what a rule reports when it refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from askdb.schemas.catalog import Catalog


@dataclass(frozen=True)
class Violation:
    """One reason a statement was refused; the same fields go into the model's repair prompt."""

    rule: str
    message: str
    fragment: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message, "fragment": self.fragment}


@dataclass(frozen=True)
class GuardContext:
    """The catalog the names must come from, the LIMIT to enforce, and the current database's name.

    ``database`` is the only schema a table may be qualified with (``ads.ads_summary``); ``None``
    means no qualifier is accepted at all.
    """

    catalog: Catalog
    row_limit: int = 10
    database: str | None = None


# A rule returns the (possibly rewritten) tree, or a non-empty tuple of violations.
Outcome = exp.Expr | tuple[Violation, ...]
Rule = Callable[[exp.Expr, GuardContext], Outcome]


def fragment(node: exp.Expr, width: int = 120) -> str:
    """The offending piece of SQL, short enough to quote back to the model."""
    text = node.sql("mysql", comments=False)
    return text if len(text) <= width else text[: width - 1] + "…"
