"""What every guard rule sees besides the tree, and what a rule reports when it refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from askdb.schemas.catalog import Catalog

# The rule's name in Chinese, ahead of the exact message (which names columns and functions as typed).
RULE_ZH = {
    "syntax": "SQL 语法有误",
    "single_statement": "只能是一条语句",
    "query_only": "只允许 SELECT 查询",
    "read_only": "只允许读取,不能修改数据或表结构",
    "into": "不允许 SELECT ... INTO",
    "locking": "不允许加锁读",
    "variables": "不允许使用变量",
    "comments": "不允许可执行注释或优化器提示",
    "functions": "不允许使用这个函数",
    "names": "表名或列名不存在",
}


def zh_reason(rule: str, message: str) -> str:
    """One violation as the chat and ``askdb ask`` show it: the rule in Chinese, then the exact message."""
    return f"{RULE_ZH.get(rule, 'SQL 未通过安全检查')}({message})"


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


@dataclass(frozen=True)
class RowLimit:
    """The LIMIT a statement asked for and the one the guard left on it (``None``: no literal LIMIT).

    ``lowered`` is true when the guard put a smaller LIMIT on the statement than it asked for, a
    statement without a LIMIT counting as one that asked for every row.
    """

    requested: int | None
    applied: int | None

    @property
    def lowered(self) -> bool:
        if self.applied is None:
            return False
        return self.requested is None or self.requested > self.applied

    def cut(self, rows: int) -> bool:
        """Whether a result of ``rows`` rows may have lost rows to the lowered LIMIT."""
        return self.lowered and self.applied is not None and rows >= self.applied

    def to_dict(self) -> dict[str, int | bool | None]:
        return {"requested": self.requested, "applied": self.applied, "lowered": self.lowered}


# A rule returns the (possibly rewritten) tree, or a non-empty tuple of violations.
Outcome = exp.Expr | tuple[Violation, ...]
Rule = Callable[[exp.Expr, GuardContext], Outcome]


def fragment(node: exp.Expr, width: int = 120) -> str:
    """The offending piece of SQL, short enough to quote back to the model."""
    text = node.sql("mysql", comments=False)
    return text if len(text) <= width else text[: width - 1] + "…"
