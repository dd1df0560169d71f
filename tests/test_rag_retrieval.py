"""Retrieval over the ads schema: Chinese questions reach the right tables, values find their columns,
examples are added without a rebuild, and damaged or stale index files are rebuilt, not crashed on."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model must never reach for the hub

from askdb.rag.documents import ColumnValues
from askdb.rag.retriever import HybridRetriever, RetrievalConfig
from askdb.rag.store import IndexStore
from askdb.rag.text import estimate_tokens
from askdb.rag.values import sample_values
from askdb.schemas.catalog import packaged_catalog
from askdb.schemas.knowledge import Example, packaged_examples, packaged_notes


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from askdb.schemas.load import build_sqlite

    return build_sqlite(tmp_path_factory.mktemp("rag-demo") / "ads.db", scale=0.01)


@pytest.fixture(scope="session")
def ads_values(demo_sqlite: Path) -> tuple[ColumnValues, ...]:
    from askdb.db import make_engine

    engine = make_engine(f"sqlite:///{demo_sqlite}", read_only=True)
    try:
        return sample_values(engine, packaged_catalog())
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def ads_store(tmp_path_factory: pytest.TempPathFactory) -> IndexStore:
    return IndexStore(tmp_path_factory.mktemp("rag-index"))


@pytest.fixture(scope="session")
def retriever(ads_store: IndexStore, embedder, ads_values) -> HybridRetriever:
    index, built = ads_store.load_or_build(
        packaged_catalog(),
        embedder,
        notes=packaged_notes(),
        examples=packaged_examples(),
        values=lambda: ads_values,
    )
    assert built
    return HybridRetriever(index, embedder)


def _open(store: IndexStore, embedder, values=()):
    return store.load_or_build(
        packaged_catalog(),
        embedder,
        notes=packaged_notes(),
        examples=packaged_examples(),
        values=lambda: tuple(values),
    )


# -- tables ---------------------------------------------------------------------------------------


def test_most_liked_notes_land_on_ads_summary_first(retriever: HybridRetriever) -> None:
    result = retriever.retrieve("点赞最多的笔记", k=3)
    assert result.tables[0].name == "ads_summary"
    assert any(n.name == "engagement_counts" for n in result.notes)  # the '1.2万' note comes along


def test_roi_by_brand_brings_orders_campaigns_and_the_cost_path(retriever: HybridRetriever) -> None:
    result = retriever.retrieve("各品牌的ROI", k=3)
    names = set(result.table_names)
    assert {"ads_order", "ads_campaign", "ads_material_hourly", "ads_material"} <= names
    ranked = [t.name for t in result.tables if t.via == "rank"]
    assert len(ranked) == 3  # ads_material came by the key path or by rank, never past k by rank


def test_join_path_adds_the_table_between_two_chosen_ones(retriever: HybridRetriever) -> None:
    from askdb.rag.retriever import TableHit

    added = retriever._join_tables([TableHit("ads_material_hourly", 1.0), TableHit("ads_campaign", 0.5)])
    assert [(t.name, t.via) for t in added] == [("ads_material", "join")]


@pytest.mark.parametrize(
    ("template", "table", "column"),
    [
        ("{}博主有多少个", "ads_account", "category"),
        ("{}的达人粉丝量排名", "ads_account", "city"),
        ("{}的投放预算", "ads_campaign", "brand"),
        ("{}的计划", "ads_campaign", "status"),
    ],
)
def test_a_value_in_the_question_finds_its_column(retriever, ads_values, template, table, column) -> None:
    # The value comes from the database, as at run time: which brands exist depends on the data.
    value = next(v for v in ads_values if (v.table, v.column) == (table, column)).values[0]
    result = retriever.retrieve(template.format(value), k=3)
    assert any((v.table, v.column, v.value) == (table, column, value) for v in result.values)
    assert table in result.table_names
    assert any((c.table, c.name) == (table, column) for c in result.columns)


def test_an_account_value_finds_the_account_columns(retriever: HybridRetriever, ads_values) -> None:
    account = next(v for v in ads_values if (v.table, v.column) == ("ads_account", "account")).values[0]
    result = retriever.retrieve(f"{account} 发过哪些笔记", k=3)
    assert {(v.table, v.column) for v in result.values} >= {("ads_account", "account")}


def test_budget_keeps_the_first_table_and_names_what_it_dropped(retriever: HybridRetriever) -> None:
    from dataclasses import replace

    tight = HybridRetriever(retriever.index, retriever.embedder, replace(retriever.config, budget_tokens=150))
    result = tight.retrieve("各品牌的ROI", k=4)
    assert len(result.tables) >= 1 and result.dropped
    assert all(d["tokens"] > 0 for d in result.dropped)
    assert result.tokens <= 150 or len(result.tables) == 1


def test_result_serialises_to_the_documented_shape(retriever: HybridRetriever) -> None:
    data = json.loads(json.dumps(retriever.retrieve("各平台的达人数量", k=2).to_dict(), ensure_ascii=False))
    assert {"tables", "columns", "notes", "examples", "values"} <= set(data)
    assert all(isinstance(t["name"], str) and isinstance(t["score"], float) for t in data["tables"])


def test_scope_restricts_candidates(retriever: HybridRetriever) -> None:
    result = retriever.retrieve("点赞最多的笔记", k=3, scope={"ads_account", "ads_campaign"})
    assert set(result.table_names) <= {"ads_account", "ads_campaign"}


# -- persistence ----------------------------------------------------------------------------------


def test_second_open_loads_instead_of_rebuilding(tmp_path: Path, embedder) -> None:
    store = IndexStore(tmp_path / "index")
    assert _open(store, embedder)[1] is True
    index, built = _open(store, embedder)
    assert built is False and len(index.schema) > 0


def test_an_added_example_is_retrieved_without_a_rebuild(tmp_path: Path, embedder) -> None:
    store = IndexStore(tmp_path / "index")
    _open(store, embedder)
    folder = store.folder(packaged_catalog(), embedder.name)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "example_vectors.npz"}
    question = "种草转化漏斗里退款拖后腿的素材"
    sql = (
        "SELECT m.title, AVG(o.is_refunded) AS refund_rate FROM ads_order o "
        "JOIN ads_material m ON m.material_id = o.material_id GROUP BY m.title ORDER BY refund_rate DESC"
    )
    store.add_example(Example.create(question, sql))
    index, built = _open(store, embedder)
    assert built is False
    assert stamps == {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name in stamps}
    result = HybridRetriever(index, embedder).retrieve(question, k=3)
    assert result.examples and result.examples[0].question == question
    assert {"ads_order", "ads_material"} <= set(result.table_names)


@pytest.mark.parametrize("damage", ["truncate-faiss", "garbage-docs", "manifest-not-json", "delete-bm25"])
def test_a_damaged_index_is_rebuilt_not_crashed_on(tmp_path: Path, embedder, damage: str) -> None:
    store = IndexStore(tmp_path / "index")
    _open(store, embedder)
    folder = store.folder(packaged_catalog(), embedder.name)
    if damage == "truncate-faiss":
        data = (folder / "dense.faiss").read_bytes()
        (folder / "dense.faiss").write_bytes(data[: len(data) // 3])
    elif damage == "garbage-docs":
        (folder / "docs.json").write_text('[{"id": ', encoding="utf-8")
    elif damage == "manifest-not-json":
        (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    else:
        (folder / "bm25.npz").unlink()
    index, built = _open(store, embedder)
    assert built is True
    assert HybridRetriever(index, embedder).retrieve("点赞最多的笔记", k=1).tables[0].name == "ads_summary"
    assert _open(store, embedder)[1] is False  # and the rebuilt one is whole again


def test_content_that_matches_its_checksum_but_not_the_format_is_rebuilt(tmp_path: Path, embedder) -> None:
    import hashlib

    store = IndexStore(tmp_path / "index")
    _open(store, embedder)
    folder = store.folder(packaged_catalog(), embedder.name)
    bad = b"not an npz file"
    (folder / "bm25.npz").write_bytes(bad)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["bm25.npz"] = hashlib.sha256(bad).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert _open(store, embedder)[1] is True


@pytest.mark.parametrize("field", ["format", "notes"])
def test_a_stale_index_is_rebuilt(tmp_path: Path, embedder, field: str) -> None:
    store = IndexStore(tmp_path / "index")
    _open(store, embedder)
    path = store.folder(packaged_catalog(), embedder.name) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = "something older"
    path.write_text(json.dumps(manifest))
    assert _open(store, embedder)[1] is True


def test_changed_values_rebuild_only_when_asked_to_recheck(tmp_path: Path, embedder) -> None:
    store = IndexStore(tmp_path / "index")
    catalog = packaged_catalog()
    first = (ColumnValues("ads_account", "city", ("上海",)),)
    store.load_or_build(catalog, embedder, values=lambda: first)
    second = (ColumnValues("ads_account", "city", ("上海", "拉萨")),)
    assert store.load_or_build(catalog, embedder, values=lambda: second)[1] is False  # retrieve: no recheck
    index, built = store.load_or_build(
        catalog, embedder, values=lambda: second, rebuild=True
    )  # `askdb index`
    assert built is True and index.matcher.match("拉萨的博主")
    assert store.load_or_build(catalog, embedder, values=lambda: second, rebuild=True)[1] is False


def test_a_different_catalog_gets_its_own_index(tmp_path: Path, embedder) -> None:
    from askdb.schemas.catalog import Catalog

    store = IndexStore(tmp_path / "index")
    full = packaged_catalog()
    small = Catalog(full.tables[:2])
    assert store.folder(full, embedder.name) != store.folder(small, embedder.name)
    assert store.load_or_build(small, embedder)[1] is True
    assert store.load_or_build(full, embedder)[1] is True


@pytest.mark.parametrize("text", ["点赞最多的笔记", "How many singers are there?", "各品牌的ROI " * 80])
def test_single_query_fast_path_matches_sentence_transformers(embedder, text: str) -> None:
    model = embedder._load()
    expected = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    fast = embedder.encode([text])
    assert fast.shape == expected.shape == (1, 384)
    assert np.allclose(fast, expected, atol=1e-5)


def test_examples_and_notes_count_only_when_close_to_the_question(tmp_path: Path, embedder) -> None:
    """An English question about cars must not be handed ads examples and notes because they rank first."""
    from askdb.rag.store import _examples_collection, build_index
    from askdb.schemas.catalog import Catalog, Column, Table

    cars = Table(
        "car_makers",
        (
            Column("id", "int"),
            Column("maker", "text", "maker name"),
            Column("country", "text", "country of the maker"),
        ),
        "car makers",
    )
    pool = Catalog((cars, *packaged_catalog().tables))
    index = build_index(pool, embedder, notes=packaged_notes())
    index.examples = _examples_collection(packaged_examples(), pool, embedder, {})
    retriever = HybridRetriever(index, embedder)
    fused, hits = retriever.rank_tables("Which car makers come from Germany?")
    assert hits["examples"] == [] and hits["notes"] == []
    assert max(fused, key=fused.get) == "car_makers"
    example = packaged_examples()[0]
    _, close = retriever.rank_tables(example.question)
    assert close["examples"], "a verified example's own question still finds it"
    assert index.examples.docs[close["examples"][0][0]].meta["question"] == example.question


def test_tables_far_below_the_best_are_left_out_and_named(retriever: HybridRetriever) -> None:
    result = retriever.retrieve("抖音上有多少个达人?", k=6)
    fused, _ = retriever.rank_tables("抖音上有多少个达人?")
    best = max(fused.values())
    floor = retriever.config.relative_floor * best
    left_out = {d["name"] for d in result.dropped if d["kind"] == "table"}
    assert left_out == {t for t, s in fused.items() if s < floor}
    assert left_out and not left_out & set(result.table_names)
    assert result.table_names[0] == "ads_account"


def test_the_compact_form_is_the_context_and_join_tables_show_keys_in_full(
    retriever: HybridRetriever,
) -> None:
    result = retriever.retrieve("每个达人的订单总金额是多少?")
    assert result.context.startswith("# ")
    assert "CREATE TABLE" not in result.context
    for hit in result.tables:
        if hit.via == "join":
            table = retriever.index.tables_by_lower[hit.name]
            keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
            assert keys <= set(hit.columns) - set(hit.brief)
    as_ddl = HybridRetriever(
        retriever.index, retriever.embedder, replace(retriever.config, schema_format="ddl")
    )
    ddl = as_ddl.retrieve("每个达人的订单总金额是多少?")
    assert ddl.table_names == result.table_names and "CREATE TABLE" in ddl.context
    assert estimate_tokens(result.context) < estimate_tokens(ddl.context)


def test_a_note_comes_only_when_it_explains_a_word_the_schema_does_not(retriever: HybridRetriever) -> None:
    # GMV is in the orders note and in no column comment; 城市 and 达人 are in ads_account's own comments
    assert "orders" in {n.name for n in retriever.retrieve("每个品牌的GMV是多少").notes}
    assert retriever.retrieve("各个城市的达人数量").notes == []


def test_a_note_that_explains_the_question_brings_its_tables(retriever: HybridRetriever) -> None:
    # 投产比 is defined by the ROI note: SUM(ads_order.amount) / SUM(ads_material_hourly.cost)
    result = retriever.retrieve("按投放平台算投产比")
    assert "roi_and_cost" in {n.name for n in result.notes}
    assert {"ads_order", "ads_material_hourly"} <= set(result.table_names)


def test_the_tables_of_a_note_that_explains_the_question_rank_above_the_rest(
    retriever: HybridRetriever,
) -> None:
    # 回报率 is a word of the ROI note only; the note is about ads_order, ads_material_hourly (消耗) and
    # the tables between them. ads_summary, which the note does not name, ranked above
    # ads_material_hourly before the note counted in the ranking.
    question = "哪个平台的广告回报率最高"
    note_tables = {"ads_order", "ads_material_hourly"}
    for weight, expected in ((0.0, False), (RetrievalConfig().weight_note_tables, True)):
        ranking = HybridRetriever(
            retriever.index, retriever.embedder, RetrievalConfig(weight_note_tables=weight)
        )
        fused, _ = ranking.rank_tables(question)
        assert (min(fused[t] for t in note_tables) > fused["ads_summary"]) is expected, weight


def test_context_shows_tables_in_the_catalogs_order_and_reports_them_by_rank(
    retriever: HybridRetriever,
) -> None:
    result = retriever.retrieve("各品牌的ROI")
    headers = [s.name for s in result.sections if s.kind == "table"]
    catalog_order = [t for t in packaged_catalog().table_names if t in headers]
    assert headers == catalog_order and len(headers) >= 3
    ranks = {s.name: s.rank for s in result.sections if s.kind == "table"}
    assert sorted(headers, key=ranks.get) == [t.name for t in result.tables if t.name in ranks]
