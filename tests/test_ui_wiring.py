"""The chat's handlers name what they update: every key a wired handler returns or yields is a
component its event lists as an output, and together they cover that list. The model is the
in-process scripted fake; retrieval, guard and runner are real, over the small demo database.
No server is launched: the handlers are called the way Gradio calls them.
"""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")

from askdb.assistant import Assistant
from askdb.errors import LLMError
from askdb.events import (
    ExampleOutput,
    GuardOutput,
    RetrieveOutput,
    RunOutput,
    Step,
    StepName,
    TableHit,
)
from askdb.rag.retriever import HybridRetriever
from askdb.runtime.service import AssistantService
from askdb.settings import Settings
from askdb.testing.scripted import ScriptedFakeLLM

SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"
ANALYSIS = "小红书的达人最多"


def _demo(parts: dict, tmp_path, replies: list):
    from askdb.ui.app import build_app

    parts = dict(parts)
    original = parts["retriever"]
    parts["retriever"] = HybridRetriever(original.index, original.embedder)
    # Nothing listens on port 9: the model check answers at once, with the banner.
    settings = Settings(home=tmp_path / "home", llm_model="scripted-fake", ollama_host="http://127.0.0.1:9")
    llm = ScriptedFakeLLM(replies)
    service = AssistantService(settings, assistant=Assistant(llm=llm, **parts))
    return build_app(settings, service=service), settings


def _fn(demo, name: str):
    """The event's BlockFunction, by its API name or by its handler's name."""
    return next(f for f in demo.fns.values() if name in (f.api_name, f.name))


def _keys_within_outputs(block_fn, update: dict) -> set[int]:
    outputs = {id(block) for block in block_fn.outputs}
    assert isinstance(update, dict), f"{block_fn.name} returned {type(update).__name__}, not a dict"
    stray = [block for block in update if id(block) not in outputs]
    assert not stray, f"{block_fn.name} updates components its event does not list: {stray}"
    return {id(block) for block in update}


def test_ask_yields_only_its_outputs_and_banners_a_failed_analysis(demo_retrieval_parts, tmp_path):
    """The analyst's failure is told by its NoticeReason, not by the notice's words: a banner."""
    replies = [f"```sql\n{SQL}\n```", LLMError("analyst down", hint="start it")]
    demo, _ = _demo(demo_retrieval_parts, tmp_path, replies)
    ask = _fn(demo, "ask")
    updates = list(ask.fn("各平台的达人数量", [], [], {}, {}, None))
    assert len(updates) > 2
    seen = set().union(*(_keys_within_outputs(ask, u) for u in updates))
    assert seen == {id(block) for block in ask.outputs}  # every output is written by some update
    final = {block.elem_id or block._id: value for block, value in updates[-1].items()}
    banner = final["askdb-banner"]
    assert banner["visible"] and "分析未生成" in banner["value"]
    body = next(m["content"] for m in final["askdb-chat"] if "```sql" in m["content"])
    assert SQL in body and "> ⚠️ 分析未生成" in body


def test_ask_without_a_notice_leaves_the_banner(demo_retrieval_parts, tmp_path):
    from askdb.ui.app import ChatView

    demo, _ = _demo(demo_retrieval_parts, tmp_path, [f"```sql\n{SQL}\n```", f"- {ANALYSIS}"])
    ask = _fn(demo, "ask")
    banner = ask.outputs[ChatView._fields.index("banner")]
    assert [b.elem_id for b in ask.outputs][:1] == ["askdb-chat"]
    updates = list(ask.fn("各平台的达人数量", [], [], {}, {}, None))
    for update in updates:
        _keys_within_outputs(ask, update)
        assert banner not in update
    assert ANALYSIS in "".join(m["content"] for m in updates[-1][ask.outputs[0]])
    assert not list(ask.fn("  ", [], [], {}, {}, None))[-1].get(banner)  # nothing asked


def test_other_handlers_return_exactly_their_outputs(demo_retrieval_parts, tmp_path):
    demo, settings = _demo(demo_retrieval_parts, tmp_path, [])
    run_sql = _fn(demo, "run_sql")
    for sql in (SQL, "DELETE FROM ads_order"):
        assert _keys_within_outputs(run_sql, run_sql.fn(sql, {}, None)) == {id(b) for b in run_sql.outputs}
    clear = _fn(demo, "clear_chat")
    assert _keys_within_outputs(clear, clear.fn()) == {id(b) for b in clear.outputs}
    apply = _fn(demo, "apply_settings")
    update = apply.fn(settings.llm_backend, settings.llm_model, settings.database_url, {})
    assert _keys_within_outputs(apply, update) == {id(b) for b in apply.outputs}


def test_trace_reads_the_typed_step_outputs():
    from askdb.ui.app import trace_markdown

    steps = [
        Step(
            StepName.RETRIEVE,
            output=RetrieveOutput(
                tables=[TableHit("ads_account", 0.91234, "vector"), TableHit("ads_kol", 0.5, "join")],
                values=["ads_account.platform=小红书"],
                examples=["各平台的达人数量"],
                notes=["ROI"],
                tokens=120,
            ),
        ),
        Step(StepName.EXAMPLE, output=ExampleOutput(SQL)),
        Step(StepName.GUARD, output=GuardOutput(False, SQL, [{"rule": "r", "message": "a|b"}])),
        Step(StepName.GUARD, output=GuardOutput(True, SQL, [])),
        Step(StepName.RUN, output=RunOutput(3, False)),
        Step(StepName.RUN, error="no such column"),
    ]
    text = trace_markdown(steps)
    assert "| example | 0.0 |  | 复用已验证示例 |" in text
    assert "| guard | 0.0 |  | 未通过: a\\|b |" in text and "| guard | 0.0 |  | 通过 |" in text
    assert "| run | 0.0 |  | 3 行 |" in text and "| run | 0.0 |  | ✗ no such column |" in text
    assert "**检索到的表:** `ads_account` (0.912), `ads_kol` (0.500, join)" in text
    assert "**匹配的字段值:** `ads_account.platform=小红书`" in text
    assert "**参考示例:** 各平台的达人数量" in text and "**业务说明:** ROI" in text
