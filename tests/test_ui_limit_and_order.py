"""The chat's row-limit setting and its bar chart's order, through the handlers as Gradio calls them
(the scripted fake model; retrieval, guard and runner real over the small demo database)."""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")

from tests.test_ui_wiring import _demo, _fn, _keys_within_outputs

HUNDRED_NOTES = "SELECT `desc`, account FROM ads_summary ORDER BY id LIMIT 100"
TOP_PLATFORMS = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform ORDER BY n ASC"


def _final(ask, config: dict) -> dict:
    updates = list(ask.fn("前100条笔记", [], [], {}, config, None))
    return {block.elem_id or block._id: value for block, value in updates[-1].items()}


def _body(final: dict) -> str:
    return next(m["content"] for m in final["askdb-chat"] if "```sql" in m["content"])


def test_the_row_limit_setting_sets_the_rows_and_the_notice_says_so(demo_retrieval_parts, tmp_path):
    demo, _ = _demo(demo_retrieval_parts, tmp_path, [HUNDRED_NOTES, "- 分析", HUNDRED_NOTES, "- 分析"])
    set_limit = _fn(demo, "set_limit")
    update = set_limit.fn(20, {"backend": "ollama"})
    assert _keys_within_outputs(set_limit, update) == {id(b) for b in set_limit.outputs}
    [config] = update.values()
    assert config == {"backend": "ollama", "limit": 20}
    ask = _fn(demo, "ask")
    body = _body(_final(ask, config))
    assert "LIMIT 20" in body and "只显示了前 20 行(SQL 要求 LIMIT 100)" in body
    assert "结果过多" not in body  # the notice says it once, with how to get more
    [cleared] = set_limit.fn(None, config).values()
    assert "limit" not in cleared
    assert "只显示了前 10 行" in _body(_final(ask, cleared))


def test_a_row_limit_past_max_rows_is_told_in_the_chat(demo_retrieval_parts, tmp_path):
    demo, _ = _demo(demo_retrieval_parts, tmp_path, [HUNDRED_NOTES, "- 分析"])
    chat = _final(_fn(demo, "ask"), {"limit": 5000})["askdb-chat"]
    assert any("❌" in m["content"] and "ASKDB_MAX_ROWS" in m["content"] for m in chat)


def test_the_bar_chart_keeps_the_order_by_order(demo_retrieval_parts, tmp_path):
    demo, _ = _demo(demo_retrieval_parts, tmp_path, [TOP_PLATFORMS, "- 分析"])
    bar = _final(_fn(demo, "ask"), {})["askdb-bar"]
    counts = bar["value"].set_index("platform")["n"]
    assert bar["visible"] and bar["sort"] == list(counts.index)
    assert list(counts) == sorted(counts)  # ORDER BY n ASC, not by the platform's name


def test_apply_keeps_the_row_limit(demo_retrieval_parts, tmp_path):
    demo, settings = _demo(demo_retrieval_parts, tmp_path, [])
    apply = _fn(demo, "apply_settings")
    update = apply.fn(settings.llm_backend, settings.llm_model, settings.database_url, {"limit": 30})
    config = next(v for b, v in update.items() if isinstance(v, dict) and "backend" in v)
    assert config["limit"] == 30
