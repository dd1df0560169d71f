"""Retrievers: the hybrid one askdb uses, and plain dense top-k as a baseline.

Hybrid retrieval turns each signal into a ranking of tables and fuses the rankings with weighted
reciprocal-rank fusion (RRF): a dense search over every schema document, BM25 over the same, notes,
verified examples, and column values found verbatim in the question. RRF needs no score calibration
between signals whose scales have nothing in common (cosine vs BM25 vs "this value occurs").
Then tables on the foreign-key path between chosen tables are added, and the whole is cut to a
token budget without silently dropping anything: what does not fit is listed in ``dropped``.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Collection as Sized
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np

from askdb.rag.dates import DateRange
from askdb.rag.documents import WIDE_TABLE_COLUMNS, ColumnValues, Document
from askdb.rag.embed import Embedder
from askdb.rag.index import Collection, top_n
from askdb.rag.synonyms import Synonyms, synonyms_for
from askdb.rag.text import estimate_tokens, has_cjk, normalise_question, tokenize
from askdb.rag.values import ValueMatcher
from askdb.schemas.catalog import Catalog, Table, compact_ddl, compact_schema

# Tables ranked on their own (note and join-path tables come on top). Three, with the relative floor and
# the note and example bars below, put every gold table of 0.985 of the ads test questions in the prompt
# at a median of 592 Qwen2 tokens (it was ~1,600 with five tables as DDL), and of 0.975 of Spider dev's
# with the database hint at 357 (bench/bench_prompt.py; a floor of 0.5 gave Spider 0.946).
DEFAULT_K = 3


@dataclass(frozen=True)
class RetrievalConfig:
    """How signals are weighed and how much context may be returned."""

    candidates: int = 100  # documents taken from each of the dense and BM25 searches
    rrf_k: float = 10.0  # small: the first few ranks of a signal should count for much more than the tenth
    weight_dense: float = 1.0
    # all-MiniLM-L6-v2 is English-centric: for Chinese questions its vectors are close to noise. Of 0, .25,
    # .5 and 1, a quarter measured best on the DuSQL pool and the ads set together (bench/bench_retrieval.py).
    weight_dense_cjk: float = 0.25
    weight_bm25: float = 1.0
    weight_notes: float = 0.5
    weight_examples: float = 0.7
    weight_values: float = 1.0  # a value found verbatim in the question, times its ValueHit.score
    # Coverage: the question's words a table's names and its neighbours' names hold (IDF-weighted).
    # Measured by language like the dense weight: for English questions half as much (Spider 882 tables
    # strict/lenient recall@5 .936/.957 -> .938/.960; 10,518 tables .725/.784 -> .737/.804, where a
    # full-weight coverage filled the top five with same-shaped copies), for Chinese ones in full
    # (DuSQL, where it picks among same-named tables).
    weight_cover: float = 0.5
    weight_cover_cjk: float = 1.0
    neighbour_share: float = 0.5
    # Tables joining the best-ranked one gain this (RRF first-place units), never passing it: prefer a set
    # of tables that join over unrelated hits (DuSQL pool all@5 .962 -> .971, Spider .907 -> .910).
    weight_join: float = 0.25
    # A table whose own Chinese name the question writes out (出境游路线 in 给出成人总费用最少的3条出境游路线)
    # gains this many RRF first places; its sibling 旅行社, strong on columns alone, no longer ties it. Of
    # 0.15/.25/.35/.5/1 on the DuSQL pool, .35 measured best: recall@1 .747 -> .759, hit@1 .903 -> .915,
    # recall@5 .976 -> .979; more pulls up tables the question names in passing (1.0: hit@1 .882).
    weight_exact: float = 0.35
    # The same for the Chinese column names it writes out (场上位置, 出境游路线数量), each counting by its
    # rarity (1 / log2(1 + tables that have it)), in proportion to the best table's: DuSQL recall@1 .759
    # -> .765, hit@1 .915 -> .922 at .2 (.1: .761, .3: .763, .6: .755).
    weight_column_exact: float = 0.2
    # A note that explains a word of the question no top table's names hold (回报率: the ROI note) is
    # about its tables; they gain this many RRF first places, so that they rank with the others instead
    # of only joining the prompt after them. Ads set recall@5 .996 -> 1.000 with and without the hint
    # (.25 and .5 alike; Spider and DuSQL have no notes: unchanged).
    weight_note_tables: float = 0.25
    # A table the same shape as one ranked above it (the same own name and columns: a copy in another
    # schema, a tenant's or shard's) shows the model nothing new; its score counts this share, so the
    # distinct tables a question also needs come before the copies. Spider's 10,518-table pool (12 copies)
    # recall@5 .738 / .799 -> .820 / .929 (.7: .798 / .880, .9: .757 / .824); the 882-table pool's strict
    # .939 -> .934 (of identical tables in two databases the question's own was second), lenient .961;
    # DuSQL and the ads set have no copies: unchanged.
    copy_share: float = 0.5
    value_floor: float = 0.0  # value matches scoring less than this (ValueHit.score) are ignored
    weight_value_docs: float = 0.3  # BM25 over value lists: partial mentions, but nicknames hold common words
    # Notes and examples are few and all about the ads tables, so a dense ranking of them always has a
    # first place: every question, about cars or pets too, pulled the ads tables up. They now count by
    # dense score only when this close to the question (BM25 needs a shared word anyway). Measured on
    # bench_retrieval.py: Spider pooled lenient recall@5 .949 -> .955, the Chinese set .967 -> .991.
    min_similarity: float = 0.5
    join_hops: int = 3  # longest foreign-key path (in edges) searched to connect two chosen tables
    # A table ranked on its own is kept only when its fused score is at least this share of the best
    # table's: the fifth table of a six-table schema is rarely needed, and every one costs the model
    # ~100 prompt tokens to read.
    relative_floor: float = 0.4
    budget_tokens: int = 2048
    max_notes: int = 1
    max_examples: int = 2
    # A note comes along when the question's words that no chosen table's names or comments hold
    # appear in it, with IDF summing to note_floor x the rarest word's IDF (GMV, 头部, 点击率 do; 粉丝数,
    # the comment of ads_account.fans, does not), and brings the tables it is about. An example comes
    # when its dense and BM25 rankings agree on it: first in one and at most second in the other.
    note_floor: float = 0.8
    example_floor: float = 0.17
    wide_columns: int = WIDE_TABLE_COLUMNS
    # "schema": the compact form of catalog.compact_schema, values inline, about half the tokens of
    # "ddl", the one-line CREATE TABLE statements askdb used to send.
    schema_format: str = "schema"


@dataclass(frozen=True)
class TableHit:
    name: str
    score: float
    # "rank": chosen on its own; "note": named by a note that explains the question; "join": on the
    # key path between chosen tables
    via: str = "rank"
    columns: tuple[str, ...] = ()  # the columns shown to the model
    brief: tuple[str, ...] = ()  # of ``columns``, those shown by name only (no type, no comment)


@dataclass(frozen=True)
class ColumnHit:
    table: str
    name: str
    score: float


@dataclass(frozen=True)
class NoteHit:
    name: str
    score: float
    text: str


@dataclass(frozen=True)
class ExampleHit:
    question: str
    sql: str
    score: float


@dataclass(frozen=True)
class ValueMatch:
    table: str
    column: str
    value: str


@dataclass(frozen=True)
class ContextSection:
    """One piece of the rendered context, in the order the prompt shows it.

    ``needed`` marks what a prompt must keep when it is trimmed to a model's context window: the
    best-ranked table and the join-path tables; values, examples, notes, the tables' date ranges and
    lower-ranked tables may go, in that order, the least important (highest ``rank``) first. Tables are shown in the
    catalog's order, not by rank: two questions about the same tables then share the prompt's
    bytes up to their first difference, and a server's prefix cache reuses those too.
    """

    kind: str  # "table" | "value" | "date" | "note" | "example"
    name: str
    text: str
    needed: bool = False
    rank: int = 0  # importance, 0 first: what trimming goes by


def render_sections(sections: Iterable[ContextSection]) -> str:
    """The context text of ``sections``, as the prompt's <context> holds it."""
    return "\n\n".join(s.text for s in sections)


@dataclass
class Retrieval:
    """What the model may see, with scores, and what the budget left out."""

    question: str
    tables: list[TableHit] = field(default_factory=list)
    columns: list[ColumnHit] = field(default_factory=list)
    notes: list[NoteHit] = field(default_factory=list)
    examples: list[ExampleHit] = field(default_factory=list)
    values: list[ValueMatch] = field(default_factory=list)
    ranges: list[DateRange] = field(default_factory=list)  # of the time columns shown, their data's days
    context: str = ""
    tokens: int = 0
    budget: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    sections: list[ContextSection] = field(default_factory=list)  # ``context``, piece by piece

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for table in data["tables"]:
            table["columns"] = list(table["columns"])
            table["brief"] = list(table["brief"])
        return data


@runtime_checkable
class Retriever(Protocol):
    """Finds what a question needs from the schema."""

    def retrieve(self, question: str, k: int = 5, *, scope: Sized[str] | None = None) -> Retrieval: ...


@dataclass
class RagIndex:
    """Everything retrieval searches: schema documents, examples, values, and the catalog they describe."""

    catalog: Catalog
    schema: Collection
    examples: Collection
    values: tuple[ColumnValues, ...] = ()
    model: str = ""

    @cached_property
    def tables_by_lower(self) -> dict[str, Table]:
        return {t.name.lower(): t for t in self.catalog.tables}

    @cached_property
    def graph(self) -> dict[str, set[str]]:
        """Undirected foreign-key graph over table names."""
        graph: dict[str, set[str]] = {t.name: set() for t in self.catalog.tables}
        for table in self.catalog.tables:
            for fk in table.foreign_keys:
                ref = self.tables_by_lower.get(fk.ref_table.lower())
                if ref is not None and ref.name != table.name:
                    graph[table.name].add(ref.name)
                    graph[ref.name].add(table.name)
        return graph

    @cached_property
    def referenced_columns(self) -> dict[str, set[str]]:
        """Columns other tables' foreign keys point at: a wide table must show them to be joinable."""
        found: dict[str, set[str]] = {}
        for table in self.catalog.tables:
            for fk in table.foreign_keys:
                ref = self.tables_by_lower.get(fk.ref_table.lower())
                if ref is not None:
                    found.setdefault(ref.name, set()).update(fk.ref_columns)
        return found

    @cached_property
    def synonyms(self) -> Synonyms:
        """The packaged synonym groups and those the notes' headers add."""
        groups = [tuple(g) for d in self.schema.docs if d.kind == "note" for g in d.meta.get("synonyms", ())]
        return synonyms_for(groups)

    @cached_property
    def matcher(self) -> ValueMatcher:
        return ValueMatcher(self.values, reserved=self.schema_words, synonyms=self.synonyms)

    @cached_property
    def schema_words(self) -> frozenset[str]:
        """The words of names, comments and notes, less the values comments and notes list (所在平台:
        小红书/抖音); a name's words are kept even when they are a value too (a table 电视剧, a 类型 电视剧)."""
        known = sorted({v for cv in self.values for v in cv.values}, key=len, reverse=True)
        names = [t.name for t in self.catalog.tables] + [
            c.name for t in self.catalog.tables for c in t.columns
        ]
        words = {w for name in names for w in tokenize(name) if not w.startswith("#")}
        texts = [t.comment for t in self.catalog.tables]
        texts += [c.comment for t in self.catalog.tables for c in t.columns]
        texts += [d.dense for d in self.schema.docs if d.kind == "note"]
        for text in texts:
            for value in known:
                text = text.replace(value, " ")
            words.update(w for w in tokenize(text) if not w.startswith("#"))
        return frozenset(words)

    @cached_property
    def date_ranges(self) -> dict[tuple[str, str], DateRange]:
        """The first and last day of each time column's data, read when the index was built."""
        return {
            (v.table, v.column): DateRange(v.table, v.column, *v.date_range)
            for v in self.values
            if v.date_range is not None
        }

    @cached_property
    def docs_by_table(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for i, doc in enumerate(self.schema.docs):
            for table in doc.tables:
                found.setdefault(table, []).append(i)
        return found

    @cached_property
    def table_doc_ids(self) -> np.ndarray:
        return np.array([i for i, d in enumerate(self.schema.docs) if d.kind == "table"], dtype=np.int64)

    @cached_property
    def notes_by_name(self) -> dict[str, Document]:
        return {d.meta.get("name", d.id): d for d in self.schema.docs if d.kind == "note"}

    @cached_property
    def note_tokens(self) -> dict[int, frozenset[str]]:
        """The tokens of each note document's text, by document number."""
        return {i: frozenset(tokenize(d.dense)) for i, d in enumerate(self.schema.docs) if d.kind == "note"}

    @cached_property
    def table_words(self) -> dict[str, frozenset[str]]:
        """Every token of a table's name, comment and columns' names and comments."""
        words: dict[str, frozenset[str]] = {}
        for t in self.catalog.tables:
            found = set(tokenize(f"{t.name} {t.comment}"))
            for c in t.columns:
                found |= self.column_tokens[(t.name, c.name)]
            words[t.name] = frozenset(found)
        return words

    @cached_property
    def own_names(self) -> dict[str, str]:
        """Each Chinese-named table's own name: after a pooled schema's ``<database>__`` or ``schema.``."""
        names = {}
        for t in self.catalog.tables:
            own = _own_name(t.name)
            if has_cjk(own):
                names[t.name] = normalise_question(own)
        return names

    @cached_property
    def shapes(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Each table's own name (after ``<database>__`` or ``schema.``) and column names, lower case:
        tables of one shape are copies of one another."""
        return {
            t.name: (_own_name(t.name).lower(), tuple(sorted(c.name.lower() for c in t.columns)))
            for t in self.catalog.tables
        }

    @cached_property
    def own_columns(self) -> dict[str, tuple[str, ...]]:
        """Each table's Chinese column names of two characters or more."""
        out = {}
        for t in self.catalog.tables:
            names = tuple(
                normalise_question(c.name) for c in t.columns if has_cjk(c.name) and len(c.name) >= 2
            )
            if names:
                out[t.name] = names
        return out

    @cached_property
    def own_column_counts(self) -> dict[str, int]:
        """How many tables have each Chinese column name (名称: most of them; 场上位置: one)."""
        return dict(Counter(name for names in self.own_columns.values() for name in set(names)))

    @cached_property
    def column_tokens(self) -> dict[tuple[str, str], set[str]]:
        return {
            (t.name, c.name): set(tokenize(f"{c.name} {c.comment}"))
            for t in self.catalog.tables
            for c in t.columns
        }


def _own_name(name: str) -> str:
    """A table's name after a pooled schema's ``<database>__`` or ``schema.``."""
    return re.split(r"__|\.", name)[-1]


def _table_ranks(order: Iterable[int], docs: Sequence[Document]) -> dict[str, int]:
    """Rank tables by the first document that names them; tables of one document share its rank."""
    ranks: dict[str, int] = {}
    rank = 0
    for doc_id in order:
        new = [t for t in docs[doc_id].tables if t not in ranks]
        if new:
            rank += 1
            for table in new:
                ranks[table] = rank
    return ranks


def _rrf(rankings: Iterable[tuple[float, dict[Any, int]]], k: float) -> dict[Any, float]:
    fused: dict[Any, float] = {}
    for weight, ranking in rankings:
        for key, rank in ranking.items():
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def _add_scored(fused: dict[str, float], scores: dict[str, float], weight: float, k: float) -> None:
    """Add to ``fused`` a ranking by ``scores`` (in (0, 1], best first; ties in ``scores``' order), each
    place weighted by its score as well as its rank: a signal whose second table is far behind says so."""
    for rank, table in enumerate(sorted(scores, key=lambda t: -scores[t]), 1):
        fused[table] = fused.get(table, 0.0) + weight * scores[table] / (k + rank)


def _order(ids: np.ndarray, scores: np.ndarray) -> list[int]:
    return [int(i) for i in ids[np.argsort(-scores, kind="stable")]]


class HybridRetriever:
    """Dense + BM25 + notes + examples + values, fused by RRF, then join-path expansion and a budget."""

    def __init__(self, index: RagIndex, embedder: Embedder, config: RetrievalConfig | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.config = config or RetrievalConfig()

    # -- signals ------------------------------------------------------------------------------
    def _schema_orders(
        self, query: np.ndarray, tokens: list[str], allowed: np.ndarray | None
    ) -> tuple[list[int], list[int]]:
        """Schema documents by dense score and by BM25 score, best first."""
        schema, n = self.index.schema, self.config.candidates
        if allowed is None:
            dense_ids, dense_scores = schema.dense.search(query, n)
            bm25 = [int(i) for i in top_n(schema.bm25.scores(tokens), n)]
        else:
            # A scope (one database picked by the user) is small: score exactly within it.
            scores = schema.vectors[allowed] @ query
            best = np.argsort(-scores, kind="stable")[:n]
            dense_ids, dense_scores = allowed[best], scores[best]
            bm25 = [int(allowed[i]) for i in top_n(schema.bm25.scores(tokens)[allowed], n)]
        floor, docs = self.config.min_similarity, schema.docs
        dense = [
            int(i) for i, score in zip(dense_ids, dense_scores) if docs[i].kind != "note" or score >= floor
        ]
        return dense, bm25

    def _example_order(
        self, query: np.ndarray, tokens: list[str], scope: Sized[str] | None
    ) -> list[tuple[int, float]]:
        examples = self.index.examples
        if len(examples) == 0:
            return []
        ids = np.arange(len(examples))
        if scope is not None:
            ids = np.array(
                [i for i, d in enumerate(examples.docs) if all(t in scope for t in d.tables)], dtype=np.int64
            )
            if len(ids) == 0:
                return []
        similarity = examples.vectors[ids] @ query
        close = similarity >= self.config.min_similarity
        dense = _order(ids[close], similarity[close])
        lexical = examples.bm25.scores(tokens)[ids]
        bm25 = [int(ids[i]) for i in top_n(lexical, len(ids))]
        fused = _rrf(
            [(1.0, {d: r for r, d in enumerate(dense, 1)}), (1.0, {d: r for r, d in enumerate(bm25, 1)})],
            self.config.rrf_k,
        )
        return sorted(fused.items(), key=lambda item: -item[1])

    def _coverage(
        self,
        tokens: list[str],
        doc_ids: list[int],
        scope: Sized[str] | None,
        concepts: Sequence[tuple[tuple[str, ...], tuple[str, ...]]] = (),
    ) -> dict[str, float]:
        """How much of the question a candidate table and its join neighbourhood account for.

        The IDF of the question's words that the table's names hold, plus ``neighbour_share`` of those
        only its foreign-key neighbours hold: of twenty tables named 城市, the one whose columns, or whose
        neighbours' names, the question's other words name. Candidates are the tables of ``doc_ids``.
        A synonym group the question names (``concepts``: the written word's tokens, its peers' tokens)
        is one word of the question, held by a table holding any of them, at the IDF of the word written:
        省 for 省份 is no rarer a word than 省份, and a table holding both does not hold it twice.
        """
        bm25, words, graph = self.index.schema.bm25, self.index.table_words, self.index.graph
        items: list[float] = []  # the question's words, each a weight
        holders: dict[str, list[int]] = {}  # token -> the items it stands for
        for own, peers in concepts:
            weight = max(bm25.idf(t) for t in own)
            if weight > 0:
                for t in dict.fromkeys(own + peers):
                    holders.setdefault(t, []).append(len(items))
                items.append(weight)
        for t in dict.fromkeys(tokens):
            if len(t) == 1 and t.isdigit():
                continue  # a lone digit (3月2号, top 3) is part of a value, not a word of a name (q3, line_2)
            if t not in holders and (weight := bm25.idf(t)) > 0:  # a group's word is counted with it
                holders.setdefault(t, []).append(len(items))
                items.append(weight)
        if not items:
            return {}

        def held(table: str) -> set[int]:
            return {i for t in holders.keys() & words.get(table, frozenset()) for i in holders[t]}

        docs, share = self.index.schema.docs, self.config.neighbour_share
        scores: dict[str, float] = {}
        for doc_id in doc_ids:
            for table in docs[doc_id].tables:
                if table in scores or (scope is not None and table not in scope):
                    continue
                own_items = held(table)
                near: set[int] = set()
                for other in graph.get(table, ()):
                    near |= held(other)
                scores[table] = sum(items[i] for i in own_items) + share * sum(
                    items[i] for i in near - own_items
                )
        return scores

    def _named(self, question: str, tables: Iterable[str]) -> dict[str, float]:
        """Tables whose own Chinese name the question writes out: 1 for the longest, 0.5 for a name
        inside a longer one it also writes (皇帝 in 皇帝皇后影视形象)."""
        names = self.index.own_names
        found = {t: names[t] for t in tables if t in names and names[t] in question}
        return {
            t: 0.5 if any(name != other and name in other for other in found.values()) else 1.0
            for t, name in found.items()
        }

    def _named_columns(self, question: str, tables: Iterable[str]) -> dict[str, float]:
        """Tables by the Chinese column names the question writes out, each weighted by its rarity."""
        columns, count = self.index.own_columns, self.index.own_column_counts
        out: dict[str, float] = {}
        for t in tables:
            score = sum(1.0 / np.log2(1 + count[c]) for c in columns.get(t, ()) if c in question)
            if score > 0:
                out[t] = score
        return out

    def _allowed(self, scope: Sized[str] | None) -> np.ndarray | None:
        if scope is None:
            return None
        ids = sorted(
            {
                i
                for t in scope
                for i in self.index.docs_by_table.get(t, ())
                if all(x in scope for x in self.index.schema.docs[i].tables)
            }
        )
        return np.array(ids, dtype=np.int64)

    # -- the whole ----------------------------------------------------------------------------
    def rank_tables(
        self, question: str, *, scope: Sized[str] | None = None
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """Fused table scores, and the intermediate hits that the result reports."""
        cfg, docs = self.config, self.index.schema.docs
        question = normalise_question(question)
        query = self.embedder.encode([question])[0]
        tokens = tokenize(question)
        # BM25 and coverage also search the other words of the synonym groups the question names;
        # notes and columns go by the words it used.
        searched = tokens + self.index.synonyms.expand(question)
        dense, bm25 = self._schema_orders(query, searched, self._allowed(scope))
        schema_dense = [i for i in dense if docs[i].kind in ("table", "column")]
        schema_bm25 = [i for i in bm25 if docs[i].kind in ("table", "column")]
        value_docs = [i for i in bm25 if docs[i].kind == "values"]
        note_fused = _rrf(
            [
                (1.0, {d: r for r, d in enumerate((i for i in dense if docs[i].kind == "note"), 1)}),
                (1.0, {d: r for r, d in enumerate((i for i in bm25 if docs[i].kind == "note"), 1)}),
            ],
            cfg.rrf_k,
        )
        notes = sorted(note_fused.items(), key=lambda item: -item[1])
        examples = self._example_order(query, tokens, scope)
        values = [
            h
            for h in self.index.matcher.match(question)
            if (scope is None or h.table in scope) and h.score >= cfg.value_floor
        ]
        # Tables by their most telling value; each counts in proportion to how telling it is.
        value_scores: dict[str, float] = {}
        for hit in values:
            value_scores[hit.table] = max(value_scores.get(hit.table, 0.0), hit.score)
        chinese = has_cjk(question)
        dense_weight = cfg.weight_dense_cjk if chinese else cfg.weight_dense
        fused = _rrf(
            [
                (dense_weight, _table_ranks(schema_dense, docs)),
                (cfg.weight_value_docs, _table_ranks(value_docs, docs)),
                (cfg.weight_bm25, _table_ranks(schema_bm25, docs)),
                (cfg.weight_notes, _table_ranks((i for i, _ in notes), docs)),
                (cfg.weight_examples, _table_ranks((i for i, _ in examples), self.index.examples.docs)),
            ],
            cfg.rrf_k,
        )
        cover = self._coverage(
            tokens, schema_bm25 + schema_dense, scope, self.index.synonyms.concepts(question)
        )
        # In proportion to the best coverage too: a table holding one of the question's words is no
        # second best to one holding them all, as a bare rank would make it.
        best = max(cover.values(), default=0.0)
        shares = {t: cover[t] / best for t in sorted(cover)} if best > 0 else {}  # ties by name
        _add_scored(fused, shares, cfg.weight_cover_cjk if chinese else cfg.weight_cover, cfg.rrf_k)
        _add_scored(fused, value_scores, cfg.weight_values, cfg.rrf_k)
        if cfg.weight_exact:
            for table, fit in self._named(question, fused).items():
                fused[table] += cfg.weight_exact * fit / (cfg.rrf_k + 1)
        if cfg.weight_column_exact:
            cols = self._named_columns(question, fused)
            top = max(cols.values(), default=0.0)
            for table, fit in cols.items():
                fused[table] += cfg.weight_column_exact * fit / top / (cfg.rrf_k + 1)
        if scope is not None:
            fused = {t: s for t, s in fused.items() if t in scope}
        if cfg.weight_note_tables and fused:
            # The same test ``retrieve`` brings a note's tables in by, against the top tables so far.
            top = sorted(fused, key=lambda t: (-fused[t], t))[:DEFAULT_K]
            for note in self._notes(notes, set(top), tokens):
                for table in self._note_doc(note.name).tables:
                    if table in fused:
                        fused[table] += cfg.weight_note_tables / (cfg.rrf_k + 1)
        if cfg.weight_join and fused:
            # Tables that join the best one are more likely the rest of the answer than unrelated hits.
            best = max(fused, key=lambda t: (fused[t], t))
            for table in self.index.graph.get(best, ()):
                # Only among tables the relative floor keeps, and never above the best table: the bonus
                # orders what goes in, it does not bring a neighbour into every prompt.
                if table in fused and table != best and fused[table] >= cfg.relative_floor * fused[best]:
                    fused[table] = min(fused[table] + cfg.weight_join / (cfg.rrf_k + 1), fused[best] * 0.999)
        if cfg.copy_share != 1.0:
            shapes, seen = self.index.shapes, set()
            for table in sorted(fused, key=lambda t: (-fused[t], t)):
                shape = shapes.get(table, (table, ()))
                if shape in seen:
                    fused[table] *= cfg.copy_share
                seen.add(shape)
        return fused, {"tokens": tokens, "notes": notes, "examples": examples, "values": values}

    def retrieve(self, question: str, k: int = DEFAULT_K, *, scope: Sized[str] | None = None) -> Retrieval:
        """The top ``k`` tables, the tables joining them, and their columns, notes, examples and values.

        Args:
            question: the question as asked (a follow-up with the previous question prepended).
            k: how many tables to take on their own score; join-path tables come on top.
            scope: only these tables (e.g. one database of a pooled index); None searches all.

        Returns:
            A ``Retrieval``: ranked tables with scores and ``via``, the matched values, examples and
            notes, and ``context``, the rendered text the SQL prompt carries.
        """
        fused, hits = self.rank_tables(question, scope=scope)
        ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        floor = ranked[0][1] * self.config.relative_floor if ranked else 0.0
        below = [
            {
                "kind": "table",
                "name": n,
                "score": round(s, 6),
                "why": f"score below {self.config.relative_floor} of the best table's",
            }
            for n, s in ranked
            if s < floor
        ]
        tables = [TableHit(name, round(score, 6)) for name, score in ranked if score >= floor]
        # A note that explains a word of the question brings the tables it is about: "投产比" is
        # SUM(ads_order.amount) / SUM(ads_material_hourly.cost), whatever the ranking thought.
        notes = self._notes(hits["notes"], {t.name for t in tables}, hits["tokens"])
        for note in notes:
            for name in self._note_doc(note.name).tables:
                if name in self.index.graph and all(t.name != name for t in tables):
                    tables.append(TableHit(name, note.score, via="note"))
        tables += self._join_tables(tables)
        chosen = {t.name for t in tables}
        values = [ValueMatch(h.table, h.column, h.value) for h in hits["values"] if h.table in chosen]
        examples = self._examples(hits["examples"], chosen)
        columns = self._columns(tables, hits["tokens"], values, notes)
        tables = [self._shown(t, columns, i == 0) for i, t in enumerate(tables)]
        ranges = [r for t in tables for c in t.columns if (r := self.index.date_ranges.get((t.name, c)))]
        result = Retrieval(question, tables, columns, notes, examples, values, ranges)
        result = fit_budget(
            result, self.index.tables_by_lower, self.config.budget_tokens, form=self.config.schema_format
        )
        result.dropped = below + result.dropped
        return result

    # -- parts of the result --------------------------------------------------------------------
    def _join_tables(self, tables: list[TableHit]) -> list[TableHit]:
        """Tables on the shortest key path from each chosen table to those ranked above it."""
        added: dict[str, float] = {}
        placed = [tables[0].name] if tables else []
        for hit in tables[1:]:
            path = _shortest_path(self.index.graph, hit.name, set(placed) | set(added), self.config.join_hops)
            for table in path[1:-1]:
                if table not in added and all(t.name != table for t in tables):
                    added[table] = hit.score
            placed.append(hit.name)
        return [TableHit(name, round(score, 6), via="join") for name, score in added.items()]

    def _notes(self, notes: list[tuple[int, float]], chosen: set[str], tokens: list[str]) -> list[NoteHit]:
        """Notes about the chosen tables that explain a word of the question the schema does not.

        A note earns its tokens when the question uses a word (GMV, 头部, 互动量) that no name or
        comment of the chosen tables holds but the note does: the sum of those words' IDF must reach
        ``note_floor`` times the IDF of a word found in one document. Notes that merely repeat the
        schema's own words stay out.
        """
        bm25 = self.index.schema.bm25
        novel = set(tokens).difference(*(self.index.table_words.get(name, ()) for name in chosen))
        floor = self.config.note_floor * bm25.max_idf()
        scored = []
        for doc_id, _ in notes:
            doc = self.index.schema.docs[doc_id]
            if doc.tables and not chosen.intersection(doc.tables):
                continue
            gain = sum(bm25.idf(t) for t in novel & self.index.note_tokens[doc_id])
            if gain >= floor:
                scored.append((gain, doc_id))
        scored.sort(key=lambda item: -item[0])
        docs = self.index.schema.docs
        return [
            NoteHit(docs[i].meta.get("name", docs[i].id), round(gain, 4), docs[i].dense)
            for gain, i in scored[: self.config.max_notes]
        ]

    def _examples(self, examples: list[tuple[int, float]], chosen: set[str]) -> list[ExampleHit]:
        found = []
        for doc_id, score in examples:
            doc = self.index.examples.docs[doc_id]
            # An example over tables the model will not see would teach it names it cannot use.
            if set(doc.tables) <= chosen and score >= self.config.example_floor:
                found.append(ExampleHit(doc.meta["question"], doc.meta["sql"], round(score, 6)))
            if len(found) == self.config.max_examples:
                break
        return found

    def _columns(
        self, tables: list[TableHit], tokens: list[str], values: list[ValueMatch], notes: list[NoteHit]
    ) -> list[ColumnHit]:
        """Columns of the chosen tables that the question's words, values or notes point at."""
        wanted = set(tokens)
        bm25 = self.index.schema.bm25
        valued = {(v.table, v.column) for v in values}
        noted = {tuple(c.split(".", 1)) for n in notes for c in self._note_columns(n.name)}
        hits = []
        for hit in tables:
            table = self.index.tables_by_lower[hit.name.lower()]
            for col in table.columns:
                key = (table.name, col.name)
                score = sum(bm25.idf(t) for t in wanted & self.index.column_tokens.get(key, set()))
                score += 2.0 * (key in valued) + 0.5 * (key in noted)
                if score > 0:
                    hits.append(ColumnHit(table.name, col.name, round(score, 4)))
        return sorted(hits, key=lambda c: -c.score)

    def _note_columns(self, name: str) -> list[str]:
        return list(self._note_doc(name).meta.get("columns", []))

    def _note_doc(self, name: str) -> Document:
        return self.index.notes_by_name[name]

    def _shown(self, hit: TableHit, columns: list[ColumnHit], first: bool) -> TableHit:
        """Which columns the model sees in full, by name only, or not at all.

        A table chosen on its own shows every column in full when it is narrow. A join-path table, or a
        wide table, shows its keys and the columns the question, its values or notes point at in full;
        the rest by name only (a wide table's beyond ``2 * wide_columns`` not at all).
        """
        table = self.index.tables_by_lower[hit.name.lower()]
        if hit.via == "rank" and len(table.columns) <= self.config.wide_columns and first:
            return replace(hit, columns=table.column_names)
        keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
        keys |= {c.name for c in columns if c.table == table.name}
        keys |= self.index.referenced_columns.get(table.name, set())
        full = [c for c in table.column_names if c in keys] or list(
            table.column_names[: self.config.wide_columns]
        )
        rest = [c for c in table.column_names if c not in full]
        rest = rest[: max(0, self.config.wide_columns * 2 - len(full))]
        shown = set(full) | set(rest)
        return replace(hit, columns=tuple(c for c in table.column_names if c in shown), brief=tuple(rest))


class DenseTableRetriever:
    """Plain dense top-k over one document per table: what LlamaIndex's ObjectIndex does. A baseline."""

    def __init__(self, index: RagIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    def retrieve(self, question: str, k: int = 5, *, scope: Sized[str] | None = None) -> Retrieval:
        query = self.embedder.encode([question])[0]
        ids = self.index.table_doc_ids
        if scope is not None:
            ids = np.array([i for i in ids if self.index.schema.docs[i].tables[0] in scope], dtype=np.int64)
        scores = self.index.schema.vectors[ids] @ query
        best = np.argsort(-scores, kind="stable")[:k]
        docs = self.index.schema.docs
        return Retrieval(
            question, [TableHit(docs[ids[i]].tables[0], round(float(scores[i]), 6)) for i in best]
        )


def _shortest_path(graph: dict[str, set[str]], start: str, targets: set[str], max_hops: int) -> list[str]:
    """Breadth-first path from ``start`` to the nearest of ``targets``; empty when none within reach."""
    if start in targets:
        return [start]
    previous: dict[str, str | None] = {start: None}
    frontier = deque([(start, 0)])
    while frontier:
        node, depth = frontier.popleft()
        if depth == max_hops:
            continue
        for nxt in sorted(graph.get(node, ())):
            if nxt in previous:
                continue
            previous[nxt] = node
            if nxt in targets:
                path = [nxt]
                while (back := previous[path[-1]]) is not None:
                    path.append(back)
                return path[::-1]
            frontier.append((nxt, depth + 1))
    return []


# -- budget ---------------------------------------------------------------------------------------


def fit_budget(
    result: Retrieval, tables: dict[str, Table], budget: int, *, form: str = "schema"
) -> Retrieval:
    """Render the context in priority order (tables, values, date ranges, notes, examples) within ``budget`` tokens.

    ``form`` is "schema" (``compact_schema``, the matched values inline in their column's line) or
    "ddl" (``compact_ddl``, values as separate ``-- table.column = 'value'`` lines). The first table
    always goes in. Whatever else does not fit is named in ``dropped`` so that a caller (or a person
    reading ``askdb prompt`` or ``askdb retrieve``) sees it instead of losing it silently. A table's
    date ranges (``result.ranges``) are one line after the tables, kept only with their table.
    """
    if form not in ("schema", "ddl"):
        raise ValueError(f"schema form {form!r}: use 'schema' or 'ddl'")
    sections: list[tuple[str, str, str]] = []
    needed: set[str] = set()
    for hit in result.tables:
        table = tables.get(hit.name.lower())
        if table is not None:
            shown = replace(table, columns=tuple(c for c in table.columns if c.name in set(hit.columns)))
            if form == "schema":
                found: dict[str, list[str]] = {}
                for v in result.values:
                    if v.table == hit.name and v.value not in found.get(v.column, []):
                        found.setdefault(v.column, []).append(v.value)
                text = compact_schema(shown, values=found, brief=hit.brief)
            else:
                text = compact_ddl(
                    replace(shown, columns=tuple(c for c in shown.columns if c.name not in hit.brief))
                )
            sections.append(("table", hit.name, text))
            if hit.via == "join" or not needed:
                needed.add(hit.name)
    if form == "ddl":
        sections += [
            ("value", f"{v.table}.{v.column}", f"-- {v.table}.{v.column} = '{v.value}'")
            for v in result.values
        ]
    sections += _date_sections(result)
    sections += [("note", n.name, n.text) for n in result.notes]
    sections += [("example", e.question, f"-- {e.question}\n{e.sql};") for e in result.examples]
    kept: list[tuple[str, str, str]] = []
    used, dropped = 0, []
    for kind, name, text in sections:
        if kind == "date" and not any(k == "table" and n == name for k, n, _ in kept):
            continue  # the range of a table the model does not see
        cost = estimate_tokens(text)
        if used + cost <= budget or (kind == "table" and not kept):
            kept.append((kind, name, text))
            used += cost
        else:
            dropped.append({"kind": kind, "name": name, "tokens": cost})
    keep_names = {(k, n) for k, n, _ in kept}
    result.tables = [t for t in result.tables if ("table", t.name) in keep_names]
    if form == "ddl":
        result.values = [v for v in result.values if ("value", f"{v.table}.{v.column}") in keep_names]
    else:
        result.values = [v for v in result.values if ("table", v.table) in keep_names]
    result.ranges = [r for r in result.ranges if ("date", r.table) in keep_names]
    result.notes = [n for n in result.notes if ("note", n.name) in keep_names]
    result.examples = [e for e in result.examples if ("example", e.question) in keep_names]
    sections_ranked = [
        ContextSection(k, n, t, k == "table" and n in needed, i) for i, (k, n, t) in enumerate(kept)
    ]
    position = {name: i for i, name in enumerate(tables)}
    shown_tables = sorted(
        (s for s in sections_ranked if s.kind == "table"),
        key=lambda s: position.get(s.name.lower(), len(position)),
    )
    result.sections = shown_tables + [s for s in sections_ranked if s.kind != "table"]
    result.context = render_sections(result.sections)
    result.tokens, result.budget, result.dropped = used, budget, dropped
    return result


def _date_sections(result: Retrieval) -> list[tuple[str, str, str]]:
    """One line per table with time columns: the first and last day of each one's data."""
    by_table: dict[str, list[DateRange]] = {}
    for r in result.ranges:
        by_table.setdefault(r.table, []).append(r)
    return [
        (
            "date",
            table,
            f"-- {table} 数据的时间范围: " + ", ".join(f"{r.column} {r.first} 至 {r.last}" for r in rs),
        )
        for table, rs in by_table.items()
    ]
