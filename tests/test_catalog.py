"""The catalog: from the packaged DDL, from a live MariaDB, and its compact DDL rendering."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from askdb.errors import SchemaError
from askdb.schemas.catalog import Catalog, canonical_type, catalog_for_engine, packaged_catalog

# ads_summary as the seed document defines it: (column, type, comment).
SEED_ADS_SUMMARY = [
    ("id", "int", "ads汇总表"),
    ("update_time", "timestamp", "更新时间"),
    ("desc", "varchar(500)", "文本"),
    ("account", "varchar(255)", "用户"),
    ("label", "varchar(255)", "标签"),
    ("star", "varchar(30)", "点赞数量"),
    ("comment", "varchar(30)", "评论数量"),
    ("collection", "varchar(30)", "收藏数量"),
    ("share", "varchar(30)", "分享数量"),
    ("create_time", "timestamp", "数据抓取时间"),
]


def test_ads_summary_is_exactly_the_seed_table():
    table = packaged_catalog().table("ads_summary")
    assert [(c.name, c.type, c.comment) for c in table.columns] == SEED_ADS_SUMMARY
    assert table.comment == "ads 统计数据表"
    assert table.primary_key == ("id",)


def test_packaged_catalog_has_the_six_tables_and_their_join_paths():
    catalog = packaged_catalog()
    assert set(catalog.table_names) == {
        "ads_summary",
        "ads_account",
        "ads_campaign",
        "ads_material",
        "ads_material_hourly",
        "ads_order",
    }
    edges = {(t.name, fk.ref_table) for t in catalog.tables for fk in t.foreign_keys}
    assert edges == {
        ("ads_summary", "ads_account"),  # logical key from relations.json
        ("ads_campaign", "ads_account"),
        ("ads_material", "ads_campaign"),
        ("ads_material_hourly", "ads_material"),
        ("ads_order", "ads_campaign"),
        ("ads_order", "ads_material"),
    }
    assert catalog.table("ads_campaign").column("budget").type == "decimal(12,2)"
    assert catalog.table("ADS_ORDER") is catalog.table("ads_order")


def test_compact_ddl_parses_back_to_the_same_catalog():
    catalog = packaged_catalog()
    rendered = catalog.ddl()
    assert "\n" not in catalog.ddl(["ads_summary"])
    assert "COMMENT '点赞数量'" in rendered and "ENGINE" not in rendered
    assert Catalog.from_ddl(rendered) == catalog


def test_dict_round_trip_and_fingerprint_are_stable():
    catalog = packaged_catalog()
    assert Catalog.from_dict(catalog.to_dict()) == catalog
    assert catalog.fingerprint() == packaged_catalog().fingerprint()
    narrower = Catalog(catalog.tables[:-1])
    assert narrower.fingerprint() != catalog.fingerprint()


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("INTEGER(11)", "int"),
        ("bigint(20)", "bigint"),
        ("NUMERIC(12, 2)", "decimal(12,2)"),
        ("VARCHAR(30)", "varchar(30)"),
        ("timestamp", "timestamp"),
        ("tinyint(4)", "tinyint"),
    ],
)
def test_type_spellings_from_ddl_and_reflection_agree(spelling, canonical):
    assert canonical_type(spelling) == canonical


def test_malformed_ddl_names_the_file_and_line(tmp_path):
    bad = tmp_path / "broken.sql"
    bad.write_text("CREATE TABLE ok (id int);\nCREATE TABLE broken (id int, name varchar(3);\n")
    with pytest.raises(SchemaError) as info:
        Catalog.from_ddl_file(bad)
    assert "broken.sql" in info.value.message and "line 2" in info.value.message
    assert info.value.hint


def test_ddl_with_other_statements_is_refused():
    with pytest.raises(SchemaError, match="not CREATE TABLE"):
        Catalog.from_ddl("CREATE TABLE a (id int); DROP TABLE a;")


def test_missing_ddl_file_is_a_schema_error(tmp_path):
    with pytest.raises(SchemaError, match="cannot read DDL file"):
        Catalog.from_ddl_file(tmp_path / "nope.sql")


@pytest.mark.mariadb
def test_catalog_from_live_mariadb_equals_catalog_from_ddl(small_demo):
    _, url = small_demo
    engine = create_engine(url)
    try:
        assert catalog_for_engine(engine) == packaged_catalog()
        # Without the packaged overlay, reflection alone differs only by the logical key.
        reflected = Catalog.from_database(engine)
        assert (
            reflected.with_relations(
                [
                    {
                        "table": "ads_summary",
                        "columns": ["account"],
                        "ref_table": "ads_account",
                        "ref_columns": ["account"],
                    }
                ]
            )
            == packaged_catalog()
        )
    finally:
        engine.dispose()


def test_catalog_from_the_embedded_demo_database(small_demo):
    path, _ = small_demo
    engine = create_engine(f"sqlite:///{path}")
    try:
        assert catalog_for_engine(engine) == packaged_catalog()
    finally:
        engine.dispose()


def test_compact_schema_marks_keys_quotes_reserved_words_and_lists_brief_columns_by_name() -> None:
    from askdb.schemas.catalog import compact_schema

    table = packaged_catalog().table("ads_summary")
    text = compact_schema(table, values={"label": ["美妆", "探店"]}, brief=["share", "update_time", "id"])
    lines = text.splitlines()
    assert lines[0] == "# ads_summary: ads 统计数据表"
    assert "id int 主键 ads汇总表" in lines  # a key is never cut to its name
    assert "`desc` varchar 文本" in lines  # DESC is reserved in MySQL: shown as the SQL must write it
    assert "account varchar -> ads_account.account 用户" in lines
    assert "label varchar 标签 例:'美妆'、'探店'" in lines
    assert lines[-1] == "其他字段: update_time, share"
    assert not any(line.startswith(("share ", "update_time ")) for line in lines)
