"""SFT data: chat examples rendered with exactly the prompt and retrieved context the assistant uses.

Sources, in order of precedence when two ask the same thing: the TRAIN split of the ads question
set, the verified examples, and template-generated pairs whose values are read from the database
(each generated statement passes the guard and returns rows, or it is dropped). The eval TEST split
never enters: a candidate whose question is a near-duplicate of a test question, or whose SQL is a
test question's gold SQL, is dropped. Records are split train/validation by a hash of the
normalised question, so the split does not move when other records come or go.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from askdb.assistant import Turn, retrieval_query, sql_messages
from askdb.eval.dataset import NEAR_DUPLICATE, Question, load_ads_questions, normalise, similarity
from askdb.files import atomic_path
from askdb.rag.retriever import DEFAULT_K, Retriever
from askdb.schemas.catalog import Catalog
from askdb.schemas.knowledge import Example, packaged_examples
from askdb.sql.context import GuardContext
from askdb.sql.guard import check
from askdb.sql.runner import Runner, run_tree

# The prompt's rule 8 asks for "无法回答:" and one sentence saying what is missing.
DECLINE = "无法回答:给出的表和字段中没有回答这个问题所需的数据。"
VALIDATION_SHARE = 10  # percent of normalised questions that hash into validation

Progress = Callable[[str], None]


def _no_progress(_stage: str) -> None:
    return None


@dataclass(frozen=True)
class PromptSettings:
    """What shapes the SQL-expert prompt; defaults are the assistant's."""

    row_limit: int = 10
    k: int = DEFAULT_K
    system_in_user: bool = False


@dataclass(frozen=True)
class Candidate:
    """A question with its gold SQL (None: decline) before it is rendered."""

    id: str
    question: str
    sql: str | None
    source: str  # ads | example | augment
    history: tuple[tuple[str, str], ...] = ()  # (question, sql) of earlier turns


@dataclass
class SftRecord:
    """One chat example as written to JSONL."""

    id: str
    source: str
    split: str
    question: str
    sql: str | None
    messages: list[dict[str, str]]
    reasoning: str = ""  # optional thinking text for R1-style models; never part of ``messages``
    tables: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def answer_text(sql: str | None) -> str:
    """The reply the prompt asks for: one ```sql fence, or the decline sentence."""
    return DECLINE if sql is None else f"```sql\n{' '.join(sql.split())}\n```"


def render(candidate: Candidate, retriever: Retriever, prompt: PromptSettings) -> list[dict[str, str]]:
    """The chat the assistant would send for this question, then the gold answer."""
    history = [Turn(q, s) for q, s in candidate.history]
    retrieval = retriever.retrieve(retrieval_query(candidate.question, history), prompt.k)
    chat = sql_messages(
        candidate.question,
        history,
        retrieval.context,
        row_limit=prompt.row_limit,
        system_in_user=prompt.system_in_user,
    )
    return [{"role": m.role, "content": m.content} for m in chat] + [
        {"role": "assistant", "content": answer_text(candidate.sql)}
    ]


def reasoning_text(candidate: Candidate, catalog: Catalog) -> str:
    """A short, factual thinking text for R1-style training: which tables and columns the SQL uses."""
    if candidate.sql is None:
        return "问题需要的数据在给出的表和字段中找不到,所以不能写 SQL。"
    tree = sqlglot.parse_one(candidate.sql, read="mysql")
    tables = sorted({t.name for t in tree.find_all(exp.Table) if t.name in catalog})
    columns = sorted({c.name for c in tree.find_all(exp.Column) if c.name})
    return f"问题涉及的表:{'、'.join(tables)};用到的字段:{'、'.join(columns)}。按规则写一条 MySQL 查询。"


# -- sources -------------------------------------------------------------------------------------


def ads_candidates(questions: Iterable[Question]) -> list[Candidate]:
    """Question-set entries as candidates; follow-ups keep their previous turn."""
    return [
        Candidate(
            q.id, q.question, q.sql, "ads", ((q.previous.question, q.previous.sql),) if q.previous else ()
        )
        for q in questions
    ]


def example_candidates(examples: Iterable[Example]) -> list[Candidate]:
    return [Candidate(f"example-{n:03d}", e.question, e.sql, "example") for n, e in enumerate(examples, 1)]


@dataclass(frozen=True)
class Template:
    """A question pattern over one column's real values and the statement that answers it."""

    question: str  # with {value}
    table: str
    column: str
    select: str  # the SELECT list, MySQL
    order: str | None = None
    limit: int | None = None

    def sql(self, value: str) -> str:
        """The statement for one value, built as a tree so the value is always a quoted literal."""
        query = sqlglot.select(*[s.strip() for s in self.select.split(";")], dialect="mysql").from_(
            self.table
        )
        query = query.where(exp.EQ(this=exp.column(self.column), expression=exp.Literal.string(value)))
        if self.order:
            query = query.order_by(self.order, dialect="mysql")
        if self.limit:
            query = query.limit(self.limit)
        return query.sql("mysql")


TEMPLATES: tuple[Template, ...] = (
    Template("{value}的达人有多少?", "ads_account", "city", "COUNT(*) AS creators"),
    Template(
        "{value}平台粉丝最多的5个达人是谁?",
        "ads_account",
        "platform",
        "nickname; fans",
        order="fans DESC",
        limit=5,
    ),
    Template("{value}领域的达人平均有多少粉丝?", "ads_account", "category", "AVG(fans) AS avg_fans"),
    Template("品牌{value}一共有几个投放计划?", "ads_campaign", "brand", "COUNT(*) AS campaigns"),
    Template("状态是{value}的投放计划预算加起来多少?", "ads_campaign", "status", "SUM(budget) AS budget"),
    Template("{value}素材一共有多少个?", "ads_material", "media_type", "COUNT(*) AS materials"),
)


def column_values(runner: Runner, catalog: Catalog, table: str, column: str, limit: int = 50) -> list[str]:
    """Distinct non-empty values of one column, read through the guard like any other query."""
    query = (
        sqlglot.select(exp.column(column))
        .distinct()
        .from_(table)
        .where(exp.Not(this=exp.Is(this=exp.column(column), expression=exp.Null())))
        .order_by(exp.column(column))
    )
    verdict = check(query.sql("mysql"), GuardContext(catalog=catalog, row_limit=limit))
    if not verdict.ok:
        return []
    return [str(row[0]) for row in run_tree(runner, verdict.tree).rows() if str(row[0]).strip()]


def _has_rows(runner: Runner, catalog: Catalog, sql: str, row_limit: int) -> bool:
    """The guard accepts the statement and it returns at least one row with a non-empty, non-zero value."""
    verdict = check(sql, GuardContext(catalog=catalog, row_limit=row_limit))
    if not verdict.ok:
        return False
    frame = run_tree(runner, verdict.tree).frame
    return any(v is not None and v != 0 and str(v) not in ("", "nan") for v in frame.to_numpy().ravel())


def augment(
    runner: Runner,
    catalog: Catalog,
    count: int,
    *,
    seed: int = 0,
    row_limit: int = 10,
    templates: Sequence[Template] = TEMPLATES,
    progress: Progress = _no_progress,
) -> list[Candidate]:
    """Up to ``count`` generated pairs, templates taken in turn, values drawn from the database."""
    rng = random.Random(seed)
    pools = {t: column_values(runner, catalog, t.table, t.column) for t in templates}
    pairs = [(t, v) for t in templates for v in pools[t]]
    rng.shuffle(pairs)
    found: list[Candidate] = []
    for template, value in pairs:
        if len(found) >= count:
            break
        sql = template.sql(value)
        progress("augment")
        if _has_rows(runner, catalog, sql, row_limit):
            found.append(
                Candidate(
                    f"augment-{len(found) + 1:04d}", template.question.format(value=value), sql, "augment"
                )
            )
    return found


# -- leak guard, dedup, split --------------------------------------------------------------------


def _sql_key(sql: str | None) -> str | None:
    if sql is None:
        return None
    try:
        return sqlglot.parse_one(sql, read="mysql").sql("mysql", normalize=True).lower()
    except sqlglot.errors.ParseError:
        return " ".join(sql.lower().split())


def leaks(candidate: Candidate, test: Sequence[Question], threshold: float = NEAR_DUPLICATE) -> bool:
    """Whether a candidate asks a test question again (near-duplicate text) or carries a test gold SQL."""
    key = _sql_key(candidate.sql)
    return any(
        similarity(candidate.question, q.question) >= threshold
        or (key is not None and key == _sql_key(q.sql))
        for q in test
    )


def dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The first candidate of each normalised question (follow-ups count with their earlier turn)."""
    seen: set[str] = set()
    kept = []
    for c in candidates:
        key = normalise(" ".join([q for q, _ in c.history] + [c.question]))
        if key not in seen:
            seen.add(key)
            kept.append(c)
    return kept


def split_of(question: str) -> str:
    """train or validation, from a hash of the normalised question."""
    bucket = int(hashlib.sha256(normalise(question).encode("utf-8")).hexdigest(), 16) % 100
    return "validation" if bucket < VALIDATION_SHARE else "train"


# -- the whole build -----------------------------------------------------------------------------


def build_candidates(
    runner: Runner,
    catalog: Catalog,
    *,
    augment_count: int = 0,
    seed: int = 0,
    row_limit: int = 10,
    progress: Progress = _no_progress,
) -> tuple[list[Candidate], int]:
    """Every usable candidate, test leaks and guard-rejected gold SQL removed. Returns (candidates, dropped)."""
    test = load_ads_questions("test")
    raw = ads_candidates(load_ads_questions("train")) + example_candidates(packaged_examples())
    if augment_count:
        raw += augment(runner, catalog, augment_count, seed=seed, row_limit=row_limit, progress=progress)
    kept = [
        c
        for c in dedupe(raw)
        if not leaks(c, test)
        and (c.sql is None or check(c.sql, GuardContext(catalog=catalog, row_limit=row_limit)).ok)
    ]
    return kept, len(raw) - len(kept)


def build_records(
    candidates: Sequence[Candidate],
    retriever: Retriever,
    catalog: Catalog,
    *,
    prompt: PromptSettings | None = None,
    reasoning: bool = False,
    progress: Progress = _no_progress,
) -> list[SftRecord]:
    """Render each candidate into a chat record."""
    prompt = prompt or PromptSettings()
    records = []
    for c in candidates:
        tables = (
            []
            if c.sql is None
            else [t.name for t in sqlglot.parse_one(c.sql, read="mysql").find_all(exp.Table)]
        )
        records.append(
            SftRecord(
                id=c.id,
                source=c.source,
                split=split_of(c.question),
                question=c.question,
                sql=c.sql,
                messages=render(c, retriever, prompt),
                reasoning=reasoning_text(c, catalog) if reasoning else "",
                tables=sorted(set(tables)),
            )
        )
        progress("render")
    return records


def write_jsonl(records: Iterable[SftRecord], path: Path) -> int:
    """Write records as JSON lines atomically: a temporary file in the same folder, then a rename."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """Records from an SFT file, optionally one split."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]
