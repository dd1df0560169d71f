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
the share of questions with every gold table in the top k; "hit@1" the share whose first table is a gold
one (recall@1 cannot reach 1 when questions need two tables); "+join" adds the hybrid retriever's
key-path tables to its top 5. Latency is one full ``retrieve`` call (question embedding included).

Run: .venv/bin/python bench/bench_retrieval.py [--copies 10] [--limit N] [--embedder current model2vec:all-MiniLM-L6-v2]

``--embedder`` takes several embedding-model settings and ends each pool size with one line per
embedder (embedding p50, hybrid recall@5 on both sets), so an alternative is judged beside the current one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


from askdb.eval.external import KS, dusql_questions, dusql_tables, retrieval_recall
from askdb.eval.external import spider_questions as _spider_questions
from askdb.eval.external import spider_tables as _spider_tables
from askdb.rag.embed import SentenceTransformerEmbedder
from askdb.rag.retriever import DenseTableRetriever, HybridRetriever, RetrievalConfig
from askdb.rag.store import build_index
from askdb.schemas.catalog import Catalog, packaged_catalog
from askdb.schemas.knowledge import packaged_examples, packaged_notes

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "bench" / "spider"
ZH_SET = Path(__file__).resolve().parent / "data" / "ads_retrieval_zh.jsonl"


def spider_tables(copy: int = 0):
    return _spider_tables(SPIDER.parent, copy)


def spider_questions(by_db: dict[str, list[str]], limit: int | None) -> list[dict]:
    return _spider_questions(SPIDER.parent, by_db, limit)


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


def evaluate(retriever, questions: list[dict], scopes: dict[str, list[str]] | None, join: bool) -> dict:
    """recall@k strict and lenient, all@k, latency (shared with `askdb eval --dataset spider-retrieval`)."""
    return retrieval_recall(retriever, questions, scopes, join)


def _fmt(name: str, mode: str, r: dict) -> str:
    rec = " ".join(f"{r[mode][k]:.3f}" for k in KS)
    allk = " ".join(f"{r['all'][k]:.3f}" for k in KS)
    join = f" join@5={r['join@5']:.3f} ({r['tables@5+join']} tables)" if r["join@5"] is not None else ""
    return f"  {name:<8} {mode:<8} recall@1/3/5/10 {rec} | hit@1 {r['hit@1']:.3f} | all@k {allk} | p50 {r['p50_ms']:>5} ms p95 {r['p95_ms']:>5} ms{join}"


def run(copies: int, limit: int | None, embedder, config: RetrievalConfig) -> dict:
    """Build the pooled index with ``embedder``, print every figure, return the hybrid ones for the summary."""
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
    size_mb = (
        index.schema.vectors.nbytes + len(index.schema.dense.to_bytes()) + len(index.schema.bm25.to_bytes())
    ) / 2**20
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"\n== {embedder.name}: pool {len(pool.tables)} tables, {len(index.schema)} documents "
        f"(dense index: {index.schema.dense.kind}); build {build_s:.1f} s; index {size_mb:.1f} MiB; "
        f"max RSS {rss1 / 1024:.0f} MiB (+{(rss1 - rss0) / 1024:.0f} MiB during build)"
    )
    hybrid, dense = HybridRetriever(index, embedder, config), DenseTableRetriever(index, embedder)
    hybrid.retrieve("warm up")
    spider = spider_questions(by_db, limit)
    zh = ads_questions()
    summary = {"build_s": build_s}
    for key, label, questions in (
        ("spider", "spider dev (English)", spider),
        ("ads", "ads zh set (Chinese)", zh),
    ):
        print(f"-- {label}: {len(questions)} questions")
        for hint in (False, True):
            scopes = by_db if hint else None
            for name, retriever in (("dense", dense), ("hybrid", hybrid)):
                r = evaluate(retriever, questions, scopes, join=name == "hybrid")
                if name == "hybrid" and not hint:
                    summary[key] = r
                for mode in ("strict", "lenient") if not hint else ("strict",):
                    print(_fmt(name, mode, r).replace(f" {mode:<8}", f" {'hint' if hint else mode:<8}", 1))
        sys.stdout.flush()
    return summary


def embedding_times(embedder, questions: list[str]) -> dict[str, float]:
    """The question embedding alone, one question per call as a retrieval makes it."""
    import statistics

    embedder.encode(["warm up"])
    times = []
    for q in questions:
        start = time.perf_counter()
        embedder.encode([q])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))]}


def embedding_runtimes(embedder, questions: list[str]) -> str:
    """The question embedding alone; for a sentence-transformer torch beside the ONNX export (same vectors)."""
    timed = []
    if isinstance(embedder, SentenceTransformerEmbedder):
        timed.append(("torch", SentenceTransformerEmbedder(embedder.model, query_cache=0)))
    timed.append((getattr(embedder, "runtime", "?"), embedder))
    out = []
    for label, model in timed:
        t = embedding_times(model, questions)
        out.append(f"{label} p50 {t['p50']:.2f} ms p95 {t['p95']:.2f} ms")
    return "question embedding alone: " + "; ".join(out)


def summary_table(rows: list[tuple[str, dict, dict]], copies: int) -> str:
    """Every embedder on one line each: the figures that decide whether an alternative is kept."""
    head = (
        f"{'embedder (hybrid, pooled, copies=' + str(copies) + ')':56s} {'embed p50':>9s} "
        f"{'spider strict@5':>15s} {'lenient@5':>9s} {'ads @5':>7s} {'ads all@5':>9s} {'retrieve p50':>12s}"
    )
    lines = [head]
    base = None
    for name, times, s in rows:
        figures = (s["spider"]["strict"][5], s["spider"]["lenient"][5], s["ads"]["strict"][5])
        delta = ""
        if base is None:
            base = figures
        else:
            delta = "  (" + " ".join(f"{f - b:+.4f}" for f, b in zip(figures, base)) + " vs first)"
        lines.append(
            f"{name:56s} {times['p50']:>7.2f}ms {figures[0]:>15.4f} {figures[1]:>9.4f} {figures[2]:>7.4f} "
            f"{s['ads']['all'][5]:>9.4f} {s['spider']['p50_ms']:>10.1f}ms{delta}"
        )
    return "\n".join(lines)


def value_effect(index, embedder, config: RetrievalConfig, questions: list[dict], k: int = 5) -> dict:
    """How often matched values help and hurt: each question ranked with and without the value signals.

    ``fixed``: every gold table in the top ``k`` only with values; ``broke``: only without them.
    ``matched``/``gold``: the value-matched tables over all questions, and how many of them were gold.
    """
    plain = HybridRetriever(index, embedder, replace(config, weight_values=0.0, weight_value_docs=0.0))
    full = HybridRetriever(index, embedder, config)
    fixed = broke = matched = gold_matched = 0
    for q in questions:
        with_values, _ = full.rank_tables(q["question"])
        without, _ = plain.rank_tables(q["question"])
        top = lambda fused: {t for t, _ in sorted(fused.items(), key=lambda i: (-i[1], i[0]))[:k]}  # noqa: E731
        a, b = set(q["gold"]) <= top(with_values), set(q["gold"]) <= top(without)
        fixed += a and not b
        broke += b and not a
        tables = {h.table for h in index.matcher.match(q["question"])}
        matched += len(tables)
        gold_matched += len(tables & set(q["gold"]))
    return {"fixed": fixed, "broke": broke, "matched_tables": matched, "gold_matched": gold_matched}


def run_dusql(embedder, config: RetrievalConfig, limit: int | None) -> dict:
    """The Chinese pool: every DuSQL database's tables in one index, their sample rows' values indexed."""
    tables, by_db, values = dusql_tables(SPIDER.parent)
    pool = Catalog(tuple(tables))
    questions = dusql_questions(SPIDER.parent, by_db, limit)
    start = time.perf_counter()
    index = build_index(pool, embedder, notes=(), values=values)
    build_s = time.perf_counter() - start
    _ = index.graph, index.matcher, index.docs_by_table, index.table_doc_ids, index.column_tokens
    fks = sum(len(t.foreign_keys) for t in tables)
    print(
        f"\n== DuSQL pool (Chinese names, no comments): {len(by_db)} databases, {len(tables)} tables, "
        f"{sum(len(t.columns) for t in tables)} columns, {fks} foreign keys, {len(values)} value lists; "
        f"{len(questions)} training-sample questions; build {build_s:.1f} s"
    )
    hybrid, dense = HybridRetriever(index, embedder, config), DenseTableRetriever(index, embedder)
    hybrid.retrieve("warm up")
    summary: dict = {"build_s": build_s, "n": len(questions)}
    for hint in (False, True):
        scopes = by_db if hint else None
        for name, retriever in (("dense", dense), ("hybrid", hybrid)):
            r = evaluate(retriever, questions, scopes, join=name == "hybrid")
            summary[f"{name}{'_hint' if hint else ''}"] = r
            for mode in ("strict", "lenient") if not hint else ("strict",):
                print(_fmt(name, mode, r).replace(f" {mode:<8}", f" {'hint' if hint else mode:<8}", 1))
        sys.stdout.flush()
    effect = value_effect(index, embedder, config, questions)
    summary["values"] = effect
    print(
        f"  values: fixed {effect['fixed']} questions, broke {effect['broke']} (all gold in top 5 with vs "
        f"without the value signals); {effect['matched_tables']} value-matched tables, "
        f"{effect['gold_matched']} of them gold"
    )
    return summary


def make_embedder(spec: str, settings):
    """bench_overhead's embedder choice (``current``, ``onnx-int8``, ``model2vec:...`` or a model), its
    question cache off: every question here is asked several times (dense, hybrid, with and without the
    hint), and latency must be a question's first embedding. The vectors, hence recall, are the same."""
    from bench_overhead import make_embedder as choose

    return choose(spec, settings, query_cache=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies",
        type=int,
        nargs="*",
        default=[1, 12],
        help="pool sizes as copies of Spider: 1 is ~900 tables, 12 is ~10,500",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N Spider dev questions")
    parser.add_argument(
        "--sets",
        nargs="*",
        default=["spider", "dusql"],
        choices=["spider", "dusql"],
        help="spider: the Spider pool with the ads tables and questions (per --copies); dusql: the "
        "Chinese pool of DuSQL's 201 databases",
    )
    parser.add_argument("--dusql-limit", type=int, default=None, help="only the first N DuSQL questions")
    parser.add_argument(
        "--embedder",
        nargs="*",
        default=["current"],
        help="embedders to compare side by side: current (as configured), onnx-int8 (the configured "
        "model on ASKDB_EMBEDDING_RUNTIME=onnx-int8), a sentence-transformers name, or "
        "model2vec:all-MiniLM-L6-v2[@DIMS]",
    )
    args = parser.parse_args()
    from askdb.settings import load_settings

    settings = load_settings()
    embedders = [make_embedder(spec, settings) for spec in args.embedder]
    print(f"cpus: {os.cpu_count()}; load average {os.getloadavg()}")
    sample = [q["question"] for q in ads_questions()] + ["How many singers do we have?"] * 20
    for embedder in embedders:
        embedder.encode(["warm up"])  # as askdb runs it: loads, exports to ONNX or distils once
        print(f"embedder: {embedder.name}: {embedding_runtimes(embedder, sample)}")
    if "dusql" in args.sets:
        for embedder in embedders:
            run_dusql(embedder, RetrievalConfig(budget_tokens=10**6), args.dusql_limit)
    for copies in args.copies if "spider" in args.sets else ():
        rows = []
        for embedder in embedders:
            summary = run(copies, args.limit, embedder, RetrievalConfig(budget_tokens=10**6))
            rows.append((embedder.name, embedding_times(embedder, sample), summary))
        print(f"\n{summary_table(rows, copies)}\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
