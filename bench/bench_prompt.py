"""Prompt tokens, gold tables in the prompt, and time to first token: askdb beside what users send instead.

    .venv/bin/python bench/bench_prompt.py [--split test|all] [--spider-limit N] [--no-speed] [--json PATH]

One run, the same questions for everyone, every prompt counted with the Qwen2 tokenizer (llama.cpp's
ggml-vocab-qwen2.gguf, vocab only, and askdb's ChatML rendering: the tokenizer of the DeepSeek-R1
distills askdb defaults to):

- askdb: the SQL-expert chat ``Assistant`` sends (``askdb.assistant.sql_messages`` over the real
  ``HybridRetriever`` at its defaults: ``DEFAULT_K`` ranked tables, the relative floor, join-path
  tables, the compact schema form, notes and examples above their bars).
- LlamaIndex ``NLSQLTableQueryEngine`` (every table of the database) and ``SQLTableRetrieverQueryEngine``
  (an ``ObjectIndex`` of the tables embedded with the same all-MiniLM-L6-v2, top 5): the prompt string
  their LLM receives, captured by a fake LLM that only records it.
- LangChain ``create_sql_query_chain`` (every table, with its default 3 sample rows): the same capture.
- The seed's Dify workflow: its "LLM-SQL专家" instructions, read at run time from
  ../shared/seeds (not copied into askdb), with the top-4 DDL chunks (Dify's default top_k) of a plain
  dense retrieval (MiniLM) pasted into its <context>.

Where: the ads test split (askdb/eval/data/ads_questions.jsonl) over the demo SQLite database, and
Spider dev with the database hint over an index pooling every Spider table (bench/../shared/bench/spider);
the contenders get each Spider database as an empty SQLite file made from tables.json (so LangChain's
sample rows are empty there). SQLite keeps no column comments, so the LlamaIndex and LangChain
prompts lack the Chinese comments they would carry on MySQL: their figures here are a lower bound.

Gold-table recall: the share of questions (with gold SQL) whose every table named in the gold SQL is in
the prompt. Speed: the packaged Gemma 3 270M (issue 10) in process through askdb's ``LlamaCppLLM``:
time to the first token and to the whole reply for a question on a fresh model (cold), the same
question asked after another one (warm: the byte-identical rules and whatever tables the two share
are cached) and the repair of that question (the same conversation with two more turns), each the
median over a few consecutive question pairs of the ads test split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sqlglot
from sqlglot import exp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
RESULTS_FILE = HERE / "results" / "prompt.json"
SEED = SHARED / "seeds" / "000_374072f0f5930fbb.txt"
DIFY_TOP_K = 4
RETRIEVER_TOP_K = 5
TARGETS = {"ads_median_tokens": 600, "ratio_to_smallest": 0.5, "ads_recall": 0.98, "spider_recall": 0.95}

sys.path.insert(0, str(HERE))
from bench_llamacpp import Tokenizer, open_parts, packaged_models  # noqa: E402
from bench_overhead import llamaindex_minilm  # noqa: E402


@dataclass
class Item:
    """One question: its text, the tables its gold SQL reads (None: no gold SQL), and what came before."""

    question: str
    gold: set[str] | None
    db: str = "ads"
    history: tuple[Any, ...] = ()


# -- counting -----------------------------------------------------------------------------------------------


class Qwen2:
    def __init__(self, cache: Path) -> None:
        from askdb.finetune.llamacpp import vocab_file

        self.tokenizer = Tokenizer(vocab_file(cache, "qwen2"), "chatml")

    def chat(self, messages: Sequence[Any]) -> int:
        return len(self.tokenizer.ids(messages))

    def prompt(self, text: str) -> int:
        """A completion-style prompt (LlamaIndex, LangChain) as a chat server gets it: one user turn."""
        from askdb.llm.base import Message

        return self.chat([Message("user", text)])


def gold_tables(sql: str | None, names: set[str], dialect: str = "mysql") -> set[str] | None:
    if not sql:
        return None
    tree = sqlglot.parse_one(sql, read=dialect)
    return {t.name.lower() for t in tree.find_all(exp.Table)} & names


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- contenders -------------------------------------------------------------------------------------------


class Captured:
    """What a framework's LLM was asked first since the last ``reset``: the text-to-SQL prompt (LlamaIndex
    asks again to phrase the answer, even with ``sql_only``)."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def reset(self) -> None:
        self.prompts.clear()

    @property
    def prompt(self) -> str:
        return self.prompts[0]


def llamaindex_engines(url: str, tables: list[str], model: Any) -> tuple[Any, Any, Captured]:
    """NLSQLTableQueryEngine and SQLTableRetrieverQueryEngine over ``url``; ``model`` a sentence-transformer."""
    from llama_index.core import Settings as LISettings
    from llama_index.core import SQLDatabase, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.indices.struct_store.sql_query import SQLTableRetrieverQueryEngine
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback
    from llama_index.core.objects import ObjectIndex, SQLTableNodeMapping, SQLTableSchema
    from llama_index.core.query_engine import NLSQLTableQueryEngine
    from pydantic import PrivateAttr
    from sqlalchemy import create_engine

    captured = Captured()

    class RecordingLLM(CustomLLM):
        """Records the prompt and answers a fixed SQL at once: only the prompt is measured."""

        _captured: Captured = PrivateAttr()

        def __init__(self, captured: Captured) -> None:
            super().__init__()
            self._captured = captured

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=32768, num_output=512, model_name="recording-fake")

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            self._captured.prompts.append(prompt)
            return CompletionResponse(text="SQLQuery: SELECT 1")

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            yield self.complete(prompt, formatted)

    llm = RecordingLLM(captured)
    LISettings.llm, LISettings.embed_model = llm, MockEmbedding(embed_dim=8)
    database = SQLDatabase(create_engine(url), include_tables=tables)
    whole = NLSQLTableQueryEngine(database, tables=tables, llm=llm, sql_only=True)
    objects = ObjectIndex.from_objects(
        [SQLTableSchema(table_name=t) for t in tables],
        SQLTableNodeMapping(database),
        VectorStoreIndex,
        embed_model=llamaindex_minilm(model),
    )
    retrieving = SQLTableRetrieverQueryEngine(
        database, objects.as_retriever(similarity_top_k=RETRIEVER_TOP_K), llm=llm, sql_only=True
    )
    return whole, retrieving, captured


def langchain_chain(url: str, tables: list[str]) -> tuple[Any, Captured]:
    from langchain_classic.chains import create_sql_query_chain
    from langchain_community.utilities import SQLDatabase
    from langchain_core.language_models.llms import LLM
    from sqlalchemy import create_engine

    captured = Captured()

    class RecordingLLM(LLM):
        captured: Any

        @property
        def _llm_type(self) -> str:
            return "recording-fake"

        def _call(self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **_: Any) -> str:
            self.captured.prompts.append(prompt)
            return "SELECT 1"

    db = SQLDatabase(create_engine(url), include_tables=tables)
    return create_sql_query_chain(RecordingLLM(captured=captured), db), captured


def seed_instructions() -> str:
    """The seed's SQL-expert instructions up to its <context>, as its Dify workflow sends them."""
    text = SEED.read_text(encoding="utf-8")
    start = text.index("你是数据库专家")
    end = text.index("<context>", start)
    return text[start:end].rstrip()


class DifyTopK:
    """The seed's workflow: plain dense top-k over one DDL chunk per table, pasted into its prompt."""

    def __init__(self, ddl: dict[str, str], embedder: Any) -> None:
        self.names = list(ddl)
        self.ddl = ddl
        self.embedder = embedder
        self.vectors = embedder.encode([ddl[n] for n in self.names])
        self.instructions = seed_instructions()

    def messages(self, question: str, scope: Sequence[str] | None = None) -> tuple[list[Any], list[str]]:
        from askdb.llm.base import Message

        ids = [i for i, n in enumerate(self.names) if scope is None or n in scope]
        scores = self.vectors[ids] @ self.embedder.encode([question])[0]
        best = [self.names[ids[i]] for i in sorted(range(len(ids)), key=lambda i: -scores[i])[:DIFY_TOP_K]]
        context = "\n".join(f"{i}. {n}\n```sql\n{self.ddl[n]}\n```" for i, n in enumerate(best, 1))
        system = f"{self.instructions}<context>\n{context}\n</context>"
        return [Message("system", system), Message("user", question)], best


TABLE_IN_LLAMAINDEX = re.compile(r"Table '([^']+)' has columns")
TABLE_IN_LANGCHAIN = re.compile(r'CREATE TABLE "?([^\s"(]+)"?')


def tables_in(prompt: str, pattern: re.Pattern[str]) -> set[str]:
    return {m.lower() for m in pattern.findall(prompt)}


# -- one data set --------------------------------------------------------------------------------------------


def measure_set(
    items: list[Item],
    counter: Qwen2,
    askdb_prompt: Callable[[Item], tuple[list[Any], list[str]]],
    contenders: dict[str, Callable[[Item], tuple[int, set[str]]]],
    label: str,
) -> dict[str, Any]:
    """Per system: prompt tokens (median, p95, mean) and the share of questions with all gold tables in."""
    tokens: dict[str, list[int]] = {"askdb": []}
    found: dict[str, list[bool]] = {"askdb": []}
    for name in contenders:
        tokens[name], found[name] = [], []
    started = time.perf_counter()
    for n, item in enumerate(items, 1):
        messages, names = askdb_prompt(item)
        tokens["askdb"].append(counter.chat(messages))
        if item.gold is not None:
            found["askdb"].append(item.gold <= {t.lower() for t in names})
        for name, contender in contenders.items():
            count, shown = contender(item)
            tokens[name].append(count)
            if item.gold is not None:
                found[name].append(item.gold <= shown)
        if n % 100 == 0:
            print(f"  {label}: {n}/{len(items)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return {
        name: {
            "median": statistics.median(tokens[name]),
            "p95": pct(tokens[name], 0.95),
            "mean": round(statistics.fmean(tokens[name]), 1),
            "recall": round(sum(found[name]) / len(found[name]), 4) if found[name] else None,
            "questions": len(tokens[name]),
            "with_gold": len(found[name]),
        }
        for name in tokens
    }


def ads_set(args: argparse.Namespace, counter: Qwen2) -> tuple[dict[str, Any], list[str], Any]:
    from askdb.assistant import retrieval_query, sql_messages
    from askdb.eval.dataset import load_ads_questions
    from askdb.events import Turn
    from askdb.rag.retriever import DEFAULT_K
    from askdb.schemas.catalog import packaged_ddl

    settings, retriever, notes = open_parts(args.cache)
    catalog = retriever.index.catalog
    names = {n.lower() for n in catalog.table_names}
    questions = [q for q in load_ads_questions() if args.split == "all" or q.split == args.split]
    items = [
        Item(
            q.question,
            gold_tables(q.sql, names),
            history=(Turn(q.previous.question, q.previous.sql),) if q.previous else (),
        )
        for q in questions
    ]
    tables = list(catalog.table_names)
    url = contenders_database(args, notes, settings.db_url)
    model = retriever.embedder._load()  # the same MiniLM, as sentence-transformers (LlamaIndex's way)
    whole, retrieving, li_seen = llamaindex_engines(url, tables, model)
    chain, lc_seen = langchain_chain(url, tables)
    statements = [s.strip() + ";" for s in packaged_ddl("ads").split(";") if "CREATE TABLE" in s]
    ddl = {re.search(r"CREATE TABLE `([^`]+)`", s).group(1): s[s.index("CREATE TABLE") :] for s in statements}
    dify = DifyTopK(ddl, retriever.embedder)

    def askdb_prompt(item: Item) -> tuple[list[Any], list[str]]:
        retrieval = retriever.retrieve(retrieval_query(item.question, item.history), DEFAULT_K)
        return sql_messages(item.question, item.history, retrieval.context, row_limit=settings.max_rows), [
            t for t in retrieval.table_names
        ]

    def follow_up(item: Item) -> str:  # what a framework without conversations is asked: the question
        return item.question

    contenders = {
        "llamaindex-nlsql": _llamaindex(whole, li_seen, counter, follow_up),
        "llamaindex-retriever": _llamaindex(retrieving, li_seen, counter, follow_up),
        "langchain": _langchain(chain, lc_seen, counter),
        "dify-seed": lambda item: _dify(dify, counter, item, None),
    }
    figures = measure_set(items, counter, askdb_prompt, contenders, "ads")
    notes.append(f"ads: {len(items)} questions of the {args.split} split, {len(tables)} tables")
    return figures, notes, (settings, retriever, items)


def contenders_database(args: argparse.Namespace, notes: list[str], fallback: str) -> str:
    """The ads demo data in MariaDB, so that the frameworks reflect the tables with their comments."""
    from askdb.errors import AskdbError
    from askdb.schemas.load import load_mysql

    if args.mysql:
        try:
            load_mysql(args.mysql, scale=0.01, replace=True)
            notes.append(
                f"contenders reflect the ads tables from MariaDB ({args.mysql.split('@')[-1]}), comments included"
            )
            return args.mysql
        except AskdbError as exc:
            notes.append(f"MariaDB unavailable ({exc}); contenders reflect SQLite, WITHOUT column comments")
    else:
        notes.append(
            "--mysql '': contenders reflect SQLite, WITHOUT column comments (their prompts are smaller)"
        )
    return fallback


def _llamaindex(engine: Any, seen: Captured, counter: Qwen2, text: Callable[[Item], str]) -> Callable:
    def run(item: Item) -> tuple[int, set[str]]:
        seen.reset()
        engine.query(text(item))
        return counter.prompt(seen.prompt), tables_in(seen.prompt, TABLE_IN_LLAMAINDEX)

    return run


def _langchain(chain: Any, seen: Captured, counter: Qwen2) -> Callable:
    def run(item: Item) -> tuple[int, set[str]]:
        seen.reset()
        chain.invoke({"question": item.question})
        return counter.prompt(seen.prompt), tables_in(seen.prompt, TABLE_IN_LANGCHAIN)

    return run


def _dify(dify: DifyTopK, counter: Qwen2, item: Item, scope: Sequence[str] | None) -> tuple[int, set[str]]:
    messages, best = dify.messages(item.question, scope)
    return counter.chat(messages), {b.lower() for b in best}


# -- Spider dev, pooled ---------------------------------------------------------------------------------------


def spider_set(args: argparse.Namespace, counter: Qwen2, embedder: Any, work: Path) -> dict[str, Any]:
    from askdb.assistant import sql_messages
    from askdb.eval.external import spider_questions, spider_tables
    from askdb.rag.retriever import DEFAULT_K, HybridRetriever
    from askdb.rag.store import build_index
    from askdb.schemas.catalog import Catalog, compact_ddl

    tables, by_db = spider_tables(SHARED / "bench")
    pool = Catalog(tuple(tables))
    print(f"indexing the Spider pool: {len(tables)} tables ...", file=sys.stderr)
    started = time.perf_counter()
    index = build_index(pool, embedder)
    print(f"  built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    hybrid = HybridRetriever(index, embedder)
    rows = spider_questions(SHARED / "bench", by_db, args.spider_limit)
    items = [Item(r["question"], {g.lower() for g in r["gold"]}, r["db"]) for r in rows]
    by_name = {t.name: t for t in tables}
    dbs = sorted({i.db for i in items})
    files = {db: _empty_sqlite(work / f"{db}.sqlite", [by_name[n] for n in by_db[db]]) for db in dbs}
    engines: dict[str, Any] = {}

    def frameworks(db: str) -> Any:
        if db not in engines:
            names = [n.split("__", 1)[1] for n in by_db[db]]
            names = [n for n in names if not n.lower().startswith("sqlite_")]
            whole, retrieving, li_seen = llamaindex_engines(f"sqlite:///{files[db]}", names, embedder._load())
            chain, lc_seen = langchain_chain(f"sqlite:///{files[db]}", names)
            engines[db] = (whole, retrieving, li_seen, chain, lc_seen)
        return engines[db]

    dify = DifyTopK({t.name: compact_ddl(t) for t in tables}, embedder)

    def askdb_prompt(item: Item) -> tuple[list[Any], list[str]]:
        retrieval = hybrid.retrieve(item.question, DEFAULT_K, scope=by_db[item.db])
        return sql_messages(item.question, (), retrieval.context, row_limit=100), retrieval.table_names

    def pooled(shown: set[str], db: str) -> set[str]:
        return {f"{db}__{s}".lower() for s in shown}

    def contender(slot: int, pattern: re.Pattern[str]) -> Callable[[Item], tuple[int, set[str]]]:
        def run(item: Item) -> tuple[int, set[str]]:
            parts = frameworks(item.db)
            seen = parts[2] if slot < 3 else parts[4]
            seen.reset()
            if slot < 3:
                parts[slot].query(item.question)
            else:
                parts[slot].invoke({"question": item.question})
            return counter.prompt(seen.prompt), pooled(tables_in(seen.prompt, pattern), item.db)

        return run

    contenders = {
        "llamaindex-nlsql": contender(0, TABLE_IN_LLAMAINDEX),
        "llamaindex-retriever": contender(1, TABLE_IN_LLAMAINDEX),
        "langchain": contender(3, TABLE_IN_LANGCHAIN),
        "dify-seed": lambda item: _dify(dify, counter, item, by_db[item.db]),
    }
    figures = measure_set(items, counter, askdb_prompt, contenders, "spider")
    figures["_pool"] = {"tables": len(tables), "questions": len(items), "databases": len(dbs)}
    return figures


def _empty_sqlite(path: Path, tables: list[Any]) -> Path:
    """A database with the tables' columns and keys and no rows, for frameworks that reflect a database."""
    with sqlite3.connect(path) as conn:
        for table in tables:
            name = table.name.split("__", 1)[1]
            if name.lower().startswith("sqlite_"):
                continue  # SQLite's own table (AUTOINCREMENT's counters), listed in tables.json
            cols = [f'"{c.name}" {c.type or "text"}' for c in table.columns]
            if table.primary_key:
                cols.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in table.primary_key) + ")")
            for fk in table.foreign_keys:
                ref = fk.ref_table.split("__", 1)[-1]
                cols.append(
                    f"FOREIGN KEY ({', '.join(chr(34) + c + chr(34) for c in fk.columns)}) "
                    f'REFERENCES "{ref}" ({", ".join(chr(34) + c + chr(34) for c in fk.ref_columns)})'
                )
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({", ".join(cols)})')
    return path


# -- time to first token ----------------------------------------------------------------------------------------


def speed(settings: Any, retriever: Any, items: list[Item], args: argparse.Namespace) -> dict[str, Any]:
    """First, later and repair calls of the packaged Gemma through askdb's in-process llama.cpp backend."""
    from askdb.assistant import retrieval_query, sql_messages
    from askdb.llm.base import Message
    from askdb.llm.llamacpp_backend import LlamaCppLLM
    from askdb.prompts import messages as prompt_messages

    gemma = next(m for m in packaged_models(args.models_cache) if m.name == "gemma")
    pairs = [(items[i], items[i + 1]) for i in range(0, min(len(items) - 1, 2 * args.pairs), 2)]
    calls: dict[str, dict[str, list[float]]] = {
        k: {"first_token_s": [], "reply_s": [], "prompt_tokens": []}
        for k in ("first", "earlier", "later", "repair")
    }

    def timed(llm: Any, messages: list[Any], kind: str) -> str:
        started = time.perf_counter()
        first, text = None, []
        for chunk in llm.stream(messages, max_tokens=args.reply_tokens, temperature=0.0):
            if first is None and (chunk.content or chunk.reasoning):
                first = time.perf_counter() - started
            text.append(chunk.content)
        calls[kind]["first_token_s"].append(first if first is not None else time.perf_counter() - started)
        calls[kind]["reply_s"].append(time.perf_counter() - started)
        calls[kind]["prompt_tokens"].append(llm.count_tokens(messages))
        return "".join(text)

    def chat(item: Item) -> list[Any]:
        retrieval = retriever.retrieve(retrieval_query(item.question, item.history))
        return sql_messages(item.question, item.history, retrieval.context, row_limit=settings.max_rows)

    def fresh(messages: list[Any]) -> Any:
        llm = LlamaCppLLM(str(gemma.path), n_ctx=4096)  # a fresh model: its prompt cache is empty
        llm.count_tokens(messages)  # loads the weights (untimed) without evaluating anything
        return llm

    for one, two in pairs:
        earlier, later = chat(one), chat(two)
        llm = fresh(later)
        timed(llm, later, "first")  # the question on a cold cache
        del llm
        llm = fresh(earlier)
        timed(llm, earlier, "earlier")
        reply = timed(llm, later, "later")  # the same question after another one
        repair = [
            *later,
            Message("assistant", reply or "SELECT"),
            *prompt_messages(
                "repair", sql=reply[:200], violations=[], error="no such column", cut=None, looped=False
            ),
        ]
        timed(llm, repair, "repair")
        del llm
    out: dict[str, Any] = {"model": gemma.label, "pairs": len(pairs), "reply_tokens": args.reply_tokens}
    del calls["earlier"]
    for kind, figures in calls.items():
        out[kind] = {k: round(statistics.median(v), 3) for k, v in figures.items()}
    out["later_over_first"] = round(out["later"]["first_token_s"] / out["first"]["first_token_s"], 3)
    out["repair_over_first"] = round(out["repair"]["first_token_s"] / out["first"]["first_token_s"], 3)
    return out


# -- report ---------------------------------------------------------------------------------------------------


LABELS = {
    "askdb": "askdb (hybrid retrieval, compact schema)",
    "llamaindex-nlsql": "LlamaIndex NLSQLTableQueryEngine (all tables)",
    "llamaindex-retriever": f"LlamaIndex SQLTableRetrieverQueryEngine (top {RETRIEVER_TOP_K})",
    "langchain": "LangChain create_sql_query_chain (all tables, 3 rows)",
    "dify-seed": f"the seed's Dify workflow (top-{DIFY_TOP_K} DDL)",
}


def render(report: dict[str, Any]) -> str:
    lines = [f"prompt tokens (Qwen2) and gold tables in the prompt, {report['when']}"]
    for key, title in (("ads", "ads"), ("spider", "Spider dev, database hint")):
        figures = report.get(key)
        if not figures:
            continue
        extra = figures.get("_pool")
        lines.append(
            f"\n== {title}"
            + (f" (pool of {extra['tables']} tables, {extra['questions']} questions)" if extra else "")
        )
        lines.append(f"{'':<58} {'median':>7} {'p95':>6} {'mean':>7} {'recall':>7}")
        for name, label in LABELS.items():
            f = figures[name]
            recall = f"{f['recall']:.3f}" if f["recall"] is not None else "-"
            lines.append(f"{label:<58} {f['median']:>7.0f} {f['p95']:>6.0f} {f['mean']:>7.0f} {recall:>7}")
    if report.get("speed"):
        s = report["speed"]
        lines.append(
            f"\n== time to first token / whole reply, {s['model']}, in process (median of {s['pairs']} pairs)"
        )
        names = {"first": "cold", "later": "warm", "repair": "repair"}
        for kind in ("first", "later", "repair"):
            k = s[kind]
            lines.append(
                f"{names[kind]:<8} prompt {k['prompt_tokens']:>5.0f} tokens  first token {k['first_token_s']:>6.2f} s"
                f"  reply ({s['reply_tokens']} tokens at most) {k['reply_s']:>6.2f} s"
            )
        lines.append(
            f"warm/cold {s['later_over_first']:.2f}, repair/cold {s['repair_over_first']:.2f} (time to first token)"
        )
    lines.append("\ntargets:")
    for t in report["targets"]:
        lines.append(f"  {'MET ' if t['met'] else 'MISS'} {t['what']}: {t['value']} (target {t['target']})")
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    ads = report["ads"]
    median = ads["askdb"]["median"]
    smallest = min(ads[n]["median"] for n in LABELS if n != "askdb")
    out.append(
        {
            "what": "ads median askdb prompt",
            "value": median,
            "target": f"<= {TARGETS['ads_median_tokens']}",
            "met": median <= TARGETS["ads_median_tokens"],
        }
    )
    out.append(
        {
            "what": "ads askdb / smallest contender",
            "value": round(median / smallest, 3),
            "target": f"<= {TARGETS['ratio_to_smallest']}",
            "met": median / smallest <= TARGETS["ratio_to_smallest"],
        }
    )
    out.append(
        {
            "what": "ads gold tables in the prompt",
            "value": ads["askdb"]["recall"],
            "target": f">= {TARGETS['ads_recall']}",
            "met": ads["askdb"]["recall"] >= TARGETS["ads_recall"],
        }
    )
    if report.get("spider"):
        r = report["spider"]["askdb"]["recall"]
        out.append(
            {
                "what": "Spider dev gold tables in the prompt (hint)",
                "value": r,
                "target": f">= {TARGETS['spider_recall']}",
                "met": r >= TARGETS["spider_recall"],
            }
        )
    if report.get("speed"):
        v = report["speed"]["later_over_first"]
        out.append(
            {
                "what": "warm / cold time to first token (the same question after another)",
                "value": v,
                "target": "<= 0.5",
                "met": v <= 0.5,
            }
        )
        v = report["speed"]["repair_over_first"]
        out.append(
            {
                "what": "repair / cold time to first token",
                "value": v,
                "target": "<= 0.5",
                "met": v <= 0.5,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("test", "train", "all"), default="test")
    parser.add_argument("--spider-limit", type=int, default=None, help="first N Spider dev questions")
    parser.add_argument("--no-spider", action="store_true")
    parser.add_argument("--no-speed", action="store_true", help="skip the Gemma timings")
    parser.add_argument("--pairs", type=int, default=3, help="question pairs timed with Gemma")
    parser.add_argument("--reply-tokens", type=int, default=48)
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/askdb-bench").expanduser())
    parser.add_argument("--models-cache", type=Path, default=Path("~/.cache/askdb-tests/models").expanduser())
    parser.add_argument("--llama-cpp-cache", type=Path, default=Path("~/.cache/askdb-tests").expanduser())
    parser.add_argument(
        "--mysql",
        default="mysql+pymysql://root@127.0.0.1:3306/askdb_bench_prompt",
        help="a MariaDB database the demo data is loaded into (replaced) for the contenders; '' for SQLite",
    )
    parser.add_argument("--json", type=Path, default=RESULTS_FILE)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    counter = Qwen2(args.llama_cpp_cache)
    ads, notes, (settings, retriever, items) = ads_set(args, counter)
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "ads": ads,
        "notes": notes,
    }
    if not args.no_spider:
        with tempfile.TemporaryDirectory() as work:
            report["spider"] = spider_set(args, counter, retriever.embedder, Path(work))
    if not args.no_speed:
        report["speed"] = speed(settings, retriever, items, args)
    report["targets"] = targets(report)
    print(render(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
