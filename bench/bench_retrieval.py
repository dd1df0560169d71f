"""Retrieval over a large pooled schema: plain dense top-k (LlamaIndex ObjectIndex style) vs hybrid.

Pool: every table of the Spider databases (tables.json, renamed ``<db_id>__<table>`` to keep them
unique) plus the ads tables. Spider's natural-language column names stand in for column comments.
Gold tables of a Spider dev question are the tables its gold SQL reads (sqlglot). The ads questions
are bench/data/ads_retrieval_zh.jsonl (Chinese, gold tables written by hand).

How recall is counted, since pooling makes equal names ambiguous (many databases have `singer`):
- strict:  a gold table counts only if the very table of the question's database is retrieved;
- lenient: any retrieved table with the same original name counts (what a user sees is the same
           table shape, possibly another database's copy);
- hint:    the question comes with its db_id, as when a user picks a database; retrieval is scoped
           to that database's tables (strict and lenient coincide).
recall@k is the mean share of a question's gold tables among the top k ranked tables; "all@k" is
the share of questions with every gold table in the top k; "+join" adds the hybrid retriever's
key-path tables to its top 5. Latency is one full ``retrieve`` call (question embedding included).

Run: .venv/bin/python bench/bench_retrieval.py [--copies 10] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sqlglot
from sqlglot import exp

from askdb.rag.embed import SentenceTransformerEmbedder
from askdb.rag.retriever import DenseTableRetriever, HybridRetriever, RetrievalConfig
from askdb.rag.store import build_index
from askdb.schemas.catalog import Catalog, Column, ForeignKey, Table, packaged_catalog
from askdb.schemas.knowledge import packaged_examples, packaged_notes

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "bench" / "spider"
ZH_SET = Path(__file__).resolve().parent / "data" / "ads_retrieval_zh.jsonl"
KS = (1, 3, 5, 10)
_TYPES = {"number": "int", "time": "datetime", "boolean": "tinyint", "text": "varchar(255)", "others": "text"}


def spider_tables(copy: int = 0) -> tuple[list[Table], dict[str, list[str]]]:
    """Spider tables as askdb Tables (copy > 0 renames every database to make a synthetic duplicate)."""
    dbs = json.loads((SPIDER / "tables.json").read_text(encoding="utf-8"))
    tables, by_db = [], {}
    for db in dbs:
        prefix = db["db_id"] if copy == 0 else f"{db['db_id']}_copy{copy}"
        names = [f"{prefix}__{t}" for t in db["table_names_original"]]
        cols: list[list[Column]] = [[] for _ in names]
        for (t, name), (_, natural), typ in zip(db["column_names_original"], db["column_names"], db["column_types"]):
            if t >= 0:
                cols[t].append(Column(name, _TYPES.get(typ, "text"), natural))
        fks: list[list[ForeignKey]] = [[] for _ in names]
        col_table = [t for t, _ in db["column_names_original"]]
        col_name = [n for _, n in db["column_names_original"]]
        for src, dst in db["foreign_keys"]:
            fks[col_table[src]].append(ForeignKey((col_name[src],), names[col_table[dst]], (col_name[dst],)))
        pks = {col_table[p]: col_name[p] for p in db["primary_keys"] if isinstance(p, int)}
        for i, name in enumerate(names):
            natural = db["table_names"][i]
            tables.append(Table(name, tuple(cols[i]), natural, (pks[i],) if i in pks else (), tuple(fks[i])))
        by_db[prefix] = names
    return tables, by_db


def spider_questions(by_db: dict[str, list[str]], limit: int | None) -> list[dict]:
    rows = json.loads((SPIDER / "dev.json").read_text(encoding="utf-8"))[:limit]
    out = []
    for row in rows:
        lookup = {n.split("__", 1)[1].lower(): n for n in by_db[row["db_id"]]}
        tree = sqlglot.parse_one(row["query"], read="sqlite")
        gold = sorted({lookup[t.name.lower()] for t in tree.find_all(exp.Table) if t.name.lower() in lookup})
        if gold:
            out.append({"question": row["question"], "db": row["db_id"], "gold": gold})
    return out


def ads_questions() -> list[dict]:
    rows = [json.loads(line) for line in ZH_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"question": r["question"], "db": "ads", "gold": r["tables"]} for r in rows]


def ads_values():
    """Values from a real (small) demo database, as `askdb index` reads them."""
    from askdb.db import make_engine
    from askdb.rag.values import sample_values
    from askdb.schemas.load import build_sqlite

    with tempfile.TemporaryDirectory() as tmp:
        path = build_sqlite(Path(tmp) / "ads.db", scale=0.05)
        engine = make_engine(f"sqlite:///{path}")
        try:
            return sample_values(engine, packaged_catalog())
        finally:
            engine.dispose()


def _base(name: str) -> str:
    return name.split("__", 1)[-1].lower()


def evaluate(retriever, questions: list[dict], scopes: dict[str, list[str]] | None, join: bool) -> dict:
    """recall@k strict and lenient, all@k, latency; scopes given means the db hint is used."""
    recall = {m: {k: [] for k in KS} for m in ("strict", "lenient")}
    complete = {k: [] for k in KS}
    joined, sizes, latency = [], [], []
    for q in questions:
        scope = set(scopes[q["db"]]) if scopes is not None else None
        start = time.perf_counter()
        result = retriever.retrieve(q["question"], k=max(KS), scope=scope)
        latency.append((time.perf_counter() - start) * 1000)
        ranked = [t.name for t in result.tables if t.via == "rank"]
        gold = q["gold"]
        for k in KS:
            top = ranked[:k]
            recall["strict"][k].append(sum(g in top for g in gold) / len(gold))
            bases = {_base(t) for t in top}
            recall["lenient"][k].append(sum(_base(g) in bases for g in gold) / len(gold))
            complete[k].append(all(g in top for g in gold))
        if join:
            top5 = result.tables[:5]
            extra = [t.name for t in retriever._join_tables(list(top5))]
            with5 = [t.name for t in top5] + extra
            joined.append(sum(g in with5 for g in gold) / len(gold))
            sizes.append(len(with5))
    mean = statistics.fmean
    lat = sorted(latency)
    return {
        "n": len(questions),
        "strict": {k: round(mean(v), 4) for k, v in recall["strict"].items()},
        "lenient": {k: round(mean(v), 4) for k, v in recall["lenient"].items()},
        "all": {k: round(mean(v), 4) for k, v in complete.items()},
        "join@5": round(mean(joined), 4) if joined else None,
        "tables@5+join": round(mean(sizes), 2) if sizes else None,
        "p50_ms": round(lat[len(lat) // 2], 1),
        "p95_ms": round(lat[int(len(lat) * 0.95) - 1], 1),
    }


def _fmt(name: str, mode: str, r: dict) -> str:
    rec = " ".join(f"{r[mode][k]:.3f}" for k in KS)
    allk = " ".join(f"{r['all'][k]:.3f}" for k in KS)
    join = f" join@5={r['join@5']:.3f} ({r['tables@5+join']} tables)" if r["join@5"] is not None else ""
    return f"  {name:<8} {mode:<8} recall@1/3/5/10 {rec} | all@k {allk} | p50 {r['p50_ms']:>5} ms p95 {r['p95_ms']:>5} ms{join}"


def run(copies: int, limit: int | None, embedder, config: RetrievalConfig) -> None:
    tables, by_db = spider_tables()
    for c in range(1, copies):
        more, more_db = spider_tables(c)
        tables += more
        by_db.update(more_db)
    ads = packaged_catalog()
    pool = Catalog(tuple(tables) + ads.tables)
    by_db["ads"] = list(ads.table_names)
    values = ads_values()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    index = build_index(pool, embedder, notes=packaged_notes(), values=values)
    from askdb.rag.store import _examples_collection

    index.examples = _examples_collection(packaged_examples(), pool, embedder, {})
    build_s = time.perf_counter() - start
    _ = index.graph, index.matcher, index.docs_by_table, index.table_doc_ids, index.column_tokens
    size_mb = (index.schema.vectors.nbytes + len(index.schema.dense.to_bytes())
               + len(index.schema.bm25.to_bytes())) / 2**20
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n== pool: {len(pool.tables)} tables, {len(index.schema)} documents "
          f"(dense index: {index.schema.dense.kind}); build {build_s:.1f} s; index {size_mb:.1f} MiB; "
          f"max RSS {rss1 / 1024:.0f} MiB (+{(rss1 - rss0) / 1024:.0f} MiB during build)")
    hybrid, dense = HybridRetriever(index, embedder, config), DenseTableRetriever(index, embedder)
    hybrid.retrieve("warm up")
    spider = spider_questions(by_db, limit)
    zh = ads_questions()
    for label, questions in (("spider dev (English)", spider), ("ads zh set (Chinese)", zh)):
        print(f"-- {label}: {len(questions)} questions")
        for hint in (False, True):
            scopes = by_db if hint else None
            for name, retriever in (("dense", dense), ("hybrid", hybrid)):
                r = evaluate(retriever, questions, scopes, join=name == "hybrid")
                for mode in (("strict", "lenient") if not hint else ("strict",)):
                    print(_fmt(name, mode, r).replace(f" {mode:<8}", f" {'hint' if hint else mode:<8}", 1))
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="*", default=[1, 12],
                        help="pool sizes as copies of Spider: 1 is ~900 tables, 12 is ~10,500")
    parser.add_argument("--limit", type=int, default=None, help="only the first N Spider dev questions")
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    print(f"embedder: {embedder.name}; torch threads: {__import__('torch').get_num_threads()}; "
          f"cpus: {os.cpu_count()}")
    for copies in args.copies:
        run(copies, args.limit, embedder, RetrievalConfig(budget_tokens=10**6))  # recall of the ranking, not of a budget


if __name__ == "__main__":
    main()
