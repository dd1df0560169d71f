"""Ask back instead of guessing: one short question with the readings as options.

Two cases, both decided from what retrieval already has (no model call):

- **a period the data does not cover**: the question names 上个月, 最近7天, 去年 ... and every day of
  it lies outside the data of the best table's time columns; the options are the data's own latest
  period of that length, all of the data, or the period as asked;
- **a key term two tables answer**: a column comment the question names word for word (消耗, 品牌)
  belongs to columns of the two best tables, ranked almost alike; the options name each table.

Each option carries the whole question to ask next, so a click (or the API client) asks it as is;
asking it again with ``clarify=False`` is what bounds this to one question back per turn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from askdb.rag.dates import relative_periods
from askdb.sql.labels import short_comment

if TYPE_CHECKING:
    from askdb.rag.retriever import Retrieval
    from askdb.schemas.catalog import Catalog

CLOSE_SCORES = 0.95  # the second table ranks at least this share of the first: two readings, not one


@dataclass(frozen=True)
class ClarifyOption:
    label: str  # what the button says
    question: str  # the question to ask when it is chosen


@dataclass(frozen=True)
class Clarification:
    """The question back, why it is asked, and the readings to choose from."""

    question: str
    reason: str  # "period_outside_data" | "two_tables"
    options: tuple[ClarifyOption, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "reason": self.reason,
            "options": [asdict(o) for o in self.options],
        }

    def markdown(self) -> str:
        lines = [f"**需要确认:** {self.question}", ""]
        lines += [f"{i}. {o.label}" for i, o in enumerate(self.options, 1)]
        return "\n".join(lines)


def clarification(
    question: str, retrieval: Retrieval, catalog: Catalog, today: date | None
) -> Clarification | None:
    """The question to ask back, or None when the question has one sensible reading."""
    return _period_outside_data(question, retrieval, today) or _two_tables(question, retrieval, catalog)


def _period_outside_data(question: str, retrieval: Retrieval, today: date | None) -> Clarification | None:
    if today is None or not retrieval.tables:
        return None
    best = retrieval.tables[0].name
    ranges = [r for r in retrieval.ranges if r.table == best]
    periods = relative_periods(question, today)
    if not ranges or not periods:
        return None
    first, last = min(r.first for r in ranges), max(r.last for r in ranges)
    words, start, end = periods[0]
    if not (end.isoformat() < first or start.isoformat() > last):
        return None  # some of the period has data: answer it
    data_last = date.fromisoformat(last[:10])
    latest_start = max(data_last - (end - start), date.fromisoformat(first[:10]))
    latest = f"{latest_start.isoformat()}至{data_last.isoformat()}"
    options = (
        ClarifyOption(f"改查数据中最近的同样长度:{latest}", question.replace(words, latest, 1)),
        ClarifyOption(f"查全部数据({first} 至 {last})", question.replace(words, "", 1).strip() or question),
        ClarifyOption(f"仍按{words}({start.isoformat()} 至 {end.isoformat()})查询", question),
    )
    ask = (
        f"{words}是 {start.isoformat()} 至 {end.isoformat()},但 {best} 的数据只到 {first} 至 {last}。"
        "要查哪一段?"
    )
    return Clarification(ask, "period_outside_data", options)


def _two_tables(question: str, retrieval: Retrieval, catalog: Catalog) -> Clarification | None:
    ranked = [t for t in retrieval.tables if t.via == "rank"][:2]
    if len(ranked) < 2 or ranked[1].score < CLOSE_SCORES * ranked[0].score:
        return None
    found = [_named_column(question, catalog, hit.name) for hit in ranked]
    if not all(found) or found[0][1] != found[1][1]:  # type: ignore[index]
        return None
    term = found[0][1]  # type: ignore[index]
    options = []
    for hit, (column, _) in zip(ranked, found, strict=True):  # type: ignore[misc]
        table = catalog.table(hit.name)
        what = short_comment(table.comment) if table is not None and table.comment else hit.name
        options.append(ClarifyOption(f"{what}({hit.name}.{column})", f"{question}(用 {hit.name}.{column})"))
    ask = f"“{term}”在 {ranked[0].name} 和 {ranked[1].name} 里都有,要按哪张表统计?"
    return Clarification(ask, "two_tables", tuple(options))


def _named_column(question: str, catalog: Catalog, table_name: str) -> tuple[str, str] | None:
    """The column of ``table_name`` whose comment the question names word for word (longest first)."""
    table = catalog.table(table_name)
    if table is None:
        return None
    named = [(c.name, short_comment(c.comment)) for c in table.columns if c.comment]
    named = [(n, term) for n, term in named if len(term) >= 2 and term in question]
    return max(named, key=lambda x: len(x[1])) if named else None
