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
from datetime import date
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from askdb.assistant import Turn, retrieval_query, sql_messages
from askdb.eval.dataset import NEAR_DUPLICATE, Question, load_ads_questions, normalise, similarity
from askdb.files import atomic_path
from askdb.forecast.intent import forecast_intent
from askdb.rag.retriever import DEFAULT_K, ExampleHit, Retrieval, Retriever, render_sections
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
    max_rows: int = 1000  # a forecast question's limit: the assistant asks for the whole history
    k: int = DEFAULT_K
    system_in_user: bool = False
    today: date | None = None  # the prompt's 今天 and relative periods, as the assistant sends them


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


def _is_own_example(candidate: Candidate, hit: ExampleHit) -> bool:
    """Whether a retrieved verified example is this candidate itself (or asks the same thing)."""
    return similarity(candidate.question, hit.question) >= NEAR_DUPLICATE or (
        candidate.sql is not None and _sql_key(candidate.sql) == _sql_key(hit.sql)
    )


def leave_one_out(candidate: Candidate, retrieval: Retrieval) -> str:
    """The retrieved context without the examples that are the candidate's own question and answer.

    A verified example (or a train question that is also one) retrieves itself: trained on that, a
    model learns to copy the example's SQL, which is never the answer at test time, where no example
    is the question asked. The context is rendered from the remaining sections, as the budget left it.
    """
    own = {e.question for e in retrieval.examples if _is_own_example(candidate, e)}
    if not own:
        return retrieval.context
    return render_sections(s for s in retrieval.sections if not (s.kind == "example" and s.name in own))


def render(candidate: Candidate, retriever: Retriever, prompt: PromptSettings) -> list[dict[str, str]]:
    """The chat the assistant would send for this question, then the gold answer."""
    history = [Turn(q, s) for q, s in candidate.history]
    retrieval = retriever.retrieve(retrieval_query(candidate.question, history), prompt.k)
    forecast = forecast_intent(candidate.question) is not None  # the assistant asks for the history then
    chat = sql_messages(
        candidate.question,
        history,
        leave_one_out(candidate, retrieval),
        row_limit=prompt.max_rows if forecast else prompt.row_limit,
        system_in_user=prompt.system_in_user,
        today=prompt.today,
        forecast=forecast,
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
    """A question pattern over one column's real values and the statement that answers it.

    ``table`` is the FROM table (with an alias when ``joins`` name others); ``column`` is the filtered
    column, qualified by its alias when there are joins, and its values are read from ``values_from``
    (default: the FROM table). Lists in ``select``, ``group`` and ``order`` are separated by ``;``.
    """

    question: str  # with {value}
    table: str
    column: str
    select: str  # the SELECT list, MySQL
    order: str | None = None
    limit: int | None = None
    joins: tuple[tuple[str, str], ...] = ()  # (table with alias, ON condition)
    where: str | None = None  # a condition ANDed with the value's
    group: str | None = None
    distinct: bool = False
    values_from: str | None = None

    @property
    def source(self) -> tuple[str, str]:
        """The (table, column) whose distinct values fill ``{value}``."""
        return self.values_from or self.table.split()[0], self.column.rpartition(".")[2]

    def sql(self, value: str) -> str:
        """The statement for one value, built as a tree so the value is always a quoted literal."""
        query = sqlglot.select(*_items(self.select), dialect="mysql").from_(self.table, dialect="mysql")
        if self.distinct:
            query = query.distinct()
        for table, on in self.joins:
            query = query.join(table, on=on, dialect="mysql")
        qualifier, _, name = self.column.rpartition(".")
        query = query.where(
            exp.EQ(this=exp.column(name, table=qualifier or None), expression=exp.Literal.string(value))
        )
        if self.where:
            query = query.where(self.where, dialect="mysql")
        if self.group:
            query = query.group_by(*_items(self.group), dialect="mysql")
        if self.order:
            query = query.order_by(*_items(self.order), dialect="mysql")
        if self.limit:
            query = query.limit(self.limit)
        return query.sql("mysql")


def _items(text: str) -> list[str]:
    return [part.strip() for part in text.split(";")]


def _count(column: str) -> str:
    """ads_summary keeps counts as text like '1.2万'; the number it means, as the notes define it."""
    return (
        f"CASE WHEN {column} LIKE '%万' THEN CAST(REPLACE({column}, '万', '') AS DECIMAL(12,2)) * 10000 "
        f"ELSE CAST(NULLIF({column}, '') AS DECIMAL(12,2)) END"
    )


_CAMPAIGN = (("ads_campaign c", "c.campaign_id = o.campaign_id"),)
_CAMPAIGN_ACCOUNT = (*_CAMPAIGN, ("ads_account a", "a.account = c.account"))
_HOURLY_CAMPAIGN = (
    ("ads_material m", "m.material_id = h.material_id"),
    ("ads_campaign c", "c.campaign_id = m.campaign_id"),
)

# One filter value per question, over every table and the joins the test split needs; the values come
# from the database, so a pair is only ever about something that is there.
TEMPLATES: tuple[Template, ...] = (
    # ads_account
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
    Template(
        "{value}上认证过的达人有几个",
        "ads_account",
        "platform",
        "COUNT(*) AS creators",
        where="is_verified = 1",
    ),
    Template(
        "{value}领域粉丝最多的达人", "ads_account", "category", "account; nickname; fans", "fans DESC", 1
    ),
    Template(
        "{value}的达人在各平台分别有多少",
        "ads_account",
        "city",
        "platform; COUNT(*) AS creators",
        "creators DESC; platform",
        group="platform",
    ),
    Template(
        "{value}平台每个领域有几个达人",
        "ads_account",
        "platform",
        "category; COUNT(*) AS creators",
        "creators DESC; category",
        group="category",
    ),
    Template("{value}的达人粉丝加起来有多少", "ads_account", "city", "SUM(fans) AS fans"),
    Template(
        "{value}领域最早入驻的3个达人",
        "ads_account",
        "category",
        "account; nickname; created_at",
        "created_at; account",
        3,
    ),
    # ads_campaign
    Template("品牌{value}一共有几个投放计划?", "ads_campaign", "brand", "COUNT(*) AS campaigns"),
    Template("状态是{value}的投放计划预算加起来多少?", "ads_campaign", "status", "SUM(budget) AS budget"),
    Template("{value}的投放计划平均预算是多少", "ads_campaign", "brand", "AVG(budget) AS avg_budget"),
    Template(
        "{value}预算最高的3个计划",
        "ads_campaign",
        "brand",
        "campaign_id; campaign_name; budget",
        "budget DESC; campaign_id",
        3,
    ),
    Template("{value}平台上有哪些品牌在投放", "ads_campaign", "platform", "brand", distinct=True),
    Template("{value}平台的计划总预算是多少", "ads_campaign", "platform", "SUM(budget) AS total_budget"),
    Template(
        "{value}的计划各个状态分别有几个",
        "ads_campaign",
        "brand",
        "status; COUNT(*) AS campaigns",
        group="status",
    ),
    Template(
        "{value}合作过的达人有哪些",
        "ads_campaign c",
        "c.brand",
        "c.campaign_name; a.nickname; a.fans",
        joins=(("ads_account a", "a.account = c.account"),),
    ),
    Template(
        "{value}的达人接的计划预算一共多少",
        "ads_campaign c",
        "a.city",
        "SUM(c.budget) AS total_budget",
        joins=(("ads_account a", "a.account = c.account"),),
        values_from="ads_account",
    ),
    # ads_material
    Template("{value}素材一共有多少个?", "ads_material", "media_type", "COUNT(*) AS materials"),
    Template(
        "品牌{value}有多少条素材",
        "ads_material m",
        "c.brand",
        "COUNT(*) AS materials",
        joins=(("ads_campaign c", "c.campaign_id = m.campaign_id"),),
        values_from="ads_campaign",
    ),
    # ads_material_hourly
    Template(
        "{value}素材一共被点了多少次",
        "ads_material_hourly h",
        "m.media_type",
        "SUM(h.clicks) AS clicks",
        joins=(("ads_material m", "m.material_id = h.material_id"),),
        values_from="ads_material",
    ),
    Template(
        "{value}素材的点击率是多少",
        "ads_material_hourly h",
        "m.media_type",
        "SUM(h.clicks) / SUM(h.impressions) AS ctr",
        joins=(("ads_material m", "m.material_id = h.material_id"),),
        values_from="ads_material",
    ),
    Template(
        "品牌{value}的广告一共消耗了多少钱",
        "ads_material_hourly h",
        "c.brand",
        "SUM(h.cost) AS cost",
        joins=_HOURLY_CAMPAIGN,
        values_from="ads_campaign",
    ),
    Template(
        "{value}平台的素材总曝光量",
        "ads_material_hourly h",
        "c.platform",
        "SUM(h.impressions) AS impressions",
        joins=_HOURLY_CAMPAIGN,
        values_from="ads_campaign",
    ),
    # ads_order
    Template(
        "品牌{value}卖了多少钱,退款的不算",
        "ads_order o",
        "c.brand",
        "SUM(o.amount) AS gmv",
        joins=_CAMPAIGN,
        where="o.is_refunded = 0",
        values_from="ads_campaign",
    ),
    Template(
        "{value}有多少个订单退款了",
        "ads_order o",
        "c.brand",
        "COUNT(*) AS refunds",
        joins=_CAMPAIGN,
        where="o.is_refunded = 1",
        values_from="ads_campaign",
    ),
    Template(
        "{value}平台的计划一共出了几单",
        "ads_order o",
        "c.platform",
        "COUNT(*) AS orders",
        joins=_CAMPAIGN,
        values_from="ads_campaign",
    ),
    Template(
        "{value}领域的达人带货卖出多少件",
        "ads_order o",
        "a.category",
        "SUM(o.quantity) AS items",
        joins=_CAMPAIGN_ACCOUNT,
        where="o.is_refunded = 0",
        values_from="ads_account",
    ),
    Template(
        "{value}素材带来了多少成交额",
        "ads_order o",
        "m.media_type",
        "SUM(o.amount) AS gmv",
        joins=(("ads_material m", "m.material_id = o.material_id"),),
        where="o.is_refunded = 0",
        values_from="ads_material",
    ),
    # ads_summary
    Template("标签{value}下有几篇笔记", "ads_summary", "label", "COUNT(DISTINCT `desc`) AS notes"),
    Template("标签{value}的笔记平均点赞多少", "ads_summary", "label", f"AVG({_count('star')}) AS avg_star"),
    Template(
        "标签{value}里收藏最多的3篇笔记",
        "ads_summary",
        "label",
        f"`desc`; MAX({_count('collection')}) AS collections",
        "collections DESC",
        3,
        group="`desc`",
    ),
    Template(
        "{value}的博主一共发了多少篇笔记",
        "ads_summary s",
        "a.city",
        "COUNT(DISTINCT s.`desc`) AS notes",
        joins=(("ads_account a", "a.account = s.account"),),
        values_from="ads_account",
    ),
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
    """Up to ``count`` generated pairs, templates taken in turn, values drawn from the database.

    Round-robin over the templates (each one's values shuffled) keeps the pairs spread over every
    pattern; a column with many values (brands) would otherwise fill most of the count on its own.
    """
    rng = random.Random(seed)
    pools = {t: column_values(runner, catalog, *t.source) for t in templates}
    for values in pools.values():
        rng.shuffle(values)
    depth = max((len(v) for v in pools.values()), default=0)
    pairs = [(t, pools[t][i]) for i in range(depth) for t in templates if i < len(pools[t])]
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
